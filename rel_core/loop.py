"""The engine of the Reasoning Enhancement Loop: it performs the steps the planner chooses.

The next step is always derived from the problem's attempts and critiques in SQLite by the pure
planner (`rel_core.planner.plan_next`); the engine makes the step's LLM call or answer check and
commits its result before asking for the next. A restart therefore picks up
at the first step that has no committed result and never repeats a completed LLM call.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel

from .answers import (
    AnswerChecker,
    CheckResult,
    demote_answer_tags,
    extract_answer,
)
from .config import Settings
from .critic import parse_verdict
from .labels import record_check_disagreement
from .models import (
    Attempt,
    AttemptKind,
    Critique,
    CritiqueSource,
    Problem,
    ProblemHistory,
    ProblemState,
    Verdict,
    require_id,
)
from .planner import (
    DECIDED_STATES,
    LOOP_STATES,
    SETTLED_STATES,
    NextStep,
    Step,
    hint_from,
    latest_critique,
    needs_llm_critic,
    plan_next,
    reference_answer_of,
    temperature_for,
)
from .prompts import Template, Templates
from .providers.base import (
    TRUNCATED_FINISH_REASONS,
    ChatMessage,
    Completion,
    CompletionRequest,
    DeltaCallback,
    ProviderError,
    split_spec,
)
from .steps import numbered
from .store import Store
from .verdicts import TRUNCATED_CHECK, check_result_of

if TYPE_CHECKING:
    from .providers.client import LLMClient

log = logging.getLogger(__name__)

CRITIC_MAX_TOKENS = 4096
# Texts up to this size are parsed on the event loop: extracting an answer or a verdict from them
# takes microseconds, less than the hop to a worker thread (measured: 0.03 ms for 100 kB against
# 0.05 ms for the hop). Longer ones (a megabyte draft) still go to a thread.
INLINE_PARSE_CHARS = 200_000
CHECK_MODEL = "math-verify"
TRUNCATED = TRUNCATED_CHECK  # the check of a draft that stopped at the token limit


class CompletionClient(Protocol):
    """What the loop needs from `LLMClient`."""

    async def complete(
        self, request: CompletionRequest, on_delta: DeltaCallback | None = None, *, defer_record: bool = False
    ) -> Completion: ...


class LeaseLost(Exception):
    """Another worker took over the problem's claim; this worker must stop touching it."""


class BudgetReached(Exception):
    """The run's spend reached its budget: no new call starts (the problem stays resumable)."""


Committed = tuple[Attempt, list[Critique]]  # a new attempt, and its check when that was quick
Parsed = TypeVar("Parsed")


@dataclass
class LoopStep:
    """A step of `run_problem` in progress: the history it builds on, grown by each of its commits, so
    the commit that ends the loop writes the problem's final state in its own transaction."""

    history: ProblemHistory
    settled: ProblemState | None = None


GENERATOR_STEPS = {
    Step.GENERATE: (AttemptKind.GENERATED, "generate", "generate"),  # (attempt kind, template, purpose)
    Step.REVISE: (AttemptKind.REVISED, "revise", "revise"),
    Step.FINAL_REWRITE: (AttemptKind.FINAL_REWRITE, "final_rewrite", "rewrite"),
    Step.CLEANUP: (AttemptKind.CLEANED, "cleanup", "cleanup"),
}


@dataclass(frozen=True)
class StepCall:
    """The one LLM call of a step, and what committing its answer needs: the direct engine makes the
    call at once, the batch driver (rel_core/batch.py) sends it in a provider batch and commits later."""

    step: Step
    request: CompletionRequest
    template: Any
    parent: Attempt | None = None  # the attempt the step works on (critic: the attempt judged)
    iteration: int = 0
    hint: str | None = None  # recorded with the new attempt
    check: CheckResult | None = None  # critic calls: the answer check the critic was told about


class RegenerationResult(BaseModel):
    attempt: Attempt
    critique: Critique | None = None


@dataclass
class Usage:
    """Running totals over every call this engine made."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0  # calls with no known price: the spend is a lower bound
    failed: int = 0  # calls that ended in a provider error (not in `calls`)

    def add(self, completion: Completion) -> None:
        self.calls += 1
        self._spent(completion)

    def add_failure(self, error: ProviderError) -> None:
        """A failed call; an empty answer still used (and cost) tokens."""
        self.failed += 1
        if error.completion is not None:
            self._spent(error.completion)

    def _spent(self, completion: Completion) -> None:
        self.input_tokens += completion.input_tokens or 0
        self.output_tokens += completion.output_tokens or 0
        self.cost_usd += completion.cost_usd or 0.0
        self.unpriced += completion.cost_usd is None


# -- the engine ----------------------------------------------------------------------------------


class LoopEngine:
    """Runs the loop for problems and regenerations, persisting every step as it completes."""

    def __init__(
        self,
        store: Store,
        client: LLMClient | CompletionClient,
        settings: Settings,
        *,
        checker: AnswerChecker | None = None,
        lease_owner: str | None = None,
    ):
        self.store = store
        self.client = client
        self.settings = settings
        self.templates = Templates(settings.loop.template_dir)
        self.checker = checker or AnswerChecker()
        self.lease_owner = lease_owner  # when set, every commit first checks the claim is still ours
        self.usage = Usage()
        self.budget_usd: float | None = None  # set by a run with a budget: no call starts once it is spent
        # The provider error that ended each errored problem, for the runner to spot an outage.
        self.errors: dict[int, ProviderError] = {}
        self._starting: set[int] = set()  # problems whose first commit also marks them in progress
        self._loop_steps: dict[int, LoopStep] = {}  # problems whose step in progress may settle them

    def close(self) -> None:
        self.checker.close()

    # -- public API --------------------------------------------------------------------------

    async def run_problem(self, problem_id: int) -> ProblemState:
        """Take the problem from wherever it is to awaiting_review, failed or errored.

        Non-fatal provider errors mark the problem errored and return; fatal ones (auth, quota,
        config) put it back to pending and raise, because every other problem would fail too.
        """
        history = self._history(problem_id)  # what the database holds decides where to resume
        if history.problem.state not in LOOP_STATES:  # an expert's decision is never undone by the loop
            if self.lease_owner:
                self.store.release(problem_id, self.lease_owner)
            return history.problem.state
        with self.taking_up(problem_id):
            try:
                return await self._advance_until_settled(history)
            except ProviderError as exc:
                if exc.fatal:
                    await self.commit_state(problem_id, ProblemState.PENDING, str(exc), release=True)
                    raise
                await self.commit_state(problem_id, ProblemState.ERRORED, str(exc), release=True)
                self.errors[problem_id] = exc
                return ProblemState.ERRORED

    async def regenerate(
        self,
        problem_id: int,
        attempt_id: int | None,
        hint: str | None,
        on_delta: DeltaCallback | None = None,
    ) -> RegenerationResult:
        """One revision of `attempt_id` with the expert's hint (a fresh generation when None), checked.

        The attempt is committed (and the problem set to awaiting_review) as soon as it is
        complete, then its critiques. Cancelling the caller's task abandons the call in flight;
        rows already written are complete.
        """
        history = self._history(problem_id)
        if attempt_id is None:
            call = await self.generator_call(Step.GENERATE, history.problem, None, 0, hint)
        else:
            parent = next((a for a in history.attempts if a.id == attempt_id), None)
            if parent is None:
                raise KeyError(f"problem {problem_id} has no attempt {attempt_id}")
            revision_hint = hint or hint_from(history.critiques_for(attempt_id))
            call = await self.generator_call(Step.REVISE, history.problem, parent, parent.iteration + 1, revision_hint)
        attempt, written = await self.commit_generated(call, history.problem, await self._complete(call.request, on_delta))
        if history.problem.state not in DECIDED_STATES:  # an expert's decision stands until they change it
            await self.commit_state(problem_id, ProblemState.AWAITING_REVIEW)
        critiques = written + await self._critique(history.problem, attempt, written)
        return RegenerationResult(attempt=attempt, critique=critiques[-1] if critiques else None)

    async def recritique(self, problem_id: int, attempt_id: int) -> Critique:
        """Check the attempt again and ask the LLM critic afresh, whatever was said before."""
        history = self._history(problem_id)
        attempt = next((a for a in history.attempts if a.id == attempt_id), None)
        if attempt is None:
            raise KeyError(f"problem {problem_id} has no attempt {attempt_id}")
        critiques = await self._critique(history.problem, attempt, [], force_llm=True)
        return critiques[-1]

    # -- the state machine ---------------------------------------------------------------------

    async def _advance_until_settled(self, history: ProblemHistory) -> ProblemState:
        problem_id = require_id(history.problem.id, "problem")
        while True:
            step = plan_next(history, self.settings)
            settled = SETTLED_STATES.get(step.step)
            if settled is not None:  # a history whose last step was committed without settling it (a batch round, an older run)
                await self.commit_state(problem_id, settled, step.detail, release=True)
                return settled
            self._loop_steps[problem_id] = loop_step = LoopStep(history)
            try:
                await self._execute(step, history)
            finally:
                self._loop_steps.pop(problem_id, None)
            if loop_step.settled is not None:  # its last commit wrote the final state
                return loop_step.settled
            # The rows just committed, added to the history read above: the database, without re-reading it.
            history = loop_step.history

    async def _execute(self, step: NextStep, history: ProblemHistory) -> None:
        """Run one step, committing what it makes."""
        problem, attempt = history.problem, step.attempt
        if step.step == Step.CRITIQUE:
            assert attempt is not None  # plan_next always names the attempt a critique judges
            await self._critique(problem, attempt, history.critiques_for(attempt.id))
            return
        call = await self.step_call(step, history)
        await self.commit_generated(call, problem, await self._complete(call.request))

    # -- steps that write a new attempt: the call, then its commit --------------------------------

    async def step_call(self, step: NextStep, history: ProblemHistory) -> StepCall:
        """The LLM call of a generator step `plan_next` chose (generate, revise, final rewrite, clean-up)."""
        if step.step not in GENERATOR_STEPS:
            raise AssertionError(f"not an executable step: {step.step}")
        hint = None
        if step.step == Step.REVISE:
            assert step.attempt is not None  # plan_next always names the attempt a revision revises
            hint = hint_from(history.critiques_for(step.attempt.id))
        return await self.generator_call(step.step, history.problem, step.attempt, step.iteration, hint)

    async def generator_call(
        self, step: Step, problem: Problem, parent: Attempt | None, iteration: int, hint: str | None
    ) -> StepCall:
        _, template_name, purpose = GENERATOR_STEPS[step]
        template = self.templates[template_name]
        if step == Step.GENERATE:
            prompt = template.render(problem=problem.text)
            if hint:  # after the shared prefix, so the expert's hint does not change it
                prompt = f"{prompt.rstrip()}\n\n(Hint from an expert: {hint})"
        elif parent is None:
            raise ValueError(f"a {step} step needs the attempt it works on")
        elif step == Step.REVISE:
            prompt = template.render(problem=problem.text, attempt=parent.text, hint=hint)
        elif step == Step.FINAL_REWRITE:
            hint = None
            prompt = template.render(
                problem=problem.text,
                attempt=parent.text,
                reference_solution=problem.reference_solution or problem.reference_answer or "",
                reference_answer=reference_answer_of(problem) or "(see the reference solution)",
            )
        else:
            hint = None
            final_answer = parent.final_answer or await _parse(extract_answer, parent.text) or ""
            prompt = template.render(problem=problem.text, attempt=parent.text, final_answer=final_answer)
        request = self._generator_request(purpose, problem, template, prompt, iteration)
        return StepCall(step, request, template, parent if step != Step.GENERATE else None, iteration, hint)

    async def commit_generated(self, call: StepCall, problem: Problem, completion: Completion) -> Committed:
        """Commit the new attempt a generator call's completion makes (and its check when quick)."""
        kind = GENERATOR_STEPS[call.step][0]
        with self._metered(completion):
            text = completion.text
            if call.step == Step.REVISE:  # a revision continues the earlier trace: the stored attempt is the whole trace
                assert call.parent is not None  # generator_call gives a revision's call the attempt it revises
                text = f"{demote_answer_tags(call.parent.text).rstrip()}\n\n{completion.text.lstrip()}"
            return await self._commit_attempt(
                problem, call.parent, kind, text, completion, call.template, call.iteration, call.hint
            )

    def _generator_request(
        self, purpose: str, problem: Problem, template: Template, prompt: str, iteration: int
    ) -> CompletionRequest:
        return CompletionRequest(
            model=self.settings.generator,
            # The system message (role + problem) is the same for every generator call of the problem:
            # one prefix the provider caches; the step's own text follows it.
            system=template.render_system(problem=problem.text),
            messages=[ChatMessage(role="user", content=prompt)],
            temperature=temperature_for(iteration, self.settings),
            max_tokens=self.settings.loop.max_tokens,
            purpose=purpose,
            problem_id=problem.id,
        )

    async def _complete(self, request: CompletionRequest, on_delta: DeltaCallback | None = None) -> Completion:
        """The call; its llm_calls row is left to the commit of what it produced (`_step_commit`)."""
        if self.budget_usd is not None and self.usage.cost_usd >= self.budget_usd:
            raise BudgetReached(f"budget ${self.budget_usd:g} reached")
        try:
            completion = await self.client.complete(request, on_delta=on_delta, defer_record=True)
        except ProviderError as exc:
            self.usage.add_failure(exc)
            raise
        self.usage.add(completion)
        return completion

    async def _commit_attempt(
        self,
        problem: Problem,
        parent: Attempt | None,
        kind: AttemptKind,
        text: str,
        completion: Completion,
        template,
        iteration: int,
        hint: str | None,
    ) -> Committed:
        attempt = Attempt(
            problem_id=problem.id,
            parent_id=parent.id if parent else None,
            kind=kind,
            text=text,
            final_answer=await _parse(extract_answer, text),
            model=_model_name(self.settings.generator, completion),
            template=template.name,
            template_version=template.version,
            temperature=temperature_for(iteration, self.settings),
            iteration=iteration,
            hint=hint,
            reasoning=completion.reasoning,
        )
        # A check that needs no math-verify is committed with the attempt: one write instead of two.
        # A draft cut off at the token limit has no final answer to trust, whatever it said mid-way.
        reference = reference_answer_of(problem)
        quick = TRUNCATED if completion.truncated else await _parse(self.checker.quick_check, text, reference)
        checks = []

        def add(written: list[Attempt | Critique]) -> None:
            attempt.llm_call_id = completion.llm_call_id
            attempt.id = self.store.add_attempt(attempt)
            written.append(attempt)
            if quick is not None:
                checks.append(check_critique(attempt, quick))
                checks[0].id = self.store.add_critique(checks[0])
                written.append(checks[0])

        await self._commit_step(require_id(problem.id, "problem"), completion, add)
        return attempt, checks

    # -- the check/critique step ----------------------------------------------------------------

    async def _critique(
        self, problem: Problem, attempt: Attempt, existing: list[Critique], force_llm: bool = False
    ) -> list[Critique]:
        """Check the answer, then ask the LLM critic when the rules say so; each committed on its own."""
        written, check, stored_check = await self.check_step(problem, attempt, existing, force_llm)
        if force_llm or needs_llm_critic(stored_check.verdict, self.settings.loop.critic_when_correct):
            call = self.critic_call(problem, attempt, check)
            written.append(await self.commit_critic(call, problem, await self._complete(call.request)))
        return written

    async def check_step(
        self, problem: Problem, attempt: Attempt, existing: list[Critique], force: bool = False
    ) -> tuple[list[Critique], CheckResult, Critique]:
        """The answer check of the critique step, committed unless it already is: (written, check, stored)."""
        stored_check = None if force else latest_critique(existing, CritiqueSource.CHECK)
        if stored_check is not None:  # checked when the attempt was committed (or before a restart): not again
            return [], check_result_of(stored_check, attempt), stored_check
        cut_off = self.store.call_finish_reason(attempt.llm_call_id) in TRUNCATED_FINISH_REASONS
        check = TRUNCATED if cut_off else await self.checker.check(attempt.text, reference_answer_of(problem))
        stored_check = await self._commit_critique(require_id(problem.id, "problem"), check_critique(attempt, check))
        return [stored_check], check, stored_check

    def critic_call(self, problem: Problem, attempt: Attempt, check: CheckResult) -> StepCall:
        template = self.templates["critic"]
        stable = {  # the critic's system message: the same for every critique of the problem
            "problem": problem.text,
            "reference_answer": reference_answer_of(problem) or "(none given; judge from the reference solution)",
            "reference_solution": problem.reference_solution or "",
        }
        # Numbered by rel_core.steps, so the critic's "step 3" is the screen's and the export's step 3.
        prompt = template.render(**stable, attempt=numbered(attempt.text), check_note=_check_note(check))
        request = CompletionRequest(
            model=self.settings.critic,
            system=template.render_system(**stable),
            messages=[ChatMessage(role="user", content=prompt)],
            max_tokens=min(CRITIC_MAX_TOKENS, self.settings.loop.max_tokens),
            purpose="critic",
            problem_id=problem.id,
        )
        return StepCall(Step.CRITIQUE, request, template, attempt, attempt.iteration, check=check)

    async def commit_critic(self, call: StepCall, problem: Problem, completion: Completion) -> Critique:
        """Commit the critique a critic call's completion makes."""
        check, attempt = call.check, call.parent
        assert check is not None and attempt is not None  # critic_call sets both
        with self._metered(completion):
            parsed = await _parse(parse_verdict, completion.text)
            # When the check is decisive the verdict is the check's; the critic only explains.
            verdict = check.verdict if check.decisive else parsed.verdict
            critique = Critique(
                attempt_id=attempt.id,
                verdict=verdict,
                first_error_step=parsed.first_error_step if verdict != Verdict.CORRECT else None,
                error_description=parsed.error_description,
                source=CritiqueSource.LLM,
                model=_model_name(self.settings.critic, completion),
                raw=parsed.raw,
            )
            return await self._commit_critique(require_id(problem.id, "problem"), critique, completion)

    async def _commit_critique(self, problem_id: int, critique: Critique, completion: Completion | None = None) -> Critique:
        def add(written: list[Attempt | Critique]) -> None:
            if completion is not None:
                critique.llm_call_id = completion.llm_call_id
            critique.id = self.store.add_critique(critique)
            written.append(critique)
            record_check_disagreement(
                self.store, require_id(critique.attempt_id, "critique's attempt")
            )  # the check rules on the critic

        await self._commit_step(problem_id, completion, add)
        return critique

    # -- persistence helpers ------------------------------------------------------------------

    async def _commit_step(
        self,
        problem_id: int,
        completion: Completion | None,
        add: Callable[[list[Attempt | Critique]], None],
        sets_state: bool = False,
    ) -> None:
        """`add`'s rows as one step (`_step_commit`), committed when this returns: during `--auto`,
        in the COMMIT this turn of the event loop shares (`Store.group_commits`)."""

        def write() -> None:
            with self._step_commit(problem_id, completion, sets_state) as written:
                add(written)

        await self.store.write(write)

    @contextmanager
    def _step_commit(
        self, problem_id: int, completion: Completion | None = None, sets_state: bool = False
    ) -> Iterator[list[Attempt | Critique]]:
        """One write transaction for a step's rows (the body appends them to the list it is given): the
        call's llm_calls row goes with them, and, during `run_problem`, the problem's final state
        when these rows end the loop. Killed at any moment, a step is all there or not there at all."""
        written: list[Attempt | Critique] = []
        with self.store.transaction():
            if self.lease_owner and not self.store.holds_claim(problem_id, self.lease_owner):
                raise LeaseLost(f"problem {problem_id} was claimed by another worker")
            if completion is not None and completion.call_record is not None:
                completion.llm_call_id = self.store.log_call_row(completion.call_record)
            yield written
            settled = self._settle_if_done(problem_id, written)
            if problem_id in self._starting and not (settled or sets_state):  # in progress from the loop's first write on
                self.store.set_state(problem_id, ProblemState.IN_PROGRESS)
        self._starting.discard(problem_id)
        if completion is not None:
            completion.call_record = None  # committed

    def _settle_if_done(self, problem_id: int, written: list[Attempt | Critique]) -> bool:
        """Inside a step's transaction: when the rows just written end the loop, its final state too."""
        loop_step = self._loop_steps.get(problem_id)
        if loop_step is None:
            return False
        history = loop_step.history
        attempts = [row for row in written if isinstance(row, Attempt)]
        critiques = [row for row in written if isinstance(row, Critique)]
        loop_step.history = history.model_copy(
            update={"attempts": history.attempts + attempts, "critiques": history.critiques + critiques}
        )
        step = plan_next(loop_step.history, self.settings)
        state = SETTLED_STATES.get(step.step)
        if state is not None:
            self.store.set_state(problem_id, state, step.detail, release=True)
            loop_step.settled = state
        return state is not None

    @contextmanager
    def _metered(self, completion: Completion) -> Iterator[None]:
        """A call whose step never commits (an error, a cancelled task, a lost claim) is still a call
        that was paid for: its llm_calls row is then written on its own."""
        try:
            yield
        except BaseException:
            row, completion.call_record = completion.call_record, None
            if row is not None:
                try:
                    completion.llm_call_id = self.store.log_call_row(row)
                except sqlite3.Error as exc:  # e.g. the disk is full: the step's own error is the one to raise
                    log.warning("an LLM call's row could not be written (%s)", exc)
            raise

    @contextmanager
    def taking_up(self, problem_id: int) -> Iterator[None]:
        """While the loop works the problem: its first commit also marks it in progress."""
        self._starting.add(problem_id)
        try:
            yield
        finally:
            self._starting.discard(problem_id)

    async def commit_state(self, problem_id: int, state: ProblemState, detail: str | None = None, release: bool = False) -> None:
        """Set the problem's state as a step of its own: only while the claim is ours (`lease_owner`)."""
        await self._commit_step(
            problem_id, None, lambda _: self.store.set_state(problem_id, state, detail, release=release), sets_state=True
        )

    def _history(self, problem_id: int) -> ProblemHistory:
        history = self.store.history(problem_id)
        if history is None:
            raise KeyError(f"no problem {problem_id}")
        return history


async def _parse(parse: Callable[..., Parsed], text: str, *args: Any) -> Parsed:
    """`parse(text, *args)`: at once for ordinary texts, in a thread for huge ones (CPU-bound)."""
    if len(text) <= INLINE_PARSE_CHARS:
        return parse(text, *args)
    return await asyncio.to_thread(parse, text, *args)


def check_critique(attempt: Attempt, check: CheckResult) -> Critique:
    return Critique(
        attempt_id=attempt.id,
        verdict=check.verdict,
        source=CritiqueSource.CHECK,
        model=CHECK_MODEL,
        raw=check.note,
    )


def _check_note(check: CheckResult) -> str:
    if check.answer is None and check.decisive and check.verdict == Verdict.INCORRECT:
        return (
            "The draft stopped at the length limit before it reached a final answer. Set verdict to "
            '"incorrect" and describe what it still has to do, more concisely, to finish.'
        )
    if check.decisive and check.verdict == Verdict.INCORRECT:
        return (
            f"An automatic check has already established that the student's final answer ({check.answer}) "
            'is not equivalent to the correct answer. Set verdict to "incorrect" and concentrate on '
            "finding the first step that goes wrong and describing the mistake."
        )
    if check.decisive:
        return (
            "An automatic check has already established that the final answer is correct. Set verdict to "
            '"correct" and use error_description for any flaw in the reasoning worth fixing.'
        )
    return ""


def _model_name(spec: str, completion: Completion) -> str:
    """`provider:model` as the server named the model (it may differ from the requested alias)."""
    try:
        provider, _ = split_spec(spec)
    except ProviderError:
        return completion.model
    return f"{provider}:{completion.model}" if completion.model else spec
