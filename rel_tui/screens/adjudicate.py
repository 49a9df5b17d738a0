"""The adjudication screen: a disputed overlap item with every expert's decision side by side.

Keys 1–9 make that expert's decision (and the attempt they decided on) the final one; `n` skips
to the next disputed item, `u` takes back the last final word. Opened by `rel-tui --adjudicate`
for annotators listed in `team.adjudicators`.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from rel_core.adjudication import Adjudication, Dispute, ExpertSide
from rel_core.claims import ClaimHolder
from rel_core.labels import RulingAspect
from rel_core.models import Decision
from rel_core.terminal_text import one_line
from rel_tui.database_write import database_write
from rel_tui.latex import displayable

LEASE_SECONDS = 60.0
RENEW_SECONDS = 20.0
DECISION_MARK = {Decision.ACCEPTED: ("✓ accepted", "green"), Decision.REJECTED: ("✗ rejected", "red")}


def side_text(number: int, side: ExpertSide) -> Text:
    """One expert's column: who, what they decided and why, then the attempt they decided on."""
    label, style = DECISION_MARK.get(side.decision, (str(side.decision), ""))
    text = Text.assemble((f"{number}  ", "bold"), (displayable(side.annotator), "bold"), ": ", (label, style))
    if side.note:
        text.append(f"\nReason: {displayable(side.note)}")
    text.append(labels_text(side))
    if side.attempt is not None:
        text.append(f"\n\nAttempt #{side.attempt.id} ({side.attempt.kind})\n", style="dim")
        text.append(displayable(side.attempt.text))
    else:
        text.append("\n\n(no attempt)", style="dim")
    return text


RATING_MARK = {1: "+1", 0: "0", -1: "−1"}


def labels_text(side: ExpertSide) -> Text:
    """The expert's labels on the attempt they decided on: per step, then their rulings on the critic."""
    text = Text()
    for label in side.step_labels:
        marks = [RATING_MARK[label.rating] if label.rating is not None else "", "⚑ flagged" if label.flagged else ""]
        if label.comment:
            marks.append(f"“{one_line(label.comment)}”")
        text.append(f"\nStep {label.step}: {displayable(' '.join(m for m in marks if m))}")
    for ruling in side.rulings:
        what = "verdict" if ruling.aspect == RulingAspect.VERDICT else "first wrong step"
        text.append(f"\nOn the critic's {what}: {'agrees' if ruling.agrees else 'disagrees'}")
    return text


class AdjudicateScreen(Screen[None]):
    CSS_PATH = "adjudicate.tcss"
    BINDINGS: ClassVar[list[Binding]] = [
        *(
            Binding(
                str(n),
                f"final({n})",
                f"Side {n} final",
                show=n <= 2,
                id=f"adjudicate.side{n}",
                tooltip=f"Make expert {n}'s decision the final one",
            )
            for n in range(1, 10)
        ),
        Binding("n", "next", "Next", id="adjudicate.next", tooltip="Leave this item for now; show the next disputed one"),
        Binding("u", "undo", "Undo", id="adjudicate.undo", tooltip="Take back your last final decision"),
        Binding("q", "app.quit", "Quit", id="adjudicate.quit", tooltip="Leave"),
    ]

    def __init__(self, adjudication: Adjudication, holder: ClaimHolder) -> None:
        super().__init__()
        self.adjudication = adjudication
        self.holder = holder
        self.dispute: Dispute | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="adjudicate-title")
        with VerticalScroll(id="adjudicate-problem"):
            yield Static(id="adjudicate-problem-text")
        yield Horizontal(id="adjudicate-sides")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(RENEW_SECONDS, self.renew)
        self.show_next(after_id=0)

    @property
    def problem_id(self) -> int | None:
        return self.dispute.problem.id if self.dispute else None

    def show_next(self, after_id: int) -> None:
        """Claim and show the first disputed item after `after_id` (wrapping once), or say there is none."""
        with database_write(self, "The adjudication queue could not be read"):
            self._release()
            for problem_id in [*self.adjudication.queue(after_id), *self.adjudication.queue(0)]:
                if self.adjudication.claim(problem_id, self.holder, LEASE_SECONDS):
                    self.dispute = self.adjudication.dispute(problem_id)
                    break
            else:
                self.dispute = None
        self.render_dispute()

    def render_dispute(self) -> None:
        title = self.query_one("#adjudicate-title", Static)
        problem = self.query_one("#adjudicate-problem-text", Static)
        sides = self.query_one("#adjudicate-sides", Horizontal)
        sides.remove_children()
        if self.dispute is None:
            title.update(Text(f"Adjudication · {displayable(self.adjudication.adjudicator)} · nothing disputed is waiting"))
            problem.update("")
            return
        title.update(
            Text(
                f"Adjudication · problem #{self.problem_id} · {len(self.dispute.sides)} experts disagree · 1–9: whose word is final"
            )
        )
        problem.update(Text(displayable(self.dispute.problem.text)))
        sides.mount_all(
            VerticalScroll(Static(side_text(n, side), classes="side-text"), classes="side")
            for n, side in enumerate(self.dispute.sides, start=1)
        )

    def action_final(self, number: int) -> None:
        if self.dispute is None or not 1 <= number <= len(self.dispute.sides):
            return
        side = self.dispute.sides[number - 1]
        with database_write(self, "The final decision was not saved") as outcome:
            self.adjudication.side_final(self.dispute.problem.id, side)
        if outcome.failed:
            return
        self.notify(Text(f"Final: {side.decision} (as {displayable(side.annotator)})").plain, markup=False)
        self.show_next(after_id=self.problem_id or 0)

    def action_next(self) -> None:
        self.show_next(after_id=self.problem_id or 0)

    def action_undo(self) -> None:
        with database_write(self, "The undo was not saved") as outcome:
            review = self.adjudication.undo()
        if outcome.failed or review is None:
            return
        self.show_next(after_id=review.problem_id - 1)

    def renew(self) -> None:
        if self.problem_id is not None:
            with database_write(self, "The claim on this item could not be renewed"):
                self.adjudication.claim(self.problem_id, self.holder, LEASE_SECONDS)

    def _release(self) -> None:
        if self.problem_id is not None:
            self.adjudication.release(self.problem_id, self.holder)
