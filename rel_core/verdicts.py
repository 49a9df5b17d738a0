"""What each judge says about an attempt, how they combine, and what "verified" means.

The one place for these rules: the loop, the store, the exporters and every screen call it.

An attempt has up to four judges, each read on its own (the latest critique per source):
- the answer check (CHECK critiques, math-verify) compares the final answer `extract_answer`
  finds in the attempt's text with the problem's reference answer. `unknown` when it cannot
  decide (no reference, free text, no final answer, a timeout). A draft cut off at the token
  limit is `incorrect` and compared nothing: its answer is not trusted.
- the LLM critic (LLM critiques) says what its reply says. The loop stores the check's verdict
  in the critic's row when the check is decisive (that row's verdict is what the loop acted on),
  so the critic's own verdict and first wrong step are read from its raw reply where it is kept.
- an imported verdict (IMPORTED critiques, such as REL's `is_correct`) is shown, never trusted.
- the expert: the standing accept or reject of the problem, with the reject reason.

The standing of an attempt combines the trusted automatic judges, the answer check and the LLM
critic: None when neither has spoken; otherwise the verdict of those that decided (correct or
incorrect) when they agree, `disputed` when they disagree, and `unknown` when none decided. The
expert's decision is shown beside the standing and never folded into it: the standing is what
the expert decides from.

`verified` (the store and the exports): True when the standing is correct, False when it is
incorrect, None otherwise (unknown, disputed, or nothing but an imported verdict). An expert's
accept is recorded as the decision; it does not make an attempt verified.

The loop acts on `loop_verdict`: the standing, except that a decisive answer check settles a
dispute, because the reference answer is what the loop works towards (the expert still sees it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from functools import lru_cache

from pydantic import BaseModel

from .answers import CheckResult, extract_answer
from .critic import ParsedVerdict, parse_verdict
from .models import (
    Attempt,
    Critique,
    CritiqueSource,
    Decision,
    ProblemHistory,
    Review,
    Standing,
    Verdict,
)

# The check given to a draft that stopped at the token limit: marked wrong, so the loop revises it.
TRUNCATED_CHECK = CheckResult(
    Verdict.INCORRECT, True, None, "the draft stopped at the token limit before it finished; its answer is not trusted"
)
SYMBOL = {Verdict.CORRECT: "✓", Verdict.INCORRECT: "✗", Verdict.UNKNOWN: "?"}
STANDING_LABEL = {
    Standing.CORRECT: "✓ correct",
    Standing.INCORRECT: "✗ incorrect",
    Standing.UNKNOWN: "? unknown",
    Standing.DISPUTED: "disputed",
}
NO_VERDICT = "no verdict"


class Judge(StrEnum):
    CHECK = "check"
    CRITIC = "critic"
    IMPORTED = "imported"


JUDGE_NAME = {Judge.CHECK: "answer check", Judge.CRITIC: "critic", Judge.IMPORTED: "imported verdict"}


class Judgement(BaseModel):
    """One judge's word on one attempt."""

    judge: Judge
    verdict: Verdict
    model: str | None = None
    first_error_step: str | None = None
    explanation: str | None = None
    trusted: bool = True

    @property
    def decided(self) -> bool:
        return self.verdict != Verdict.UNKNOWN


class AnswerCheck(Judgement):
    """The answer check, with what it compared."""

    answer: str | None = None  # the final answer found in the text, None if none (or cut off)
    reference: str | None = None
    recorded_answer: str | None = None  # the attempt's stored final answer, when it differs
    note: str | None = None
    truncated: bool = False


class ExpertDecision(BaseModel):
    """The expert's standing accept or reject of the problem."""

    decision: Decision
    annotator: str
    reason: str | None = None
    attempt_id: int | None = None
    on_this_attempt: bool = True


class VerdictSummary(BaseModel):
    check: AnswerCheck | None = None
    critic: Judgement | None = None
    imported: Judgement | None = None
    expert: ExpertDecision | None = None
    standing: Standing | None = None

    @property
    def judgements(self) -> list[Judgement]:
        return [j for j in (self.check, self.critic, self.imported) if j is not None]

    @property
    def objections(self) -> list[Judgement]:
        """The judges that mark the attempt wrong: accepting it deserves a second look."""
        return [j for j in self.judgements if j.verdict == Verdict.INCORRECT]

    @property
    def label(self) -> str:
        return standing_label(self.standing, self.check, self.critic)


# -- one judge at a time -------------------------------------------------------------------


def latest(critiques: Iterable[Critique], source: CritiqueSource) -> Critique | None:
    """The latest critique from one source (critiques are in id order)."""
    found = None
    for critique in critiques:
        if critique.source == source:
            found = critique
    return found


def is_truncated_check(critique: Critique) -> bool:
    return critique.source == CritiqueSource.CHECK and critique.raw == TRUNCATED_CHECK.note


def compared_answer(check: Critique, attempt: Attempt) -> str | None:
    """The answer a stored check compared: what the checker extracts from the text, none if cut off."""
    return None if is_truncated_check(check) else extract_answer(attempt.text)


def check_result_of(check: Critique, attempt: Attempt) -> CheckResult:
    """A stored check as the CheckResult that made it (for the critic's instructions)."""
    if is_truncated_check(check):
        return TRUNCATED_CHECK
    reason = (check.raw or "").removeprefix("answer check: ")
    return CheckResult(check.verdict, check.verdict != Verdict.UNKNOWN, compared_answer(check, attempt), reason)


def answer_check(
    critiques: Sequence[Critique], attempt: Attempt | None = None, reference: str | None = None
) -> AnswerCheck | None:
    """The answer check's verdict on the attempt and (given the attempt) what it compared;
    None if it has not run."""
    check = latest(critiques, CritiqueSource.CHECK)
    if check is None:
        return None
    answer = compared_answer(check, attempt) if attempt else None
    recorded = attempt.final_answer if attempt and attempt.final_answer and attempt.final_answer != answer else None
    return AnswerCheck(
        judge=Judge.CHECK,
        verdict=check.verdict,
        model=check.model,
        answer=answer,
        reference=reference,
        recorded_answer=recorded,
        note=check.raw,
        truncated=is_truncated_check(check),
    )


def critic_judgement(critique: Critique) -> Judgement:
    """What one critic row says, in the critic's own words where its reply is kept."""
    verdict, step, explanation = critique.verdict, critique.first_error_step, critique.error_description
    if critique.source == CritiqueSource.LLM and critique.raw:
        parsed = _own_word(critique.raw)
        verdict, step = parsed.verdict, parsed.first_error_step or step
        explanation = explanation or parsed.error_description
    return Judgement(
        judge=Judge.IMPORTED if critique.source == CritiqueSource.IMPORTED else Judge.CRITIC,
        verdict=verdict,
        model=critique.model,
        first_error_step=step if verdict != Verdict.CORRECT else None,
        explanation=explanation,
        trusted=critique.source != CritiqueSource.IMPORTED,
    )


@lru_cache(maxsize=512)
def _own_word(raw: str) -> ParsedVerdict:
    """The critic's reply, parsed. Memoised: a queue page re-reads the same replies (up to ~16 kB each)."""
    return parse_verdict(raw)


def critic_verdict(critiques: Sequence[Critique], source: CritiqueSource = CritiqueSource.LLM) -> Judgement | None:
    """The latest verdict of one critic source (LLM or IMPORTED); None if it never spoke."""
    critique = latest(critiques, source)
    return None if critique is None else critic_judgement(critique)


def expert_decision(reviews: Sequence[Review], attempt: Attempt | None) -> ExpertDecision | None:
    """The latest live accept or reject of the problem (undone ones and skips do not stand)."""
    for review in reversed(reviews):
        if review.undone_at is None and review.decision in (Decision.ACCEPTED, Decision.REJECTED):
            return ExpertDecision(
                decision=review.decision,
                annotator=review.annotator,
                reason=review.note if review.decision == Decision.REJECTED else None,
                attempt_id=review.attempt_id,
                on_this_attempt=attempt is not None and review.attempt_id == attempt.id,
            )
    return None


# -- together ----------------------------------------------------------------------------------


def combine(check: Judgement | None, critic: Judgement | None) -> Standing | None:
    """The standing of the trusted automatic judges (see the module docstring)."""
    spoken = [j for j in (check, critic) if j is not None]
    if not spoken:
        return None
    decided = {j.verdict for j in spoken if j.decided}
    if len(decided) > 1:
        return Standing.DISPUTED
    if decided:
        return Standing(decided.pop())
    return Standing.UNKNOWN


def summarise(
    critiques: Sequence[Critique],
    attempt: Attempt | None = None,
    reviews: Sequence[Review] = (),
    reference: str | None = None,
) -> VerdictSummary:
    """Every judge of one attempt; `critiques` are the attempt's, in id order. Without the
    attempt, the check's compared answer and the expert are left out."""
    check = answer_check(critiques, attempt, reference)
    critic = critic_verdict(critiques, CritiqueSource.LLM)
    return VerdictSummary(
        check=check,
        critic=critic,
        imported=critic_verdict(critiques, CritiqueSource.IMPORTED),
        expert=expert_decision(reviews, attempt) if attempt else None,
        standing=combine(check, critic),
    )


def summary_of(history: ProblemHistory, attempt: Attempt, reference: str | None = None) -> VerdictSummary:
    """`summarise` for an attempt of this history (critiques_for matches on attempt_id)."""
    critiques = [c for c in history.critiques if c.attempt_id == attempt.id]
    return summarise(critiques, attempt, history.reviews, reference)


def attempt_of_record(history: ProblemHistory) -> Attempt | None:
    """The attempt an item stands for: the accepted one, else the latest."""
    return history.accepted_attempt or history.latest_attempt


def verified(critiques: Sequence[Critique]) -> bool | None:
    """True when the attempt's standing is correct, False when incorrect, None otherwise
    (see the module docstring); `critiques` are the attempt's, in id order."""
    standing = summarise(critiques).standing
    if standing == Standing.CORRECT:
        return True
    if standing == Standing.INCORRECT:
        return False
    return None


def loop_verdict(critiques: Sequence[Critique]) -> Verdict | None:
    """What the loop acts on once the attempt is checked (None before): the standing, a dispute
    settled by the decisive answer check."""
    check = latest(critiques, CritiqueSource.CHECK)
    if check is None:
        return None
    if check.verdict != Verdict.UNKNOWN:
        return check.verdict
    critic = critic_verdict(critiques, CritiqueSource.LLM)
    return critic.verdict if critic else Verdict.UNKNOWN


# -- in words -----------------------------------------------------------------------------------


def standing_label(standing: Standing | None, check: Judgement | None, critic: Judgement | None) -> str:
    """ "✓ correct", "? unknown", or for a dispute which judge says what: "disputed: ✓ check · ✗ critic"."""
    if standing is None:
        return NO_VERDICT
    if standing != Standing.DISPUTED:
        return STANDING_LABEL[standing]
    sides = [f"{SYMBOL[j.verdict]} {j.judge}" for j in (check, critic) if j is not None and j.decided]
    return f"disputed: {' · '.join(sides)}"


def said(judgement: Judgement) -> str:
    """What one judge said, e.g. "✗ incorrect (step 3)"."""
    step = f" ({step_name(judgement.first_error_step)})" if judgement.first_error_step else ""
    return f"{SYMBOL[judgement.verdict]} {judgement.verdict}{step}"


def step_name(step: str) -> str:
    """ "3" -> "step 3"; a critic that already wrote "Step 3" is left alone."""
    return step if step.lower().startswith("step") else f"step {step}"


def objection_text(judgement: Judgement) -> str:
    """One judge's objection, e.g. "The critic (openai:gpt-4o) marks this attempt wrong (step 3)"."""
    by = JUDGE_NAME[judgement.judge]
    if judgement.model and judgement.judge != Judge.CHECK:
        by += f" ({judgement.model})"
    detail = ""
    if isinstance(judgement, AnswerCheck):
        if judgement.truncated:
            detail = " (the draft stopped at the token limit)"
        elif judgement.answer is not None:
            detail = f" ({judgement.answer} against the reference {judgement.reference or '?'})"
    elif judgement.first_error_step:
        detail = f" ({step_name(judgement.first_error_step)})"
    untrusted = "" if judgement.trusted else ", not trusted,"
    return f"The {by}{untrusted} marks this attempt wrong{detail}."
