"""The deterministic answer check for attempts the loop did not write (imports, expert edits).

The loop checks its own attempts as it goes; imported drafts arrive with none. `check_attempt`
runs the same check (math-verify via AnswerChecker, no LLM) and stores the same CHECK critique,
once per attempt, so the review screen, `rel-tui check` and the export's `verified` can use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .answers import AnswerChecker, CheckResult, extract_answer, strip_math_delimiters
from .labels import record_check_disagreement
from .loop import check_critique
from .models import Attempt, Critique, CritiqueSource, Problem, ProblemHistory, ProblemState, Verdict, require_id
from .planner import latest_critique, reference_answer_of
from .store import Store


def is_checkable(problem: Problem) -> bool:
    """Whether the problem has a reference answer (or a \\boxed{} in its reference solution)."""
    return reference_answer_of(problem) is not None


def check_of(history: ProblemHistory, attempt: Attempt) -> Critique | None:
    """The attempt's latest CHECK critique in this history, if it has one."""
    return latest_critique(history.critiques_for(attempt.id), CritiqueSource.CHECK)


def _stored_check(store: Store, attempt: Attempt) -> Critique | None:
    history = store.history(require_id(attempt.problem_id, "the attempt's problem"))
    return check_of(history, attempt) if history else None


async def check_attempt(store: Store, checker: AnswerChecker, problem: Problem, attempt: Attempt) -> Critique | None:
    """Check the attempt's final answer against the problem's reference and store a CHECK critique.

    Returns the stored critique (an earlier one if the attempt was already checked: never two),
    or None when the problem has no reference answer to check against. A check math-verify
    cannot decide (free text, unparsable, too slow) is stored as `unknown`, as the loop does.
    """
    reference = reference_answer_of(problem)
    if reference is None:
        return None
    earlier = _stored_check(store, attempt)
    if earlier is not None:
        return earlier
    return _store_check(store, attempt, await checker.check(attempt.text, reference))


def quick_check_attempt(store: Store, checker: AnswerChecker, attempt: Attempt, problem: Problem) -> Critique | None:
    """`check_attempt` for the cases that need no math-verify (no final answer, an exact match,
    option letters, free text), at once and without waiting; None when math-verify has to look."""
    result = checker.quick_check(attempt.text, reference_answer_of(problem))
    return None if result is None else _store_check(store, attempt, result)


def _store_check(store: Store, attempt: Attempt, result: CheckResult) -> Critique:
    with store.transaction():
        # Look again inside the write lock: another process may have checked it meanwhile.
        earlier = _stored_check(store, attempt)
        if earlier is not None:
            return earlier
        critique = check_critique(attempt, result)
        critique.id = store.add_critique(critique)
        record_check_disagreement(store, require_id(attempt.id, "attempt"))  # an LLM critique it contradicts gets a ruling
    return critique


@dataclass
class CheckTally:
    """What one pass of `check_unchecked` did, per attempt."""

    correct: int = 0
    incorrect: int = 0
    undecided: int = 0
    not_checkable: int = 0  # the problem has no reference answer

    @property
    def checked(self) -> int:
        return self.correct + self.incorrect + self.undecided

    def add(self, critique: Critique | None) -> None:
        if critique is None:
            self.not_checkable += 1
        elif critique.verdict == Verdict.CORRECT:
            self.correct += 1
        elif critique.verdict == Verdict.INCORRECT:
            self.incorrect += 1
        else:
            self.undecided += 1


def unchecked_attempts(store: Store, states: Iterable[ProblemState] | None) -> Iterator[tuple[Problem, Attempt]]:
    """(problem, attempt) for every attempt with no CHECK critique, one problem's history at a time."""
    for problem_id in store.iter_problem_ids(states):
        history = store.history(problem_id)
        if history is None:  # deleted between pages
            continue
        for attempt in history.attempts:
            if check_of(history, attempt) is None:
                yield history.problem, attempt


async def check_unchecked(
    store: Store, checker: AnswerChecker, states: Iterable[ProblemState] | None = (ProblemState.AWAITING_REVIEW,)
) -> CheckTally:
    """Run `check_attempt` on every attempt without a CHECK critique, of problems in `states` (None: all)."""
    tally = CheckTally()
    for problem, attempt in unchecked_attempts(store, states):
        tally.add(await check_attempt(store, checker, problem, attempt))
    return tally


# -- plain integers, without math-verify ------------------------------------------------------------

# An integer as written, with an optional sign: math-verify reads it exactly (it rounds decimals to
# six places, so "0.1234567" equals "0.1234568" there: decimals are left to it). At most 15 digits.
_PLAIN_INTEGER = re.compile(r"[+-]?[0-9]{1,15}")


def plain_integer_verdict(reference: str, answer: str) -> CheckResult | None:
    """math-verify's verdict on two plain integers, found in-process; None for anything else."""
    gold, given = strip_math_delimiters(reference).strip(), strip_math_delimiters(answer).strip()
    if not (_PLAIN_INTEGER.fullmatch(gold) and _PLAIN_INTEGER.fullmatch(given)):
        return None
    if int(gold) == int(given):  # the words math-verify's verdict is stored with
        return CheckResult(Verdict.CORRECT, True, answer, f"{answer!r} is equivalent to the reference")
    return CheckResult(Verdict.INCORRECT, True, answer, f"{answer!r} is not equivalent to the reference")


class PlainNumberChecker(AnswerChecker):
    """AnswerChecker that decides two plain integers itself, as math-verify would: the common case of
    a numeric reference costs no round trip to a worker, and a run whose answers are all plain
    integers never starts the workers (each imports sympy: about a second of CPU)."""

    def quick_check(self, text: str, reference: str | None) -> CheckResult | None:
        quick = super().quick_check(text, reference)
        if quick is not None or reference is None:
            return quick
        answer = extract_answer(text)
        return plain_integer_verdict(reference, answer) if answer is not None else None

    async def check(self, text: str, reference: str | None) -> CheckResult:
        return self.quick_check(text, reference) or await super().check(text, reference)
