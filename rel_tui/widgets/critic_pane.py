"""The Critic pane: every judge of the shown attempt, each labelled with its source, and the attempt history.

What each judge says and how they combine is rel_core.verdicts; this pane only draws it.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from rel_core import verdicts
from rel_core.checking import is_checkable
from rel_core.labels import Ruling, RulingAspect, RulingSource, standing_ruling
from rel_core.models import Attempt, Decision, ProblemHistory, Standing, Verdict
from rel_core.planner import reference_answer_of
from rel_core.verdicts import AnswerCheck, ExpertDecision, Judgement, VerdictSummary
from rel_tui.latex import displayable, readable_answer, readable_math

VERDICT_STYLE = {
    Verdict.CORRECT: ("✓ correct", "bold $text-success"),
    Verdict.INCORRECT: ("✗ incorrect", "bold $text-error"),
    Verdict.UNKNOWN: ("? unknown", "bold $text-warning"),
}
STANDING_STYLE = {
    Standing.CORRECT: ("✓", "bold $text-success"),
    Standing.INCORRECT: ("✗", "bold $text-error"),
    Standing.UNKNOWN: ("?", "bold $text-warning"),
    Standing.DISPUTED: ("!", "bold $text-warning"),
}
DECISION_STYLE = {
    Decision.ACCEPTED: ("✓ accepted", "bold $text-success"),
    Decision.REJECTED: ("✗ rejected", "bold $text-error"),
}


def _literal(text: str | None) -> str:
    return displayable(readable_math(text or ""))


def _answer(text: str) -> str:
    """An answer field: a bare `\\frac{1}{2}` reads as maths too."""
    return displayable(readable_answer(text))


def verdict_content(verdict: Verdict | None, symbol_only: bool = False) -> Content:
    if verdict is None:
        return Content.styled("–" if symbol_only else "– no verdict", "$text-muted")
    label, style = VERDICT_STYLE[Verdict(verdict)]
    return Content.styled(label[0] if symbol_only else label, style)


def standing_content(summary: VerdictSummary, symbol_only: bool = False) -> Content:
    """The combined verdict: "✓ correct", or "disputed: ✓ check · ✗ critic"."""
    if summary.standing is None:
        return Content.styled("–" if symbol_only else verdicts.NO_VERDICT, "$text-muted")
    symbol, style = STANDING_STYLE[summary.standing]
    return Content.styled(symbol if symbol_only else summary.label, style)


def field(label: str, value: Content | str | None) -> Content:
    body = value if isinstance(value, Content) else Content(_literal(value) if value else "–")
    return Content.assemble((f"{label}\n", "bold $text-secondary"), body, "\n\n")


def _muted(text: str) -> Content:
    return Content.styled(text, "$text-muted")


def _by(model: str | None) -> Content:
    """Which model or tool the judge is, after its verdict."""
    return _muted(f" · {displayable(model)}") if model else Content("")


def _ruling_rows(rulings: Sequence[Ruling]) -> list[Content | str]:
    """The standing rulings on the critique: the expert's per aspect, and the answer check's disagreement."""
    rows: list[Content | str] = []
    critique_ids = {r.critique_id for r in rulings}
    for critique_id in critique_ids:
        for aspect, what in ((RulingAspect.VERDICT, "verdict"), (RulingAspect.FIRST_ERROR_STEP, "step")):
            expert = standing_ruling(rulings, critique_id, aspect, RulingSource.EXPERT)
            if expert is not None:
                ruled = Content.styled("agree", "$text-success") if expert.agrees else Content.styled("disagree", "$text-error")
                rows += [f"\n{displayable(expert.annotator or 'expert')} on the {what}: ", ruled]
        check = standing_ruling(rulings, critique_id, RulingAspect.VERDICT, RulingSource.ANSWER_CHECK)
        if check is not None:
            rows.append(Content.styled("\nanswer check: disagrees with this verdict", "$text-warning"))
    return rows


class CriticPane(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static(id="critic-body")

    def show(self, history: ProblemHistory, attempt: Attempt | None, rulings: Sequence[Ruling] = ()) -> None:
        """`rulings`: those on the attempt's latest LLM critique (the one shown)."""
        self.border_title = "Critic"
        parts = [self._judges(history, attempt, rulings), self._history(history, attempt)]
        self.query_one("#critic-body", Static).update(Content.assemble(*parts))
        self.scroll_home(animate=False)

    def _judges(self, history: ProblemHistory, attempt: Attempt | None, rulings: Sequence[Ruling] = ()) -> Content:
        if attempt is None:
            return field("Verdict", Content.styled("no attempt yet", "$text-muted"))
        summary = verdicts.summary_of(history, attempt, reference_answer_of(history.problem))
        parts = [
            field("Verdict (all judges)", standing_content(summary)),
            self._check(summary.check, is_checkable(history.problem)),
            self._critic(summary.critic, "LLM critic", rulings),
        ]
        if summary.imported is not None:
            parts.append(self._critic(summary.imported, "Imported verdict (not trusted)"))
        parts.append(self._expert(summary.expert, history))
        return Content.assemble(*parts)

    @staticmethod
    def _check(check: AnswerCheck | None, checkable: bool = True) -> Content:
        label = "Answer check"
        if check is None:  # the words `rel-tui check` uses for a problem with no reference answer
            return field(label, _muted("not run" if checkable else "not checkable (no reference answer)"))
        if check.truncated:
            compared = "compared nothing: the draft stopped at the token limit"
        elif check.answer is None:
            compared = "no final answer found in the draft"
        else:
            reference = _answer(check.reference) if check.reference else "–"
            compared = f"compared {_answer(check.answer)} with the reference {reference}"
        rows: list[Content | str] = [verdict_content(check.verdict), _by(check.model), "\n", compared]
        if check.recorded_answer:
            rows.append(_muted(f"\n(the draft's recorded answer is {_answer(check.recorded_answer)})"))
        if check.note:
            rows.append(_muted(f"\n{_literal(check.note)}"))
        return field(label, Content.assemble(*rows))

    @staticmethod
    def _critic(critic: Judgement | None, name: str, rulings: Sequence[Ruling] = ()) -> Content:
        if critic is None:
            return field(name, _muted("not run"))
        rows: list[Content | str] = [verdict_content(critic.verdict), _by(critic.model)]
        if critic.first_error_step:
            rows.append(f"\nFirst wrong step: {_literal(critic.first_error_step)}")
        if critic.explanation:
            rows.append(f"\n{_literal(critic.explanation)}")
        rows += _ruling_rows(rulings)
        return field(name, Content.assemble(*rows))

    @staticmethod
    def _expert(expert: ExpertDecision | None, history: ProblemHistory) -> Content:
        if expert is None:
            return field("Expert", _muted("no decision yet"))
        label, style = DECISION_STYLE[expert.decision]
        rows: list[Content | str] = [Content.styled(label, style), f" by {displayable(expert.annotator)}"]
        if not expert.on_this_attempt:
            ids = [a.id for a in history.attempts]
            which = f"attempt {ids.index(expert.attempt_id) + 1}" if expert.attempt_id in ids else "no attempt"
            rows.append(_muted(f" (on {which}, not this one)"))
        if expert.reason:
            rows.append(f"\nReason: {_literal(expert.reason)}")
        return field("Expert", Content.assemble(*rows))

    @staticmethod
    def _history(history: ProblemHistory, shown: Attempt | None) -> Content:
        rows: list[Content | str] = [Content.styled("Attempts\n", "bold $text-secondary")]
        for number, attempt in enumerate(history.attempts, start=1):
            summary = verdicts.summary_of(history, attempt)
            marker = "▶ " if shown and attempt.id == shown.id else "  "
            rows += [marker, standing_content(summary, symbol_only=True), f" {number}. {attempt.kind}\n"]
            if attempt.model:  # imported drafts name no model
                rows.append(Content.styled(f"     {displayable(attempt.model)}\n", "$text-muted"))
            if attempt.hint:
                rows += [Content.styled(f"     hint: {_literal(attempt.hint)[:200]}\n", "$text-muted")]
        for review in history.reviews:
            undone = " (undone)" if review.undone_at else ""
            rows.append(Content.styled(f"  {review.decision} by {displayable(review.annotator)}{undone}\n", "$text-muted"))
        return Content.assemble(*rows)
