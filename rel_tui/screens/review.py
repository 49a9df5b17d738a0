"""The review screen: problem, draft and critic side by side (stacked below 120 columns), decided by one key.

The screen is the composition root: it lays out the panes, shows the open item and says which
keys apply. What the keys do lives beside it, one concern a module, as mixins of this class:
- review_bindings.py: every key, with its id and tooltip (the footer, help and keymap read them);
- review_decisions.py: accept, reject, skip, undo and editing;
- review_navigation.py: items, attempts, the queue, the filter, views, scrolling and help;
- review_generation.py: the regenerate and re-critique workers, streaming and cancelling;
- review_answer_check.py: the answer check of a shown attempt that has none;
- review_steps.py: the critic's first wrong step, comparing attempts, labels and rulings.
The domain (queue, claims, decisions, every SQL statement) is rel_core.review_session.
"""

from __future__ import annotations

import dataclasses

from textual import on
from textual.app import ComposeResult
from textual.containers import Container
from textual.content import Content
from textual.geometry import Size
from textual.screen import ActiveBinding, Screen
from textual.widgets import Footer, Static
from textual.worker import Worker

from rel_core import verdicts
from rel_core.models import Attempt
from rel_core.review_session import ReviewSession
from rel_tui.latex import displayable
from rel_tui.patient_writes import BusyLine, PatientWrites
from rel_tui.screens.review_answer_check import ANSWER_CHECK, AnswerCheck
from rel_tui.screens.review_bindings import BINDING_ORDER, NARROW_FOOTER, NEEDS_ITEM, REVIEW_BINDINGS
from rel_tui.screens.review_decisions import Decisions
from rel_tui.screens.review_generation import GENERATION, GenerationWorkers
from rel_tui.screens.review_navigation import Navigation
from rel_tui.screens.review_steps import StepsAndRulings
from rel_tui.widgets.critic_pane import CriticPane
from rel_tui.widgets.draft_pane import DraftPane
from rel_tui.widgets.previous_pane import PreviousAttemptPane
from rel_tui.widgets.problem_pane import ProblemPane
from rel_tui.widgets.status_bar import CallStatus, StatusBar, skips_of, verdict_line


class ReviewScreen(Decisions, Navigation, GenerationWorkers, AnswerCheck, StepsAndRulings, PatientWrites, Screen[None]):
    CSS_PATH = "review.tcss"
    AUTO_FOCUS = "#draft-rendered"  # arrows and page keys scroll the draft
    # Below 120 columns the panes stack (the problem's first lines above the draft); from 120 they
    # stand side by side; from 180 the previous attempt stands beside the draft too.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide"), (180, "-widest")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]
    BINDINGS = REVIEW_BINDINGS

    def __init__(self, session: ReviewSession, database: str, autosave_seconds: float) -> None:
        # The layout for the terminal's size from the start. Textual sets the breakpoint classes on the
        # screen's first resize, after the first layout: the draft would be drawn side by side first
        # and again, stacked, a moment later (a visible flicker at 80×24).
        super().__init__(classes=" ".join(breakpoint_classes(self.app.size)))
        self.session = session
        self.database = database
        self.autosave_seconds = autosave_seconds
        self.attempt_index = -1
        self.footer_narrow = self.has_class("-narrow")

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield CallStatus(id="call-status")
        yield BusyLine(id="busy-line")
        with Container(id="panes"):
            yield ProblemPane(id="problem", classes="pane -compact")
            yield Static(id="verdict-line")
            yield DraftPane(id="draft", classes="pane")
            yield PreviousAttemptPane(id="previous", classes="pane")
            yield CriticPane(id="critic", classes="pane")
        yield Static(id="empty")
        yield Footer(id="footer", compact=True)

    def on_mount(self) -> None:
        if self.session.current is not None:
            self.show_opened_item()
            return
        first = self.session.next
        self.write_patiently(
            "The first item was not opened (n opens it)", "opening the first item", first, self._first_opened,
            failed=self.show_empty,
        )  # fmt: skip
        if self.waiting_for is not None:
            self.show_empty()  # until another process lets go of the database

    def _first_opened(self, opened: bool) -> None:
        if opened:
            self.show_opened_item()
        else:
            self.show_empty()

    def action_show_pane(self, pane: str) -> None:
        """Narrow layout: 1 opens the whole problem (again: back to its first lines), 2 the draft, 3 the critic."""
        expand = pane == "problem" and not self.has_class("-problem-open")
        self.set_class(expand, "-problem-open")
        self.set_class(pane == "critic", "-critic-open")
        self.query_one(ProblemPane).set_class(not expand, "-compact")
        self.show_problem_hint()
        focused = "problem" if expand else "critic" if pane == "critic" else "draft"
        if focused == "draft":
            self.query_one(DraftPane).focus_view()
        else:
            self.query_one(f"#{focused}").focus()

    def on_resize(self) -> None:
        # The breakpoint classes change after this handler: follow them once they have.
        self.call_after_refresh(self._follow_layout)

    def show_problem_hint(self) -> None:
        """Below 120 columns the problem pane says which key opens (or shrinks) it."""
        hint = ("1: less" if self.has_class("-problem-open") else "1: whole problem") if self.has_class("-narrow") else ""
        self.query_one(ProblemPane).border_subtitle = hint

    def _follow_layout(self) -> None:
        """What shows only at some sizes follows a new one: the problem's hint, the previous attempt
        (from 180 columns) and the verdict line (below 120). The line is drawn again for Textual's
        sake too: it drops the frame painted while the app starts and then repaints what changed,
        so an unchanged line would appear a frame after the rest of the first screen."""
        self.show_problem_hint()
        if self.has_class("-narrow") != self.footer_narrow:
            self.footer_narrow = self.has_class("-narrow")
            self.refresh_bindings()  # the footer shows fewer keys below 120 columns
        if self.session.current is not None:
            self.query_one(PreviousAttemptPane).show(self.session.current, self.attempt)
            self.show_verdict_line()

    # -- showing an item --------------------------------------------------------------------

    @property
    def attempt(self) -> Attempt | None:
        history = self.session.current
        if history is None or not history.attempts:
            return None
        return history.attempts[self.attempt_index]

    def show_item(self, attempt_id: int | None = None) -> None:
        """Show the open item at the given attempt (default: the latest)."""
        history = self.session.current
        assert history is not None
        ids = [a.id for a in history.attempts]
        self.attempt_index = ids.index(attempt_id) if attempt_id in ids else len(ids) - 1
        if self.has_class("-empty"):
            self.remove_class("-empty")
            self.refresh_bindings()  # only here: it rebuilds the footer, which costs tens of ms
        self.show_attempt()  # the slow part first, so every pane asks for its repaint at about the same time
        self.query_one(ProblemPane).show(self.session.current.problem)  # (show_attempt may have reloaded it)
        self.update_status()

    def show_opened_item(self, attempt_id: int | None = None) -> None:
        """Show an item just opened, offering back an edit autosaved on it earlier."""
        self.stop_generation_elsewhere()
        self.show_item(attempt_id)
        self.offer_autosaved_edit()

    def show_attempt(self) -> None:
        self.check_shown_attempt()  # first: a check that needs no math-verify is in the first frame
        history = self.session.current
        attempt = self.attempt
        draft = self.query_one(DraftPane)
        if attempt is None:
            draft.show_text("*No attempt yet.* Press **r** to generate one or **e** to write one.", Content("Draft"))
        else:
            draft.show_text(attempt.text, self.attempt_title(attempt), first_error=self.critic_first_error(attempt))
        self.query_one(CriticPane).show(history, attempt, self.critic_rulings())
        self.query_one(PreviousAttemptPane).show(history, attempt)
        self.show_verdict_line()

    def show_verdict_line(self) -> None:
        """Below 120 columns, every judge in one line above the draft (the Critic pane is one key away)."""
        self.query_one("#verdict-line", Static).update(verdict_line(self.session.current, self.attempt))

    def attempt_title(self, attempt: Attempt) -> Content:
        history = self.session.current
        verdict = verdicts.summary_of(history, attempt).label
        position = f"{self.attempt_index + 1}/{len(history.attempts)}"
        made_by = [attempt.model] if attempt.model else []  # imported drafts name no model
        # The verdict before the long parts, so a narrow terminal cuts the model name, not the verdict.
        return Content(displayable(" · ".join([f"Draft {position}", verdict, attempt.kind, *made_by])))

    def show_empty(self, no_matches: bool = False) -> None:
        self.stop_generation_elsewhere()
        self.set_class(True, "-empty")
        nothing = "No matches for this filter" if no_matches else "Nothing to review in this queue"
        self.query_one("#empty", Static).update(
            Content(
                f"{nothing} ({self.session.filter.describe()}).\n\n/ filter  ·  g queue  ·  u undo the last decision  ·  q quit"
            )
        )
        self.update_status()
        self.refresh_bindings()

    def update_status(self) -> None:
        self.query_one(StatusBar).show(
            self.session.progress(), self.session.annotator, self.database, self.session.filter.describe(),
            skips=skips_of(self.session.current),
        )  # fmt: skip

    # -- which keys apply now ------------------------------------------------------------------

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """The keys in REVIEW_BINDINGS' order whatever the keymap (Textual moves a rebound key to the
        end, and the footer follows this order); below 120 columns the footer shows only the most
        used ones, so none is cut at the edge (? lists them all)."""
        active = super().active_bindings
        ordered = sorted(active.items(), key=lambda item: BINDING_ORDER.get(item[1].binding.id or "", len(BINDING_ORDER)))
        if not self.has_class("-narrow"):
            return dict(ordered)
        return {key: narrow_footer_key(active_binding) for key, active_binding in ordered}

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.generating
        if action in NEEDS_ITEM and self.session.current is None:
            return None
        return True

    # -- how each worker ended, matched on its group: failures are reported in one place ---------

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == ANSWER_CHECK:
            self.answer_check_changed(event)
        elif event.worker.group == GENERATION:
            self.generation_changed(event)


def narrow_footer_key(active: ActiveBinding) -> ActiveBinding:
    """The binding as the footer shows it below 120 columns: hidden unless it is in NARROW_FOOTER."""
    if not active.binding.show or active.binding.id in NARROW_FOOTER:
        return active
    return active._replace(binding=dataclasses.replace(active.binding, show=False))


def breakpoint_classes(size: Size) -> list[str]:
    """The classes Textual gives the review screen at this size: per dimension, the largest breakpoint reached."""
    chosen = []
    for breakpoints, dimension in (
        (ReviewScreen.HORIZONTAL_BREAKPOINTS, size.width),
        (ReviewScreen.VERTICAL_BREAKPOINTS, size.height),
    ):
        reached = [(threshold, name) for threshold, name in breakpoints if dimension >= threshold]
        chosen += [max(reached)[1]] if reached else []
    return chosen
