"""The loop's pure planner: given what the database holds for a problem, which step comes next.

For each problem: generate -> check/critique -> (incorrect, revisions left) revise with the
critic's hint -> ... -> final rewrite with the reference solution -> check -> (correct) optional
clean-up -> awaiting review; a final rewrite that is still wrong -> failed, every attempt kept.

Nothing here does I/O: no store, no provider, no answer-check worker. The engine
(rel_core/loop.py) and the batch driver (rel_core/batch.py) read a problem's history, ask
`plan_next`, perform the step and commit it, then ask again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .answers import last_boxed
from .config import Settings
from .models import (
    Attempt,
    AttemptKind,
    Critique,
    CritiqueSource,
    Problem,
    ProblemHistory,
    ProblemState,
    Verdict,
)
from .verdicts import latest, loop_verdict

LOOP_KINDS = (AttemptKind.GENERATED, AttemptKind.REVISED, AttemptKind.FINAL_REWRITE, AttemptKind.CLEANED)
LOOP_STATES = (ProblemState.PENDING, ProblemState.IN_PROGRESS, ProblemState.ERRORED)
DECIDED_STATES = (ProblemState.ACCEPTED, ProblemState.REJECTED)
GENERIC_HINT = (
    "The final answer is not correct. Go back over each step, re-check the assumptions, the cases "
    "considered and the arithmetic, and find where the reasoning goes wrong."
)


class Step(StrEnum):
    GENERATE = "generate"
    CRITIQUE = "critique"
    REVISE = "revise"
    FINAL_REWRITE = "final_rewrite"
    CLEANUP = "cleanup"
    DONE = "done"  # -> awaiting_review
    FAILED = "failed"


# The problem's state once the planner says the loop is over.
SETTLED_STATES = {Step.DONE: ProblemState.AWAITING_REVIEW, Step.FAILED: ProblemState.FAILED}


@dataclass(frozen=True)
class NextStep:
    step: Step
    attempt: Attempt | None = None  # the attempt the step works on
    iteration: int = 0  # iteration of the attempt the step will create
    detail: str | None = None  # why the problem is done or failed


def loop_chain(history: ProblemHistory) -> list[Attempt]:
    """The loop's attempts since its latest fresh generation, oldest first."""
    generated = [i for i, a in enumerate(history.attempts) if a.kind == AttemptKind.GENERATED]
    if not generated:
        return []
    return [a for a in history.attempts[generated[-1] :] if a.kind in LOOP_KINDS]


def latest_critique(critiques: list[Critique], source: CritiqueSource) -> Critique | None:
    return latest(critiques, source)


def needs_llm_critic(check_verdict: Verdict, critic_when_correct: bool) -> bool:
    """Not decisive -> the critic judges; decisive wrong -> it explains; decisive right -> optional."""
    return check_verdict != Verdict.CORRECT or critic_when_correct


def outcome(critiques: list[Critique]) -> Verdict | None:
    """The attempt's verdict once its check step is complete, else None (rel_core.verdicts.loop_verdict)."""
    return loop_verdict(critiques)


def check_step_done(critiques: list[Critique], critic_when_correct: bool) -> bool:
    """The attempt is checked, and judged by the LLM critic where the rules ask for it."""
    check = latest_critique(critiques, CritiqueSource.CHECK)
    if check is None:
        return False
    return not needs_llm_critic(check.verdict, critic_when_correct) or latest_critique(critiques, CritiqueSource.LLM) is not None


def plan_next(history: ProblemHistory, settings: Settings) -> NextStep:
    """The one step that comes next for this problem, from its committed attempts and critiques."""
    chain = loop_chain(history)
    if not chain:
        return NextStep(Step.GENERATE, iteration=0)
    last = chain[-1]
    critiques = history.critiques_for(last.id)
    if not check_step_done(critiques, settings.loop.critic_when_correct):
        return NextStep(Step.CRITIQUE, last, last.iteration)
    correct = outcome(critiques) == Verdict.CORRECT
    following = last.iteration + 1
    if last.kind in (AttemptKind.GENERATED, AttemptKind.REVISED):
        if correct:
            return NextStep(Step.DONE, last, detail=None)
        revisions = sum(1 for a in chain if a.kind == AttemptKind.REVISED)
        if revisions < settings.loop.max_iterations:
            return NextStep(Step.REVISE, last, following)
        if history.problem.reference_solution or history.problem.reference_answer:
            return NextStep(Step.FINAL_REWRITE, last, following)
        return NextStep(Step.FAILED, last, detail="no reference solution for the final rewrite")
    if last.kind == AttemptKind.FINAL_REWRITE:
        if not correct:
            return NextStep(Step.FAILED, last, detail="the final rewrite with the reference solution is not verified")
        if settings.loop.cleanup:
            return NextStep(Step.CLEANUP, last, following)
        return NextStep(Step.DONE, last)
    detail = None if correct else "the clean-up pass is not verified; the final rewrite before it is"
    return NextStep(Step.DONE, last, detail=detail)


def temperature_for(iteration: int, settings: Settings) -> float:
    """The generator's temperature for an attempt of this iteration: it decays as the loop goes on."""
    return round(settings.loop.temperature * settings.loop.temperature_decay**iteration, 6)


def reference_answer_of(problem: Problem) -> str | None:
    """The reference answer, or else the last \\boxed{} of the reference solution."""
    if problem.reference_answer and problem.reference_answer.strip():
        return problem.reference_answer
    return last_boxed(problem.reference_solution or "")


def hint_from(critiques: list[Critique]) -> str:
    """The critic's explanation of the error, phrased as a hint for the revision."""
    llm = latest_critique(critiques, CritiqueSource.LLM)
    if llm is None or not llm.error_description:
        return GENERIC_HINT
    if llm.first_error_step:
        return f"The first error is in step {llm.first_error_step}. {llm.error_description}"
    return llm.error_description
