"""`--auto --batch`: the REL loop with each round of LLM calls sent as provider batches.

A round is every workable problem's next step, decided by the same pure planner as the direct
loop (`planner.plan_next`): answer checks run locally at once, and the steps that need the LLM
(generations, critiques, revisions, final rewrites, clean-ups) are grouped by model and split at
the provider's limits into batches. When a batch ends its results are matched by custom_id and
committed exactly as the direct engine commits a completion (`LoopEngine.commit_generated` /
`commit_critic`); the next round follows. A batch run therefore ends every problem in the state a
direct run gives.

Crash safety: a batch and each of its requests (custom_id -> problem, step, attempt) are written
to SQLite before the batch is submitted, and its problems' claims pass to the batch itself: owner
`batch:<id>`, a lease longer than the provider's 24 h window, no pid (so no runner takes them over
as a dead process's). Direct runners and review sessions therefore see them as held, by
"batch openai:gpt-4o-mini #3", until the batch is collected. A run killed at any moment leaves
batches `submitting` (the provider may have them: looked up by file id or by time and size, and
adopted, else marked not sent) or `submitted` (polled and collected): no request in a live batch
is ever sent twice. An errored request errors its problem with the provider's message; an
expired or cancelled one is sent again in the next round. Calls are metered in llm_calls at the
batch price (pricing.price_for with batch=True).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import problem_marks
from .claims import ClaimHolder, holder_is_dead, this_host
from .config import Settings
from .loop import LeaseLost, LoopEngine, StepCall
from .models import LLMCall, ProblemHistory, ProblemState, require_id, utcnow
from .planner import LOOP_STATES, NextStep, Step, needs_llm_critic, plan_next
from .providers.base import (
    Completion,
    ErrorKind,
    ProviderError,
    estimate_tokens,
    one_line,
    require_answer,
    split_spec,
)
from .providers.batches import BatchClient, BatchItem, BatchResult, batch_client_for
from .providers.pricing import cost_usd, is_hosted_url
from .runner import RunObserver, RunStats, StopReason
from .store import Store, expires_in

if TYPE_CHECKING:
    from .providers.client import LLMClient

log = logging.getLogger(__name__)

# A batch holds its problems' claims longer than the providers' 24 h completion window.
BATCH_LEASE_SECONDS = 25 * 3600
# How long the planner holds a problem while it decides its next step and records it in a batch.
PLANNER_LEASE_SECONDS = 600.0
# A batch left `submitting` this long ago by a run that died is looked up at the provider.
SUBMITTING_GRACE_SECONDS = 30.0
LOCAL_STEP_CONCURRENCY = 8  # answer checks run in math-verify's worker processes
OPEN_STATES = ("submitting", "submitted")


class BatchStopReason:
    SUBMITTED = "batches submitted (--no-wait)"
    REFUSED = "a batch was refused"


@dataclass(frozen=True)
class BatchView:
    """One open batch, as the progress display and `status` show it."""

    id: int
    model: str
    provider_batch_id: str | None
    state: str
    provider_status: str | None
    requests: int
    done: int
    created_at: str

    @property
    def label(self) -> str:
        return f"#{self.id} {self.model}"


@dataclass
class BatchRunStats(RunStats):
    submitted_batches: int = 0
    submitted_requests: int = 0
    collected_batches: int = 0
    batches: list[BatchView] = field(default_factory=list)


class BatchObserver(RunObserver):
    def on_batches(self, batches: list[BatchView], stats: BatchRunStats) -> None:
        """After every poll: the batches still open."""

    def on_line(self, line: str) -> None:
        """One line worth saying (a batch refused, a result that came too late)."""


BATCH_OWNER_PREFIX = "batch:"


def batch_owner(batch_id: int) -> str:
    return f"{BATCH_OWNER_PREFIX}{batch_id}"


def new_custom_id(problem_id: int, step: Step, attempt_id: int | None) -> str:
    """Unique, and within both providers' custom_id rules (^[A-Za-z0-9_-]{1,64}$)."""
    return f"p{problem_id}-{step.value}-a{attempt_id or 0}-{uuid.uuid4().hex[:10]}"


# -- the ledger: batches and their requests in SQLite ------------------------------------------------


class BatchLedger:
    """The batches and batch_requests tables (migration m008), and the claims a batch holds."""

    def __init__(self, store: Store):
        self.store = store
        self.conn = store.conn

    def record(
        self, spec: str, provider: str, base_url: str, calls: list[tuple[str, StepCall]], planner: str
    ) -> tuple[int, list[tuple[str, StepCall]]]:
        """Write a batch and its requests, and pass their problems' claims from the planner to the batch,
        in one transaction; returns the batch id and the calls kept (a problem whose claim was lost is left out)."""
        now = utcnow()
        with self.store.transaction():
            batch_id = self.store.insert(
                "batches",
                {
                    "provider": provider,
                    "model": spec,
                    "base_url": base_url,
                    "state": "submitting",
                    "request_count": 0,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            owner = batch_owner(batch_id)
            kept = []
            for custom_id, call in calls:
                problem_id = call.request.problem_id
                moved = self.conn.execute(
                    "update problems set claimed_by = ?, claim_expires = ?, claim_label = ?, claim_host = null, "
                    "claim_pid = null, claim_started = null, state = ?, updated_at = ? where id = ? and claimed_by = ?",
                    [
                        owner,
                        expires_in(BATCH_LEASE_SECONDS),
                        f"batch {spec} #{batch_id}",
                        str(ProblemState.IN_PROGRESS),
                        now,
                        problem_id,
                        planner,
                    ],
                ).rowcount
                if not moved:
                    continue
                self.store.insert(
                    "batch_requests",
                    {
                        "batch_id": batch_id,
                        "custom_id": custom_id,
                        "problem_id": problem_id,
                        "step": call.step.value,
                        "attempt_id": call.parent.id if call.parent else None,
                        "iteration": call.iteration,
                        "purpose": call.request.purpose,
                        "state": "live",
                        "updated_at": now,
                    },
                )
                kept.append((custom_id, call))
            self.conn.execute("update batches set request_count = ? where id = ?", [len(kept), batch_id])
        return batch_id, kept

    def set_file(self, batch_id: int, file_id: str) -> None:
        self._update(batch_id, input_file_id=file_id)

    def submitted(self, batch_id: int, provider_batch_id: str, provider_status: str | None = None) -> None:
        self._update(
            batch_id,
            state="submitted",
            provider_batch_id=provider_batch_id,
            provider_status=provider_status,
            submitted_at=utcnow(),
        )

    def status(self, batch_id: int, status: str, counts: dict[str, int]) -> None:
        self._update(batch_id, provider_status=status, counts=json.dumps(counts))

    def close(self, batch_id: int, state: str, error: str | None = None) -> int:
        """End a batch (collected, not_sent, failed): live requests left in it are closed too and their
        problems' claims released; returns how many were."""
        with self.store.transaction():
            self._update(batch_id, state=state, error=error)
            self.conn.execute(
                "update problems set claimed_by = null, claim_expires = null where claimed_by = ?", [batch_owner(batch_id)]
            )
            return self.conn.execute(
                "update batch_requests set state = ?, error = ?, updated_at = ? where batch_id = ? and state = 'live'",
                ["not_sent" if state == "not_sent" else state, error, utcnow(), batch_id],
            ).rowcount

    def open_batches(self) -> list[dict[str, Any]]:
        return self.store.rows(f"select * from batches where state in {_marks(OPEN_STATES)} order by id", OPEN_STATES)

    def known_provider_ids(self) -> set[str]:
        return {r[0] for r in self.conn.execute("select provider_batch_id from batches where provider_batch_id is not null")}

    def live_requests(self, batch_id: int) -> list[dict[str, Any]]:
        return self.store.rows("select * from batch_requests where batch_id = ? and state = 'live' order by id", [batch_id])

    def live_problems(self) -> list[int]:
        """The problems with a request in a batch in flight, in id order."""
        rows = self.conn.execute(
            "select distinct problem_id from batch_requests where state = 'live' and batch_id in "
            f"(select id from batches where state in {_marks(OPEN_STATES)}) order by problem_id",
            OPEN_STATES,
        )
        return [int(row[0]) for row in rows]

    def in_queue(self, problem_ids: list[int], states: list[ProblemState]) -> list[int]:
        """Those of `problem_ids` still in `states` and not marked broken (the claim queries' test)."""
        kept = []
        for start in range(0, len(problem_ids), 500):  # within SQLite's limit on bound variables
            chunk = problem_ids[start : start + 500]
            kept += [
                int(row[0])
                for row in self.conn.execute(
                    f"select id from problems where id in {_marks(chunk)} and state in {_marks(states)} "
                    f"and not {problem_marks.live_sql('problems')} order by id",
                    [*chunk, *(str(state) for state in states)],
                )
            ]
        return kept

    def take_back(self, problem_id: int, batch_id: int, planner: ClaimHolder) -> bool:
        """The problem's claim, from the batch back to the planner (to commit a result)."""
        return self.store.hand_over_claim(problem_id, batch_owner(batch_id), planner, PLANNER_LEASE_SECONDS)

    def settle(self, request_id: int, state: str, llm_call_id: int | None = None, error: str | None = None) -> None:
        self.conn.execute(
            "update batch_requests set state = ?, llm_call_id = ?, error = ?, updated_at = ? where id = ?",
            [state, llm_call_id, error, utcnow(), request_id],
        )

    def views(self) -> list[BatchView]:
        return [_view(row) for row in self.open_batches()]

    def _update(self, batch_id: int, **values: Any) -> None:
        values["updated_at"] = utcnow()
        sets = ", ".join(f"{name} = ?" for name in values)
        with self.store.transaction():
            self.conn.execute(f"update batches set {sets} where id = ?", [*values.values(), batch_id])


def open_batch_views(store: Store) -> list[BatchView]:
    """The batches in flight (for `rel-tui status`); none on a database from before batches."""
    if "batches" not in store.db.table_names():
        return []
    return BatchLedger(store).views()


@dataclass(frozen=True)
class InProgress:
    """The in_progress problems by what holds them (for `rel-tui status`): `waiting` ones have no live
    holder (their run was interrupted or killed) and the next `--auto` run resumes them."""

    worked_now: int = 0
    in_batches: int = 0
    waiting: int = 0


def in_progress_by_holder(store: Store) -> InProgress:
    """Reads only: a dead holder's claim counts as waiting without being freed (the next run frees it)."""
    rows = store.conn.execute(
        "select claimed_by, max(claim_expires) >= ?, claim_host, claim_pid, claim_started, count(*) from problems "
        "where state = ? group by claimed_by, claim_host, claim_pid, claim_started",
        [utcnow(), str(ProblemState.IN_PROGRESS)],
    ).fetchall()
    counts = Counter[str]()
    host = this_host()
    for owner, live, claim_host, pid, started, count in rows:
        if owner is None or not live or (claim_host == host and pid is not None and holder_is_dead(pid, started)):
            counts["waiting"] += count
        elif owner.startswith(BATCH_OWNER_PREFIX):
            counts["in_batches"] += count
        else:
            counts["worked_now"] += count
    return InProgress(**counts)


def _view(row: dict[str, Any]) -> BatchView:
    counts = json.loads(row["counts"] or "{}")
    done = sum(v for k, v in counts.items() if k not in ("total", "processing"))
    if "total" in counts:  # OpenAI counts: total, completed, failed
        done = counts.get("completed", 0) + counts.get("failed", 0)
    return BatchView(
        row["id"],
        row["model"],
        row["provider_batch_id"],
        row["state"],
        row["provider_status"],
        row["request_count"] or 0,
        done,
        row["created_at"],
    )


def _marks(values: Iterable[object]) -> str:
    return "(" + ", ".join("?" for _ in values) + ")"


# -- the driver ----------------------------------------------------------------------------------


class BatchRunner:
    """Plans rounds, submits them as batches, polls, collects, and plans again until nothing is left."""

    def __init__(
        self,
        store: Store,
        client: LLMClient,
        engine: LoopEngine,
        settings: Settings,
        *,
        wait: bool = True,
        poll_seconds: float = 30.0,
        limit: int | None = None,
        retry_errored: bool = False,
        observer: BatchObserver | None = None,
    ):
        self.store = store
        self.client = client
        self.engine = engine
        self.settings = settings
        self.ledger = BatchLedger(store)
        self.wait = wait
        self.poll_seconds = poll_seconds
        self.limit = limit
        self.retry_errored = retry_errored
        self.observer = observer or BatchObserver()
        self.planner = ClaimHolder.this_process("batch")
        engine.lease_owner = self.planner.owner  # every commit checks the planner still holds the problem
        self.stats = BatchRunStats()
        self._clients: dict[str, BatchClient] = {}
        self._taken: set[int] = set()  # problems this run works, round after round (--limit counts these)
        self._left_loop: set[int] = set()  # those of them that left the loop (ended here, or by someone else)
        self._stop = asyncio.Event()

    # -- running ---------------------------------------------------------------------------------

    async def check_batch_api(self) -> None:
        """One call per provider in use: a server without a batch API is a config error (exit 2)."""
        for spec in dict.fromkeys([self.settings.generator, self.settings.critic]):
            await self._client(spec).probe()

    async def run(self) -> BatchRunStats:
        if self.retry_errored:
            self.store.requeue_errored()
        self.store.reclaim_dead_local()
        self.stats.total = self.store.count_claimable([ProblemState.PENDING, ProblemState.IN_PROGRESS])
        self.stats.total += sum(b["request_count"] or 0 for b in self.ledger.open_batches())
        if self.limit is not None:
            self.stats.total = min(self.stats.total, self.limit)
            self._taken.update(self.ledger.live_problems()[: self.limit])  # a --no-wait run's problems come first
        self.observer.on_start(self.stats)
        try:
            await self._rounds()
        finally:
            self.store.release_all(self.planner)
            self._sync_usage()
            self.stats.batches = self.ledger.views()
        self.observer.on_finish(self.stats)
        return self.stats

    def stop(self, reason: str, detail: str | None = None) -> None:
        if self.stats.stop_reason is None:
            self.stats.stop_reason, self.stats.stop_detail = reason, detail
        self._stop.set()

    async def _rounds(self) -> None:
        while not self._stop.is_set():
            await self._collect_all()
            if self._stop.is_set():
                return
            await self._submit_round()
            self.stats.batches = self.ledger.views()
            self._sync_usage()
            self.observer.on_batches(self.stats.batches, self.stats)
            if not self.stats.batches:
                limited = self.limit is not None and len(self._taken) >= self.limit
                self.stats.stop_reason = self.stats.stop_reason or (StopReason.LIMIT if limited else StopReason.QUEUE_EMPTY)
                return
            if not self.wait:
                self.stop(BatchStopReason.SUBMITTED)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.poll_seconds)

    # -- collecting ------------------------------------------------------------------------------

    async def _collect_all(self) -> None:
        for row in self.ledger.open_batches():
            if self._stop.is_set():
                return
            try:
                if row["state"] == "submitting":
                    await self._resolve_submitting(row)
                else:
                    await self._collect(row)
            except ProviderError as exc:  # the batch stays recorded: the next poll (or run) tries again
                if exc.fatal:
                    self.stop(StopReason.FATAL, str(exc))
                    return
                self.observer.on_line(
                    f"batch #{row['id']} {one_line(row['model'])}: polling failed ({one_line(exc)}); trying again"
                )

    async def _resolve_submitting(self, row: dict[str, Any]) -> None:
        """A batch written but with no provider id: a run died while submitting it (or is submitting it now)."""
        created = datetime.fromisoformat(row["updated_at"])
        if datetime.now(UTC) - created < timedelta(seconds=SUBMITTING_GRACE_SECONDS):
            return
        client = self._client(row["model"])
        known = self.ledger.known_provider_ids()
        found = await client.find(f"rel-{row['id']}", row["input_file_id"], created, row["request_count"] or 0, known)
        if found:
            self.ledger.submitted(row["id"], found)
        else:
            self.ledger.close(row["id"], "not_sent", "never reached the provider")

    async def _collect(self, row: dict[str, Any]) -> None:
        client = self._client(row["model"])
        status = await client.status(row["provider_batch_id"])
        self.ledger.status(row["id"], status.status, status.counts)
        if status.failure:
            line = f"batch #{row['id']} ({one_line(row['model'])}, {one_line(row['provider_batch_id'])}) was refused: {one_line(status.failure)}"
            self.ledger.close(row["id"], "failed", status.failure)
            self.observer.on_line(line)
            self.stop(BatchStopReason.REFUSED, line)
            return
        if not status.ended:
            return
        results = {r.custom_id: r for r in await client.results(row["provider_batch_id"])}
        kinds: Counter[str] = Counter()
        for request in self.ledger.live_requests(row["id"]):
            result = results.get(request["custom_id"]) or BatchResult(request["custom_id"], "expired")
            kinds[result.kind] += 1
            await self._apply(row, request, result)
        self.ledger.close(row["id"], "collected")
        self.stats.collected_batches += 1
        said = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "no results"
        self.observer.on_line(
            f"batch #{row['id']} {one_line(row['model'])} {one_line(row['provider_batch_id'])}: collected ({said})"
        )

    async def _apply(self, batch: dict[str, Any], request: dict[str, Any], result: BatchResult) -> None:
        problem_id = request["problem_id"]
        if not self.ledger.take_back(problem_id, batch["id"], self.planner):
            self.ledger.settle(request["id"], "stale", error="the problem's claim was no longer the batch's")
            return
        if self.limit is None or len(self._taken) < self.limit:  # beyond the limit: committed, then left for a later run
            self._taken.add(problem_id)
        if result.kind in ("expired", "canceled"):  # sent again in the next round
            self.ledger.settle(request["id"], result.kind)
            self.store.release(problem_id, self.planner)
            return
        history = self.store.history(problem_id)
        call = await self._rebuild_call(history, request)
        if call is not None:  # the model it was sent to, even if the config names another one now
            call.request.model = batch["model"]
        if call is None:  # an expert decided it, or its history moved on: the answer is kept in llm_calls only
            call_id = self._meter_orphan(batch, request, result)
            self.ledger.settle(request["id"], "stale", call_id, "the problem moved on before the result came")
            self.store.release(problem_id, self.planner)
            return
        assert history is not None  # _rebuild_call gives a call only for a history it was given
        with self.engine.taking_up(problem_id):
            try:
                await self._commit(history, call, request, result)
            except LeaseLost as exc:
                log.warning("%s", exc)

    async def _rebuild_call(self, history: ProblemHistory | None, request: dict[str, Any]) -> StepCall | None:
        """The call the request was made for, rebuilt from the history as it stands: None unless the
        problem is still at that very step (same step, same attempt)."""
        if history is None or history.problem.state not in LOOP_STATES:
            return None
        step = plan_next(history, self.settings)
        attempt_id = step.attempt.id if step.attempt else None
        if step.step.value != request["step"] or attempt_id != request["attempt_id"]:
            return None
        if step.step == Step.CRITIQUE:
            assert step.attempt is not None  # plan_next always names the attempt a critique judges
            _, check, _ = await self.engine.check_step(history.problem, step.attempt, history.critiques_for(step.attempt.id))
            return self.engine.critic_call(history.problem, step.attempt, check)
        return await self.engine.step_call(step, history)

    async def _commit(self, history: ProblemHistory, call: StepCall, request: dict[str, Any], result: BatchResult) -> None:
        problem_id = require_id(history.problem.id, "problem")
        if result.kind == "errored":
            call_id = self._meter_failure(call, result.error or "errored")
            self.ledger.settle(request["id"], "errored", call_id, result.error)
            await self._settled(problem_id, ProblemState.ERRORED, result.error)
            return
        completion = result.completion
        assert completion is not None  # only "succeeded" gets here, and a succeeded result carries its completion
        self._meter(call, completion)
        try:
            require_answer(completion, call.request.model, self._client(call.request.model).base_url)
        except ProviderError as exc:
            completion.llm_call_id = self._record(call, completion, error=str(exc))
            self.engine.usage.add_failure(exc)
            self.ledger.settle(request["id"], "errored", completion.llm_call_id, str(exc))
            await self._settled(problem_id, ProblemState.ERRORED, str(exc))
            return
        completion.llm_call_id = self._record(call, completion)
        self.engine.usage.add(completion)
        # Killed between these two, the request is still live and its batch is collected again, but its
        # problem has moved on (and its claim is no longer the batch's): the result is never committed twice.
        if call.step == Step.CRITIQUE:
            await self.engine.commit_critic(call, history.problem, completion)
        else:
            await self.engine.commit_generated(call, history.problem, completion)
        self.ledger.settle(request["id"], "succeeded", completion.llm_call_id)
        self.store.release(problem_id, self.planner)  # planned again in the next round

    async def _settled(self, problem_id: int, state: ProblemState, detail: str | None) -> None:
        await self.engine.commit_state(problem_id, state, detail, release=True)
        if state == ProblemState.ERRORED:
            self.observer.on_line(f"problem {problem_id}: errored: {one_line(detail)}")
        self._left_loop.add(problem_id)
        self.stats.done += 1
        self.stats.errored += state == ProblemState.ERRORED
        self.stats.failed += state == ProblemState.FAILED
        self.stats.verified += state == ProblemState.AWAITING_REVIEW

    # -- planning and submitting a round ---------------------------------------------------------------

    async def _submit_round(self) -> None:
        budget = self.settings.loop.budget_usd
        if budget is not None and self.engine.usage.cost_usd >= budget:  # live batches are still collected
            self.stats.stop_reason = StopReason.BUDGET
            self.stats.stop_detail = f"spent ${self.engine.usage.cost_usd:.4f}"
            return
        calls = await self._plan_round()
        groups: dict[str, list[StepCall]] = {}
        for call in calls:
            groups.setdefault(call.request.model, []).append(call)
        for spec, group in groups.items():
            for chunk in self._split(spec, group):
                if self._stop.is_set():
                    self._release_calls(chunk)
                    continue
                await self._submit(spec, chunk)

    async def _plan_round(self) -> list[StepCall]:
        """Claim every workable problem and take it as far as it goes without the LLM. With a limit, the
        problems this run has taken go on to their next step first, and new ones fill what is left of it."""
        claimed = []
        states = [ProblemState.PENDING, ProblemState.IN_PROGRESS]
        if self.limit is not None:  # without one, claim_next_id below hands them out again anyway
            going_on = self.ledger.in_queue(sorted(self._taken - self._left_loop), states)
            claimed = [p for p in going_on if self.store.claim(p, self.planner, PLANNER_LEASE_SECONDS)]
        while not (self.limit is not None and len(self._taken) >= self.limit):
            problem_id = self.store.claim_next_id(self.planner, PLANNER_LEASE_SECONDS, states)
            if problem_id is None:
                break
            claimed.append(problem_id)
            self._taken.add(problem_id)
        slots = asyncio.Semaphore(LOCAL_STEP_CONCURRENCY)

        async def advance(problem_id: int) -> StepCall | None:
            async with slots:
                return await self._advance_locally(problem_id)

        planned = await asyncio.gather(*(advance(p) for p in claimed))
        return [call for call in planned if call is not None]

    async def _advance_locally(self, problem_id: int) -> StepCall | None:
        """Settle the problem or find the LLM call it needs next, running its answer checks here."""
        history = self.store.history(problem_id)
        if history is None or history.problem.state not in LOOP_STATES:  # e.g. an expert decided it
            self._left_loop.add(problem_id)
            self.store.release(problem_id, self.planner)
            return None
        with self.engine.taking_up(problem_id):
            try:
                while True:
                    step = plan_next(history, self.settings)
                    if step.step in (Step.DONE, Step.FAILED):
                        state = ProblemState.AWAITING_REVIEW if step.step == Step.DONE else ProblemState.FAILED
                        await self._settled(problem_id, state, step.detail)
                        return None
                    if step.step != Step.CRITIQUE:
                        return await self.engine.step_call(step, history)
                    call, written = await self._critique_locally(history, step)
                    if call is not None:
                        return call
                    history = history.model_copy(update={"critiques": history.critiques + written})
            except LeaseLost as exc:
                log.warning("%s", exc)
                return None

    async def _critique_locally(self, history: ProblemHistory, step: NextStep) -> tuple[StepCall | None, list]:
        problem, attempt = history.problem, step.attempt
        assert attempt is not None  # plan_next always names the attempt a critique judges
        written, check, stored = await self.engine.check_step(problem, attempt, history.critiques_for(attempt.id))
        if needs_llm_critic(stored.verdict, self.settings.loop.critic_when_correct):
            return self.engine.critic_call(problem, attempt, check), written
        return None, written

    def _split(self, spec: str, calls: list[StepCall]) -> list[list[tuple[str, StepCall]]]:
        """`calls` as batches within the provider's request and size limits."""
        limits = self._client(spec).limits
        chunks: list[list[tuple[str, StepCall]]] = [[]]
        size = 0
        for call in calls:
            custom_id = new_custom_id(
                require_id(call.request.problem_id, "batched request's problem"),
                call.step,
                call.parent.id if call.parent else None,
            )
            encoded = len(self._client(spec).encoded(BatchItem(custom_id, call.request)))
            if chunks[-1] and (len(chunks[-1]) >= limits.max_requests or size + encoded > limits.max_bytes):
                chunks.append([])
                size = 0
            chunks[-1].append((custom_id, call))
            size += encoded
        return [chunk for chunk in chunks if chunk]

    async def _submit(self, spec: str, chunk: list[tuple[str, StepCall]]) -> None:
        client = self._client(spec)
        batch_id, kept = self.ledger.record(spec, client.provider, client.base_url, chunk, self.planner.owner)
        if not kept:
            self.ledger.close(batch_id, "not_sent", "no request left to send")
            return
        items = [BatchItem(custom_id, call.request) for custom_id, call in kept]
        try:
            provider_id, provider_status = await client.submit(
                items, f"rel-{batch_id}", lambda file_id: self.ledger.set_file(batch_id, file_id)
            )
        except ProviderError as exc:
            if exc.status is None and exc.kind in (ErrorKind.CONNECTION, ErrorKind.TIMEOUT):
                return  # it may have reached the provider: left `submitting`, looked up later
            line = f"batch #{batch_id} ({one_line(spec)}, {len(items)} requests) was refused: {one_line(exc)}"
            self.ledger.close(batch_id, "failed" if not exc.fatal else "not_sent", str(exc))
            self.observer.on_line(line)
            self.stop(StopReason.FATAL if exc.fatal else BatchStopReason.REFUSED, line)
            return
        self.ledger.submitted(batch_id, provider_id, provider_status)
        self.stats.submitted_batches += 1
        self.stats.submitted_requests += len(items)

    def _release_calls(self, chunk: list[tuple[str, StepCall]]) -> None:
        for _, call in chunk:
            self.store.release(require_id(call.request.problem_id, "batched request's problem"), self.planner)

    # -- metering -----------------------------------------------------------------------------------

    def _meter(self, call: StepCall, completion: Completion) -> None:
        """Tokens (estimated where the server sent none) and the cost at the batch price."""
        if completion.input_tokens is None or completion.output_tokens is None:
            completion.tokens_estimated = True
            if completion.input_tokens is None:
                completion.input_tokens = estimate_tokens("\n".join(m.content for m in call.request.messages))
            if completion.output_tokens is None:
                completion.output_tokens = estimate_tokens(completion.text)
        completion.cost_usd = self._batch_cost(call.request.model, completion)

    def _batch_cost(self, spec: str, completion: Completion) -> float | None:
        client = self._client(spec)
        hosted = is_hosted_url(client.provider, client.base_url)
        return cost_usd(
            spec,
            self.settings,
            completion.input_tokens,
            completion.output_tokens,
            completion.model,
            hosted=hosted,
            batch=True,
            cached_input_tokens=completion.cached_input_tokens,
            cache_write_tokens=completion.cache_write_tokens,
        )

    def _record(self, call: StepCall, completion: Completion | None, error: str | None = None) -> int:
        provider, model = split_spec(call.request.model)
        request = {
            "model": call.request.model,
            "base_url": self._client(call.request.model).base_url,
            "stream": False,
            "batch": True,
            "system": call.request.system,
            "messages": [{"role": m.role, "content": m.content} for m in call.request.messages],
            "temperature": call.request.temperature,
            "max_tokens": call.request.max_tokens,
        }
        usage = completion.call_fields() if completion is not None else {}
        return self.store.log_call(
            LLMCall(
                problem_id=call.request.problem_id,
                provider=provider,
                model=model,
                purpose=call.request.purpose,
                request=json.dumps(request, ensure_ascii=False),
                error=error,
                **usage,
            )
        )

    def _meter_failure(self, call: StepCall, error: str) -> int:
        self.engine.usage.failed += 1
        return self._record(call, None, error)

    def _meter_orphan(self, batch: dict[str, Any], request: dict[str, Any], result: BatchResult) -> int | None:
        """A result for a problem that moved on: still a call that cost, kept in llm_calls."""
        if result.completion is None:
            return None
        provider, model = split_spec(batch["model"])
        completion = result.completion
        completion.cost_usd = self._batch_cost(batch["model"], completion)
        self.engine.usage.calls += 1
        self.engine.usage.cost_usd += completion.cost_usd or 0.0
        return self.store.log_call(
            LLMCall(
                problem_id=request["problem_id"],
                provider=provider,
                model=model,
                purpose=request["purpose"] or "",
                request=json.dumps({"model": batch["model"], "batch": True, "custom_id": request["custom_id"]}),
                **completion.call_fields(),
            )
        )

    def _sync_usage(self) -> None:
        usage = self.engine.usage
        self.stats.calls, self.stats.cost_usd = usage.calls, usage.cost_usd
        self.stats.input_tokens, self.stats.output_tokens = usage.input_tokens, usage.output_tokens
        self.stats.unpriced_calls, self.stats.failed_calls = usage.unpriced, usage.failed

    def _client(self, spec: str) -> BatchClient:
        if spec not in self._clients:
            self._clients[spec] = batch_client_for(self.client, spec)
        return self._clients[spec]
