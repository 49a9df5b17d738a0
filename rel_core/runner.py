"""The headless runner: works the queue with N problems in flight, on one asyncio loop.

Each problem is claimed with a short lease (`Store.claim_next`) that a heartbeat renews while
it is worked, so two runners never share a problem. A claim records its holder's host, pid and
start time: claims left by a dead runner on this host are taken over at once, a dead remote
runner's within a lease. While others hold the only work left, the observer is told who holds
what, until when, every `WAIT_REPORT_SECONDS`. A full disk stops the run. The runner stops
claiming at the limit, a fatal provider error, the same internal or provider error on
several problems in a row, a signal or a closed output (`| head`, a dead `--workers` parent); then
the calls in flight are abandoned (every committed step stays committed) and the claims released, so
the next run resumes at once. Once the spend reaches the budget no new call starts: the calls in
flight finish and are recorded, and their problems are left resumable in the same way.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .answers import CheckerClosed
from .claims import ClaimHolder, HeldClaims
from .config import Settings
from .loop import BudgetReached, LeaseLost, LoopEngine
from .models import ProblemState
from .providers.base import ErrorKind, ProviderError, one_line
from .providers.pricing import Spend
from .store import Owner, Store

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopReason:
    QUEUE_EMPTY = "queue worked"
    HELD_BY_OTHERS = "the rest is claimed by others"
    LIMIT = "limit reached"
    BUDGET = "budget reached"
    INTERRUPTED = "interrupted"
    FATAL = "fatal provider error"
    INTERNAL = "repeated internal error"
    UNREACHABLE = "server unreachable"
    DISK_FULL = "disk full"
    REPEATED_PROVIDER = "repeated provider error"


OUTPUT_CLOSED = "the output was closed"  # the detail of an INTERRUPTED stop: nobody reads the progress any more

# Reasons that stop the run at once, abandoning the problems in flight, and exit non-zero.
STOP_NOW = (
    StopReason.INTERRUPTED,
    StopReason.FATAL,
    StopReason.INTERNAL,
    StopReason.UNREACHABLE,
    StopReason.DISK_FULL,
    StopReason.REPEATED_PROVIDER,
)

# The same internal error (exception type) on this many problems in a row is taken to be systemic:
# every later problem would fail the same way, so the run stops rather than mark the queue errored.
MAX_SAME_INTERNAL_ERRORS = 5
# The SDK has already retried each call with backoff (about 20 s by default) before a problem ends
# with a connection error or timeout; this many such problems in a row mean the server is down.
MAX_UNREACHABLE_IN_A_ROW = 3
UNREACHABLE_KINDS = frozenset({ErrorKind.CONNECTION, ErrorKind.TIMEOUT})
# While the only work left is claimed by others, say so this often (and at once when it starts).
WAIT_REPORT_SECONDS = 10.0
# A failed lease renewal (database busy past its timeout) is tried again this soon, not a whole
# renewal interval later: the lease may not outlive two intervals plus a busy wait.
RENEW_RETRY_SECONDS = 2.0


def is_disk_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL ("database or disk is full") or the OS's ENOSPC / EDQUOT."""
    if isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


# The same provider error (kind and message) on this many problems in a row is the setup, not the
# problems: a LiteLLM proxy answers an unknown model and a bad key with HTTP 400, a model that spends
# every token on reasoning sends empty answers. A too-long prompt is the problem's own, so not counted.
MAX_SAME_PROVIDER_ERRORS = 5
PER_PROBLEM_KINDS = frozenset({ErrorKind.CONTEXT_LENGTH})


@dataclass(frozen=True)
class ProblemOutcome:
    problem_id: int
    state: ProblemState | None  # None: the problem was abandoned (signal, lost lease)
    detail: str | None
    attempts: int
    seconds: float


@dataclass
class RunStats:
    total: int = 0
    done: int = 0
    verified: int = 0  # awaiting review
    failed: int = 0
    errored: int = 0
    abandoned: int = 0
    in_flight: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0  # calls with no known price: cost_usd is a lower bound
    failed_calls: int = 0
    started: float = field(default_factory=time.monotonic)
    stop_reason: str | None = None
    stop_detail: str | None = None
    held_by_others: int = 0  # queued problems claimed by others (at the start, then at the end)
    requeued: int = 0  # errored problems put back in the queue by --retry-errored

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def spend(self) -> Spend:
        """The run's spend, unknown or a lower bound while calls are unpriced: what every progress
        line and the summary show (`Spend.describe`)."""
        return Spend(self.cost_usd, calls=self.calls, unpriced=self.unpriced_calls, failed=self.failed_calls)

    def count(self, outcome: ProblemOutcome) -> None:
        if outcome.state is None:
            self.abandoned += 1
            return
        self.done += 1
        if outcome.state == ProblemState.AWAITING_REVIEW:
            self.verified += 1
        elif outcome.state == ProblemState.FAILED:
            self.failed += 1
        elif outcome.state == ProblemState.ERRORED:
            self.errored += 1


class RunObserver:
    """Hooks the CLI overrides to show progress; every hook is optional."""

    def on_start(self, stats: RunStats) -> None: ...

    def on_problem_done(self, outcome: ProblemOutcome, stats: RunStats) -> None: ...

    def on_progress(self, stats: RunStats) -> None:
        """Called after every LLM call's usage is counted and at every problem start/end."""

    def on_waiting(self, held: list[HeldClaims], give_up_at: datetime, stats: RunStats) -> None:
        """Nothing is claimable but others hold these claims; called at once, then every
        WAIT_REPORT_SECONDS while it lasts. The run stops waiting at `give_up_at` (UTC)."""

    def on_reclaimed(self, freed: dict[str, int], stats: RunStats) -> None:
        """Claims of dead holders on this host were freed (per holder label: how many)."""

    def on_finish(self, stats: RunStats) -> None: ...


def default_owner() -> ClaimHolder:
    return ClaimHolder.this_process("auto")


class Runner:
    def __init__(
        self,
        store: Store,
        engine: LoopEngine,
        settings: Settings,
        *,
        owner: Owner | None = None,
        limit: int | None = None,
        budget_usd: float | None = None,
        retry_errored: bool = False,
        observer: RunObserver | None = None,
        max_same_internal_errors: int = MAX_SAME_INTERNAL_ERRORS,
    ):
        self.store = store
        self.engine = engine
        self.settings = settings
        self.holder: Owner = owner or engine.lease_owner or default_owner()
        self.owner = self.holder.owner if isinstance(self.holder, ClaimHolder) else self.holder
        engine.lease_owner = self.owner
        self.limit = limit
        self.budget_usd = budget_usd if budget_usd is not None else settings.loop.budget_usd
        engine.budget_usd = self.budget_usd  # checked before every call, not only before a problem
        self.states = [ProblemState.PENDING, ProblemState.IN_PROGRESS]
        self.retry_errored = retry_errored
        self.observer = observer or RunObserver()
        self.stats = RunStats()
        self._claimed = 0
        self._tasks: dict[int, asyncio.Task] = {}
        self._stopping = False
        self.max_same_internal_errors = max_same_internal_errors
        self._internal_kind: str | None = None  # the internal error the last problems ended with...
        self._internal_streak = 0  # ...and on how many problems in a row
        self._unreachable_streak = 0  # problems in a row that ended unable to reach the server
        self._next_wait_report = 0.0  # monotonic time the next "waiting on others" line is due
        self._provider_error: tuple[str, str] | None = None  # (kind, message) the last problems ended with...
        self._provider_streak = 0  # ...and on how many problems in a row

    @property
    def lease_seconds(self) -> float:
        return self.settings.loop.lease_seconds

    # -- running -----------------------------------------------------------------------------------

    async def run(self, handle_signals: bool = False) -> RunStats:
        try:
            self._prepare()
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            self._disk_full(exc)
        self.observer.on_start(self.stats)
        if handle_signals:
            self._install_signal_handlers()
        renewer = asyncio.create_task(self._renew_leases())
        try:
            # No fsync in a commit on the event loop, and one COMMIT for the steps that end together.
            with self.store.checkpoints_in_background(), self.store.group_commits():
                workers = [asyncio.create_task(self._worker()) for _ in range(self.settings.loop.concurrency)]
                try:
                    await asyncio.gather(*workers)
                except BaseException:
                    # Nothing is torn down (the checker, the client) under a problem still in flight:
                    # it would end with an error that is not its own. Abandon them, then wait.
                    self.stop(StopReason.INTERRUPTED, "the run failed")
                    await asyncio.gather(*workers, return_exceptions=True)
                    raise
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            if handle_signals:
                self._remove_signal_handlers()
            self._release_all()
        if self.stats.stop_reason is None:
            self.stats.stop_reason = StopReason.HELD_BY_OTHERS if self.stats.held_by_others else StopReason.QUEUE_EMPTY
        self._sync_usage()  # the summary's spend is the one the last progress line showed, or later
        self.observer.on_finish(self.stats)
        return self.stats

    def _prepare(self) -> None:
        self._reclaim_dead()  # a killed run's claims on this host come back before counting
        if self.retry_errored:
            # Requeued once at the start: a problem that errors again stays errored this run. With a
            # limit, only those this run will take: the others keep their error and its detail.
            self.stats.requeued = self.store.requeue_errored(first=self.limit)
        total = self.store.count_claimable(self.states)
        self.stats.total = min(total, self.limit) if self.limit else total
        self.stats.held_by_others = self.store.count_leased_by_others(self.states, self.owner)

    def _release_all(self) -> None:
        """Best effort at the end of every run: no claim of ours outlives it (a full disk may refuse)."""
        try:
            self.store.release_all(self.owner)
            self.stats.held_by_others = self.store.count_leased_by_others(self.states, self.owner)
        except sqlite3.Error as exc:
            log.warning(
                "this run's claims were not released (%s): a run restarted on this host takes them over at once; "
                "for runners elsewhere they expire within %gs",
                one_line(exc),
                self.lease_seconds,
            )

    def _disk_full(self, exc: BaseException) -> None:
        self.stop(StopReason.DISK_FULL, f"{self.store.path}: {one_line(exc)}; free some space, then rerun")

    def stop(self, reason: str, detail: str | None = None, abandon: bool = True) -> None:
        """Stop claiming; with `abandon`, also cancel the problems in flight (committed steps stay)."""
        if self.stats.stop_reason is None or reason in STOP_NOW:
            self.stats.stop_reason, self.stats.stop_detail = reason, detail
        self._stopping = True
        if abandon:
            for task in self._tasks.values():
                task.cancel()

    async def _worker(self) -> None:
        try:
            await self._work_the_queue()
        except BrokenPipeError:  # the output was closed (`| head`, a killed --workers parent): like SIGPIPE
            self.stop(StopReason.INTERRUPTED, OUTPUT_CLOSED)
        except Exception as exc:  # any write of the worker's own (claims, outcomes) on a full disk
            if not is_disk_full(exc):
                raise
            self._disk_full(exc)

    async def _work_the_queue(self) -> None:
        idle_since: float | None = None
        while not self._stopping:
            try:
                problem_id = await self._claim()
                if problem_id is None:
                    idle_since = idle_since or time.monotonic()
                    if self._stopping or not self._worth_waiting(idle_since):
                        return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                log.warning("claiming the next problem failed (%s); trying again", one_line(exc))
                problem_id = None
            if problem_id is None:
                await asyncio.sleep(min(0.5, self.lease_seconds / 4))
                continue
            idle_since = None
            outcome = await self._work(problem_id)
            self.stats.count(outcome)
            self._sync_usage()
            self.observer.on_problem_done(outcome, self.stats)

    def _worth_waiting(self, idle_since: float) -> bool:
        """Others hold claims on queued problems: a dead runner's expire within a lease (then we
        take them over); claims still held after that are being renewed by someone alive."""
        give_up_in = idle_since + self.lease_seconds + 1 - time.monotonic()
        if give_up_in < 0:
            return False
        held = self.store.claims_held_by_others(self.states, self.owner)
        if held and time.monotonic() >= self._next_wait_report:
            self._next_wait_report = time.monotonic() + WAIT_REPORT_SECONDS
            give_up_at = datetime.now(UTC) + timedelta(seconds=give_up_in)
            self.observer.on_waiting(held, give_up_at, self.stats)
        return bool(held)

    def _reclaim_dead(self) -> None:
        try:
            freed = self.store.reclaim_dead_local()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            log.warning("taking over dead runners' claims failed (%s); trying again later", one_line(exc))
            return
        if freed:
            log.info("took over claims of dead holders: %s", freed)
            self.observer.on_reclaimed(freed, self.stats)

    async def _claim(self) -> int | None:
        if self.limit is not None and self._claimed >= self.limit:
            self.stop(StopReason.LIMIT, abandon=False)
            return None
        if self.budget_usd is not None and self.engine.usage.cost_usd >= self.budget_usd:
            self._budget_reached()
            return None
        self._claimed += 1  # taken before the await: the other workers' claims must see it (the limit)
        try:
            problem_id = await self.store.write(self._claim_next)  # with the steps' writes of this turn
            if problem_id is None:  # perhaps a runner on this host died since we last looked
                self._reclaim_dead()
                problem_id = await self.store.write(self._claim_next)
        except BaseException:
            self._claimed -= 1
            raise
        if problem_id is None:
            self._claimed -= 1
            return None
        self.stats.total = max(self.stats.total, self._claimed)  # e.g. a dead runner's claim expired since the start
        return problem_id

    def _budget_reached(self) -> None:
        """No new call or problem; the calls in flight finish. The spend is the summary's own row."""
        self.stop(StopReason.BUDGET, f"${self.budget_usd:g} budget", abandon=False)

    def _claim_next(self) -> int | None:
        return self.store.claim_next_id(self.holder, self.lease_seconds, self.states)

    async def _work(self, problem_id: int) -> ProblemOutcome:
        started = time.monotonic()
        task = asyncio.create_task(self.engine.run_problem(problem_id))
        self._tasks[problem_id] = task
        self.stats.in_flight += 1
        state: ProblemState | None = None
        try:
            try:
                self.observer.on_progress(self.stats)  # inside: if it fails, the problem is still abandoned
                await asyncio.wait({task})
            except BaseException:  # the run itself is being cancelled (or failed): take the problem down too
                task.cancel()
                await asyncio.wait({task})
                raise
            state = self._result(problem_id, task)
        finally:
            self._tasks.pop(problem_id, None)
            self.stats.in_flight -= 1
            if state is None:  # abandoned: let the next run (or runner) resume it at once
                self._release(problem_id)
        detail, attempts = self.store.outcome(problem_id) or (None, 0)
        detail = detail if state is not None else None
        return ProblemOutcome(problem_id, state, detail, attempts, time.monotonic() - started)

    def _release(self, problem_id: int) -> None:
        try:
            self.store.release(problem_id, self.owner)
        except sqlite3.Error as exc:  # e.g. a full disk: said once, for all claims, at the end of the run
            log.debug("problem %s: could not release its claim (%s)", problem_id, one_line(exc))

    def _result(self, problem_id: int, task: asyncio.Task) -> ProblemState | None:
        if task.cancelled():
            return None
        exc = task.exception()
        if exc is not None and is_disk_full(exc):
            self._disk_full(exc)
            return None
        if exc is None:
            self._internal_kind, self._internal_streak = None, 0
            error = self.engine.errors.pop(problem_id, None)
            self._note_unreachable(error)
            self._note_repeated_provider_error(error)
            return task.result()
        if isinstance(exc, ProviderError) and exc.fatal:
            self.stop(StopReason.FATAL, str(exc))
            return None
        if isinstance(exc, LeaseLost):
            log.warning("%s", exc)
            return None
        if isinstance(exc, BudgetReached):
            self._budget_reached()
            return None
        if isinstance(exc, CheckerClosed):  # the run is ending under it: not the problem's error
            return None
        return self._internal_error(problem_id, exc)

    def _note_unreachable(self, error: ProviderError | None) -> None:
        """Count problems in a row that ended because the server could not be reached; stop at the limit
        rather than mark the rest of the queue errored one by one while the server is down."""
        if error is None or error.kind not in UNREACHABLE_KINDS:
            self._unreachable_streak = 0
            return
        self._unreachable_streak += 1
        if self._unreachable_streak >= MAX_UNREACHABLE_IN_A_ROW and self.stats.stop_reason is None:
            self.stop(
                StopReason.UNREACHABLE,
                f"{self._unreachable_streak} problems in a row could not reach the server ({error}); "
                "they are marked errored: when it is back, rerun with --retry-errored",
            )

    def _note_repeated_provider_error(self, error: ProviderError | None) -> None:
        """Count problems in a row that ended with the very same provider error; stop at the limit."""
        if error is None or error.kind in PER_PROBLEM_KINDS | UNREACHABLE_KINDS:
            self._provider_error, self._provider_streak = None, 0
            return
        signature = (str(error.kind), str(error))
        self._provider_streak = self._provider_streak + 1 if signature == self._provider_error else 1
        self._provider_error = signature
        if self._provider_streak >= MAX_SAME_PROVIDER_ERRORS and self.stats.stop_reason is None:
            self.stop(
                StopReason.REPEATED_PROVIDER,
                f"the same provider error on {self._provider_streak} problems in a row ({error}); "
                "they are marked errored: fix the cause, then rerun with --retry-errored",
            )

    def _internal_error(self, problem_id: int, exc: BaseException) -> ProblemState | None:
        """A bug or an environment failure rather than a provider's answer: the problem is marked
        errored with a one-line reason (the observer shows it; the traceback goes to debug logging
        only). The same error on `max_same_internal_errors` problems in a row stops the run."""
        kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
        reason = f"{type(exc).__name__}: {one_line(exc, 200)}"
        log.debug("problem %s: internal error", problem_id, exc_info=exc)
        if self.stats.stop_reason == StopReason.INTERNAL and kind == self._internal_kind:
            # In flight when the run was stopped for this very error: leave it for the next run.
            self._release(problem_id)
            return None
        self.store.set_state(problem_id, ProblemState.ERRORED, f"internal error: {reason}", release=True)
        self._internal_streak = self._internal_streak + 1 if kind == self._internal_kind else 1
        self._internal_kind = kind
        if self._internal_streak >= self.max_same_internal_errors:
            self.stop(
                StopReason.INTERNAL,
                f"the same internal error on {self._internal_streak} problems in a row ({reason}); "
                "they are marked errored: fix the cause, then rerun with --retry-errored",
            )
        return ProblemState.ERRORED

    def _sync_usage(self) -> None:
        usage = self.engine.usage
        self.stats.calls, self.stats.cost_usd = usage.calls, usage.cost_usd
        self.stats.input_tokens, self.stats.output_tokens = usage.input_tokens, usage.output_tokens
        self.stats.unpriced_calls, self.stats.failed_calls = usage.unpriced, usage.failed

    # -- leases -------------------------------------------------------------------------------------

    async def _renew_leases(self) -> None:
        """The heartbeat: renew every claim in flight every third of a lease; a lost claim abandons
        its problem.

        A tick that fails (e.g. `database is locked` past the busy timeout) is logged in one line and
        tried again after RENEW_RETRY_SECONDS: the claims are still ours until they expire."""
        interval = max(0.2, self.lease_seconds / 3)
        delay = interval
        while True:
            await asyncio.sleep(delay)
            try:
                self._renew_tick()
                delay = interval
            except Exception as exc:  # a renewal never ends the run; the next tick retries
                if is_disk_full(exc):
                    self._disk_full(exc)
                    return
                delay = min(interval, RENEW_RETRY_SECONDS)
                log.warning("lease renewal failed (%s: %s); trying again in %gs", type(exc).__name__, one_line(exc, 200), delay)

    def _renew_tick(self) -> None:
        self._sync_usage()
        self.observer.on_progress(self.stats)
        for problem_id in self.store.renew(list(self._tasks), self.owner, self.lease_seconds):
            log.warning("problem %s: claim taken over by another worker; abandoning it", problem_id)
            task = self._tasks.get(problem_id)
            if task is not None:
                task.cancel()

    # -- signals -------------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            loop.add_signal_handler(sig, self.stop, StopReason.INTERRUPTED, signal.Signals(sig).name)

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
