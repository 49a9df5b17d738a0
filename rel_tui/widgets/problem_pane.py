"""The Problem pane: the problem, its reference answer and (collapsed) the reference solution."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Collapsible, Static

from rel_core.models import Problem
from rel_tui.latex import displayable, readable_answer, readable_math
from rel_tui.widgets.rendered_draft import cap_lines


def readable(text: str | None) -> Content:
    """Database text as literal, readable content: never parsed as markup. Lines are capped as the
    draft's are (a 3 MB one-line problem would take seconds to lay out, and again to leave)."""
    return Content(displayable(readable_math(cap_lines(text or ""))))


class ProblemPane(VerticalScroll):
    """Below 120 columns it shows the problem's first lines (`-compact`) until 1 opens it all."""

    problem_id: int | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="problem-meta", classes="meta")
        yield Static(id="problem-text")
        yield Static(Content("Reference answer"), classes="label")
        yield Static(id="reference-answer")
        with Collapsible(title="Reference solution", collapsed=True, id="reference-solution-box"):
            yield Static(id="reference-solution")

    def show(self, problem: Problem) -> None:
        if problem.id != self.problem_id:
            self.query_one("#reference-solution-box", Collapsible).collapsed = True  # a new problem starts closed
        self.problem_id = problem.id
        self.border_title = f"Problem #{problem.id}"
        meta = [str(problem.state), problem.source, problem.subject, f"level {problem.level}" if problem.level else None]
        self.query_one("#problem-meta", Static).update(Content(displayable(" · ".join(m for m in meta if m))))
        self.query_one("#problem-text", Static).update(readable(problem.text))
        answer = (
            Content(displayable(readable_answer(problem.reference_answer)))
            if problem.reference_answer
            else Content.styled("none", "italic $text-muted")
        )
        self.query_one("#reference-answer", Static).update(answer)
        solution = problem.reference_solution or "(no reference solution)"
        self.query_one("#reference-solution", Static).update(readable(solution))
        self.scroll_home(animate=False)

    def toggle_reference(self) -> None:
        box = self.query_one("#reference-solution-box", Collapsible)
        box.collapsed = not box.collapsed
        if not box.collapsed:
            self.call_after_refresh(self.scroll_to_widget, box, animate=False, top=True)
