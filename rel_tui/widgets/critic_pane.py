"""The Critic pane: the verdict on the shown attempt, the answer check, and the attempt history."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from rel_core.models import Attempt, Critique, CritiqueSource, ProblemHistory, Verdict
from rel_tui.latex import displayable, readable_math

VERDICT_STYLE = {
    Verdict.CORRECT: ("✓ correct", "bold $text-success"),
    Verdict.INCORRECT: ("✗ incorrect", "bold $text-error"),
    Verdict.UNKNOWN: ("? unknown", "bold $text-warning"),
}


def _literal(text: str | None) -> str:
    return displayable(readable_math(text or ""))


def verdict_content(verdict: Verdict | None, symbol_only: bool = False) -> Content:
    if verdict is None:
        return Content.styled("–" if symbol_only else "– no verdict", "$text-muted")
    label, style = VERDICT_STYLE[Verdict(verdict)]
    return Content.styled(label[0] if symbol_only else label, style)


def field(label: str, value: Content | str | None) -> Content:
    body = value if isinstance(value, Content) else Content(_literal(value) if value else "–")
    return Content.assemble((f"{label}\n", "bold $text-secondary"), body, "\n\n")


def _verdict_label(judge: Critique | None) -> str:
    if judge is None:
        return "Verdict"
    by = "answer check" if judge.source == CritiqueSource.CHECK else str(judge.source)
    return f"Verdict ({by}{' · ' + displayable(judge.model) if judge.model else ''})"


class CriticPane(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static(id="critic-body")

    def show(self, history: ProblemHistory, attempt: Attempt | None) -> None:
        self.border_title = "Critic"
        parts = [self._critique(history, attempt), self._history(history, attempt)]
        self.query_one("#critic-body", Static).update(Content.assemble(*parts))
        self.scroll_home(animate=False)

    def _critique(self, history: ProblemHistory, attempt: Attempt | None) -> Content:
        if attempt is None:
            return field("Verdict", Content.styled("no attempt yet", "$text-muted"))
        critiques = history.critiques_for(attempt.id)
        critic = next((c for c in reversed(critiques) if c.source != CritiqueSource.CHECK), None)
        check = next((c for c in reversed(critiques) if c.source == CritiqueSource.CHECK), None)
        # A decisive answer check outranks the critic, as it does in the loop; the critic's word
        # counts where the check could not decide (free-text references) or did not run.
        decisive = check is not None and check.verdict != Verdict.UNKNOWN
        judge = check if decisive else (critic or check)
        return Content.assemble(
            field(_verdict_label(judge), verdict_content(judge.verdict if judge else None)),
            field("First wrong step", critic.first_error_step if critic else None),
            field("Error", critic.error_description if critic else None),
            field("Answer check", self._check(check, attempt)),
        )

    @staticmethod
    def _check(check: Critique | None, attempt: Attempt) -> Content:
        if check is None:
            return Content.styled("not run", "$text-muted")
        answer = f"  (answer: {_literal(attempt.final_answer)})" if attempt.final_answer else ""
        note = f"\n{_literal(check.raw)}" if check.raw else ""
        return Content.assemble(verdict_content(check.verdict), answer, Content.styled(note, "$text-muted"))

    @staticmethod
    def _history(history: ProblemHistory, shown: Attempt | None) -> Content:
        rows: list[Content | str] = [Content.styled("Attempts\n", "bold $text-secondary")]
        for number, attempt in enumerate(history.attempts, start=1):
            critiques = history.critiques_for(attempt.id)
            verdict = critiques[-1].verdict if critiques else None
            marker = "▶ " if shown and attempt.id == shown.id else "  "
            rows += [marker, verdict_content(verdict, symbol_only=True), f" {number}. {attempt.kind}\n"]
            if attempt.model:  # imported drafts name no model
                rows.append(Content.styled(f"     {displayable(attempt.model)}\n", "$text-muted"))
            if attempt.hint:
                rows += [Content.styled(f"     hint: {_literal(attempt.hint)[:200]}\n", "$text-muted")]
        for review in history.reviews:
            undone = " (undone)" if review.undone_at else ""
            rows.append(Content.styled(f"  {review.decision} by {displayable(review.annotator)}{undone}\n", "$text-muted"))
        return Content.assemble(*rows)
