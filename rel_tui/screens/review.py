"""The review screen: problem, draft and critic side by side (tabs below 120 columns), decided by one key."""

from __future__ import annotations

import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from rel_core import verdicts
from rel_core.checking import check_of, is_checkable
from rel_core.labels import LabelAction, Ruling, RulingAspect, step_number
from rel_core.loop import reference_answer_of
from rel_core.models import Attempt, Critique, CritiqueSource, Decision, Problem, Standing
from rel_core.review_session import QueueFilter, ReviewSession
from rel_core.terminal_text import one_line
from rel_tui.database_write import NOT_SAVED_ERRORS, database_write, report_not_saved
from rel_tui.latex import displayable
from rel_tui.messages import AnswerChecked, CritiqueFinished, DraftChunk, DraftFinished, DraftStarted
from rel_tui.screens.compare import CompareScreen
from rel_tui.screens.confirm import AcceptAnywayDialog, ConfirmDialog
from rel_tui.screens.diff import DiffScreen
from rel_tui.screens.edit import EditScreen
from rel_tui.screens.filter import FilterDialog
from rel_tui.screens.help import EDITOR_KEYS, FILTER_KEYS, QUEUE_KEYS, REJECT_KEYS, HelpScreen
from rel_tui.screens.label_steps import LabelStepsScreen
from rel_tui.screens.problem_mark import MarkChoice, ProblemMarkDialog, outcome_text
from rel_tui.screens.queue import QueueScreen
from rel_tui.screens.text_prompt import hint_dialog, reason_dialog
from rel_tui.widgets.critic_pane import CriticPane
from rel_tui.widgets.draft_pane import DraftPane
from rel_tui.widgets.previous_pane import PreviousAttemptPane
from rel_tui.widgets.problem_pane import ProblemPane
from rel_tui.widgets.status_bar import CallStatus, StatusBar, skips_of, verdict_line

GENERATION = "generation"
ANSWER_CHECK = "answer-check"
STREAM_INTERVAL = 0.05  # seconds between streamed-draft updates: smooth to read, cheap to draw
NEEDS_ITEM = {
    "accept", "reject", "edit", "regenerate", "recritique", "skip",
    "previous_attempt", "next_attempt", "toggle_raw", "toggle_reference",
}  # fmt: skip

# While a new draft streams in, the shown attempt is about to be replaced: deciding on it or editing
# it then would act on a draft the expert is no longer looking at. Escape cancels first. The keys
# stay live so that pressing one says why nothing happens (see `waits_for_call`).
WAITING_KEY = {
    "accept": "a", "reject": "x", "skip": "s", "edit": "e", "previous_attempt": "[", "next_attempt": "]",
}  # fmt: skip


class ReviewScreen(Screen[None]):
    CSS_PATH = "review.tcss"
    AUTO_FOCUS = "#draft-rendered"  # arrows and page keys scroll the draft
    # Below 120 columns the panes stack (the problem's first lines above the draft); from 120 they
    # stand side by side; from 180 the previous attempt stands beside the draft too.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide"), (180, "-widest")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="cancel", tooltip="Stop the regeneration or critic run"),
        Binding("a", "accept", "Accept", id="accept", tooltip="Accept the shown attempt and go to the next item"),
        Binding("x", "reject", "Reject", id="reject", tooltip="Reject the item, with an optional reason"),
        Binding("e", "edit", "Edit", id="edit", tooltip="Edit the shown attempt; ctrl+s saves it as a new attempt"),
        Binding("r", "regenerate", "Regen", id="regenerate", tooltip="Revise the shown attempt with an optional hint"),
        Binding("s", "skip", "Skip", id="skip", tooltip="Record a skip and go to the next item"),
        Binding("n", "next", "Next", id="next", tooltip="Next item in the queue, no decision"),
        Binding("question_mark", "help", "Help", id="help", tooltip="All keys"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit (every decision is already saved)"),
        Binding("c", "recritique", "Critic", id="recritique", tooltip="Run the critic again on the shown attempt"),
        Binding(
            "u", "undo", "Undo", id="undo", tooltip="Undo your last decision (reopens its item), step label or ruling", show=False
        ),
        Binding("p", "previous", "Prev", id="previous", tooltip="The item shown before this one", show=False),
        Binding(
            "left_square_bracket",
            "previous_attempt",
            "Older",
            id="previous_attempt",
            tooltip="Show the previous attempt of this problem",
            show=False,
        ),
        Binding(
            "right_square_bracket",
            "next_attempt",
            "Newer",
            id="next_attempt",
            tooltip="Show the next attempt of this problem",
            show=False,
        ),
        Binding(
            "t",
            "toggle_raw",
            "Raw",
            id="toggle_raw",
            tooltip="Switch the draft between rendered Markdown and raw text",
            show=False,
        ),
        Binding("slash", "filter", "Filter", id="filter", tooltip="Filter the queue by state, source and text"),
        Binding("g", "queue", "Queue", id="queue", tooltip="The queue as a table; enter opens an item", show=False),
        Binding(
            "o",
            "toggle_reference",
            "Reference",
            id="toggle_reference",
            tooltip="Open or close the reference solution",
            show=False,
        ),
        Binding(
            "1",
            "show_pane('problem')",
            "Problem",
            id="pane_problem",
            tooltip="Below 120 columns: open the whole problem (again: its first lines)",
            show=False,
        ),
        Binding(
            "2",
            "show_pane('draft')",
            "Draft",
            id="pane_draft",
            tooltip="Below 120 columns: the problem's first lines and the draft",
            show=False,
        ),
        Binding(
            "3",
            "show_pane('critic')",
            "Critic pane",
            id="pane_critic",
            tooltip="Below 120 columns: every judge's verdict in place of the draft",
            show=False,
        ),
        Binding(
            "G",
            "guidelines",
            "Guidelines",
            id="guidelines",
            tooltip="The project's annotation guidelines (review.guidelines)",
            show=False,
        ),
        Binding(
            "f",
            "jump_to_error",
            "First error",
            id="jump_to_error",
            tooltip="Move the step cursor to the critic's first wrong step",
        ),
        Binding(
            "J",
            "move_step(1)",
            "Next step",
            id="next_step",
            tooltip="Move the step cursor to the next step of the draft",
            show=False,
        ),
        Binding(
            "K",
            "move_step(-1)",
            "Previous step",
            id="previous_step",
            tooltip="Move the step cursor to the previous step of the draft",
            show=False,
        ),
        Binding(
            "d",
            "compare",
            "Compare",
            id="compare",
            tooltip="Compare the shown attempt with its parent (or another attempt), word by word",
        ),
        Binding(
            "j",
            "scroll_pane(1)",
            "Down",
            id="scroll_down",
            tooltip="Scroll the focused pane (the draft) down a line; also down arrow",
            show=False,
        ),
        Binding(
            "k",
            "scroll_pane(-1)",
            "Up",
            id="scroll_up",
            tooltip="Scroll the focused pane (the draft) up a line; also up arrow",
            show=False,
        ),
        Binding(
            "space",
            "page_pane",
            "Page",
            id="scroll_page",
            tooltip="Scroll the focused pane (the draft) a page down; also pagedown, pageup, home, end",
            show=False,
        ),
        Binding("l", "label_steps", "Label", id="label_steps", tooltip="Label each step: rate, first error, flag, comment"),
        Binding(
            "v",
            "rule('verdict')",
            "Rule verdict",
            id="rule_verdict",
            tooltip="Agree with the LLM critic's verdict; pressed again: disagree",
            show=False,
        ),
        Binding(
            "w",
            "rule('first_error_step')",
            "Rule step",
            id="rule_step",
            tooltip="Agree with the critic's first wrong step; again: disagree",
            show=False,
        ),
        Binding(
            "b",
            "mark_broken",
            "Broken",
            id="mark_broken",
            tooltip="Mark the problem itself broken (wrong reference, ambiguous, ...) or take the mark back",
            show=False,
        ),
    ]

    def __init__(self, session: ReviewSession, database: str, autosave_seconds: float) -> None:
        super().__init__()
        self.session = session
        self.database = database
        self.autosave_seconds = autosave_seconds
        self.attempt_index = -1
        self.generation_problem: int | None = None  # the item a regenerate/critic worker works on
        self._check_shown: int | None = None  # the answer check stored and shown with its item
        self.call_awaited = "the model"  # what a decision key waits for while a call runs here

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield CallStatus(id="call-status")
        with Container(id="panes"):
            yield ProblemPane(id="problem", classes="pane -compact")
            yield Static(id="verdict-line")
            yield DraftPane(id="draft", classes="pane")
            yield PreviousAttemptPane(id="previous", classes="pane")
            yield CriticPane(id="critic", classes="pane")
        yield Static(id="empty")
        yield Footer(id="footer", compact=True)

    def on_mount(self) -> None:
        opened = self.session.current is not None
        if not opened:
            with database_write(self, "The first item was not opened (n opens it)"):
                opened = self.session.next()
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

    def on_resize(self) -> None:
        # The breakpoint classes change after this handler: look at the previous attempt once they have.
        self.call_after_refresh(self._show_previous_attempt)

    def show_problem_hint(self) -> None:
        """Below 120 columns the problem pane says which key opens (or shrinks) it."""
        hint = ("1: less" if self.has_class("-problem-open") else "1: whole problem") if self.has_class("-narrow") else ""
        self.query_one(ProblemPane).border_subtitle = hint

    def _show_previous_attempt(self) -> None:
        self.show_problem_hint()
        if self.session.current is not None:
            self.query_one(PreviousAttemptPane).show(self.session.current, self.attempt)

    def attempt_title(self, attempt: Attempt) -> Content:
        history = self.session.current
        verdict = verdicts.summary_of(history, attempt).label
        position = f"{self.attempt_index + 1}/{len(history.attempts)}"
        made_by = [attempt.model] if attempt.model else []  # imported drafts name no model
        # The verdict before the long parts, so a narrow terminal cuts the model name, not the verdict.
        return Content(displayable(" · ".join([f"Draft {position}", verdict, attempt.kind, *made_by])))

    def stop_generation_elsewhere(self) -> None:
        """The claim on the item a worker writes to went when the expert left it: stop the worker."""
        if self.generating and self.generation_problem != self.session.problem_id:
            self.workers.cancel_group(self, GENERATION)
            self.notify(f"Stopped the model call on #{self.generation_problem}: you left that item.", timeout=4, markup=False)

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

    def offer_autosaved_edit(self) -> None:
        history = self.session.current
        saved = self.session.saved_edit(history.problem.id)
        if saved is None:
            return
        self.app.push_screen(
            ConfirmDialog(
                f"You have an unsaved edit of this item (autosaved {one_line(saved['updated_at'][:19]).replace('T', ' ')} UTC).",
                [("resume", "Resume editing"), ("later", "Later"), ("discard", "Discard it")],
                title="Unsaved edit",
            ),
            self._autosave_answered,
        )

    def _autosave_answered(self, answer: str | None) -> None:
        if answer == "resume":
            self.action_edit()
        elif answer == "discard":
            with database_write(self, "The autosaved edit was not discarded (it is offered again next time)"):
                self.session.discard_edit(self.session.problem_id)

    # -- which keys apply now ------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.generating
        if action in NEEDS_ITEM and self.session.current is None:
            return None
        return True

    @property
    def generating(self) -> bool:
        return any(w.group == GENERATION and w.is_running for w in self.workers)

    @property
    def generating_here(self) -> bool:
        """A regeneration or critic run is under way for the item on screen."""
        return self.generating and self.generation_problem == self.session.problem_id

    # -- decisions ---------------------------------------------------------------------------

    def waits_for_call(self, action: str) -> bool:
        """True, after saying so, when a model call on the shown item makes this key wait."""
        if not self.generating_here:
            return False
        self.notify(
            f"{WAITING_KEY.get(action, action)} waits for {self.call_awaited} on #{self.generation_problem} (escape stops it).",
            severity="warning", timeout=4, markup=False,
        )  # fmt: skip
        return True

    def action_accept(self) -> None:
        if self.waits_for_call("accept"):
            return
        if self.attempt is None:
            self.notify("There is no attempt to accept yet.", severity="warning", markup=False)
            return
        history, attempt = self.session.current, self.attempt
        summary = verdicts.summary_of(history, attempt, reference_answer_of(history.problem))
        if not summary.objections:
            self.decide(Decision.ACCEPTED)
            return
        disputed = summary.standing == Standing.DISPUTED
        lines = [f"The judges disagree ({summary.label})."] if disputed else []
        lines += [verdicts.objection_text(j) for j in summary.objections]
        dialog = AcceptAnywayDialog([displayable(line) for line in lines], disputed=disputed)
        self.app.push_screen(dialog, lambda accept: self._accept_confirmed(accept, attempt.id))

    def _accept_confirmed(self, accept: bool | None, attempt_id: int | None) -> None:
        if not accept:
            return
        if self.attempt is None or self.attempt.id != attempt_id:  # the screen moved on meanwhile
            self.notify("Not accepted: another attempt is shown now.", severity="warning", markup=False)
            return
        self.decide(Decision.ACCEPTED)

    def action_reject(self) -> None:
        if self.waits_for_call("reject"):
            return
        self.app.push_screen(reason_dialog(self.app.settings.review.reject_presets), self._rejected)

    def _rejected(self, reason: str | None) -> None:
        if reason is not None:
            self.decide(Decision.REJECTED, note=reason)

    def action_skip(self) -> None:
        if self.waits_for_call("skip"):
            return
        self.decide(Decision.SKIPPED)

    def decide(self, decision: Decision, note: str | None = None) -> None:
        attempt = self.attempt
        problem_id = self.session.problem_id
        with database_write(self, f"The {decision} decision was not saved") as write:
            self.session.decide(decision, attempt.id if attempt else None, note)
        if write.failed:
            return
        self.notify(f"#{problem_id} {decision}" + (f": {note}" if note else ""), timeout=3, markup=False)
        self.action_next()

    def action_undo(self) -> None:
        with database_write(self, "Nothing was undone") as write:
            review = self.session.undo_latest()
        if write.failed:
            return
        if review is None:
            self.notify("Nothing to undo.", severity="warning", markup=False)
            return
        if isinstance(review, LabelAction):
            self.undid_label(review)
            return
        self.notify(f"Undid {review.decision} of #{review.problem_id}", timeout=3, markup=False)
        with database_write(self, f"#{review.problem_id} was not reopened (p opens it)") as write:
            if self.session.problem_id == review.problem_id:
                self.session.reload()
            else:
                self.session.open(review.problem_id)
        if write.failed:
            self.session.remember(review.problem_id)
            self.update_status()
        elif self.session.problem_id == review.problem_id:
            self.show_opened_item(review.attempt_id)
        else:
            self.notify(f"#{review.problem_id} is open elsewhere; its state was restored.", severity="warning", markup=False)
            self.update_status()

    # -- moving ------------------------------------------------------------------------------

    def action_next(self) -> None:
        with database_write(self, "The next item was not opened (n tries again)") as write:
            moved = self.session.next()
            in_queue = not moved and self.session.current_in_queue()
            if in_queue:
                self.session.reload()  # it may have changed (a skip)
            elif not moved:
                self.session.close()
        if write.failed:
            if self.session.current is None:
                self.show_empty()
        elif moved:
            self.show_opened_item()
        elif in_queue:
            self.show_item(self.attempt.id if self.attempt else None)
            self.notify("No other item in this queue.", timeout=3, markup=False)
        else:
            self.show_empty()

    def action_previous(self) -> None:
        with database_write(self, "The earlier item was not opened (p tries again)") as write:
            opened = self.session.previous()
        if write.failed:
            return
        if opened:
            self.show_opened_item()
        else:
            self.notify("No earlier item in this session.", severity="warning", markup=False)

    def action_previous_attempt(self) -> None:
        self.step_attempt(-1)

    def action_next_attempt(self) -> None:
        self.step_attempt(+1)

    def step_attempt(self, step: int) -> None:
        if self.waits_for_call("previous_attempt" if step < 0 else "next_attempt"):
            return
        count = len(self.session.current.attempts)
        index = self.attempt_index + step
        if 0 <= index < count:
            self.attempt_index = index
            self.show_attempt()

    def action_toggle_reference(self) -> None:
        if not self.has_class("-problem-open"):
            self.action_show_pane("problem")
        self.query_one(ProblemPane).toggle_reference()

    def action_toggle_raw(self) -> None:
        self.query_one(DraftPane).toggle_raw()

    def scrolled_pane(self) -> Widget:
        """The focused pane's scrolling part, else the draft's."""
        focused = self.focused
        if focused is not None and focused.allow_vertical_scroll:
            return focused
        draft = self.query_one(DraftPane)
        return draft.query_one("#draft-raw" if draft.has_class("-raw") else "#draft-rendered")

    def action_scroll_pane(self, lines: int) -> None:
        self.scrolled_pane().scroll_relative(y=lines, animate=False)

    def action_page_pane(self) -> None:
        self.scrolled_pane().scroll_page_down(animate=False)

    def open_problem(self, problem_id: int | None) -> None:
        if problem_id is None or problem_id == self.session.problem_id:
            return
        with database_write(self, f"#{problem_id} was not opened") as write:
            opened = self.session.open(problem_id)
            holder = None if opened else self.session.held_by(problem_id)
        if write.failed:
            return
        if opened:
            self.show_opened_item()
        else:
            self.notify(f"#{problem_id} is open by {one_line(holder or 'someone else')}.", severity="warning", markup=False)

    def action_queue(self) -> None:
        self.app.push_screen(QueueScreen(self.session), self._queue_closed)

    def _queue_closed(self, problem_id: int | None) -> None:
        self.open_problem(problem_id)
        self.update_status()

    def action_filter(self) -> None:
        self.app.push_screen(FilterDialog(self.session.filter, self.session.sources()), self._filtered)

    def _filtered(self, queue_filter: QueueFilter | None) -> None:
        if queue_filter is None or self._kept_place(queue_filter):
            return
        with database_write(self, "The filtered queue was not opened (n tries again)") as write:
            opened = self.session.apply_filter(queue_filter)
        if write.failed and self.session.current is not None:
            return  # nothing changed
        if opened and not write.failed:
            self.show_opened_item()
        else:
            self.show_empty(no_matches=not write.failed)
            if not write.failed:
                self.notify(f"No matches: {queue_filter.describe()}", severity="warning", timeout=4, markup=False)

    def _kept_place(self, queue_filter: QueueFilter) -> bool:
        """The expert keeps their place: the open item stays on screen when it matches the new filter."""
        if self.session.current is None:
            return False
        before = self.session.filter
        self.session.filter = queue_filter
        with database_write(self, "The filtered queue was not opened (n tries again)") as write:
            stays = self.session.current_in_queue()
        if write.failed or not stays:
            self.session.filter = before  # apply_filter (or the same key, again) takes it from here
            return False
        self.update_status()
        self.notify(f"Queue: {queue_filter.describe()} · still on #{self.session.problem_id}", timeout=3, markup=False)
        return True

    def action_help(self) -> None:
        key_help = self.app.key_help
        sections = [
            ("Editor (e)", key_help(EditScreen.BINDINGS) + EDITOR_KEYS),
            ("Queue (g)", key_help(QueueScreen.BINDINGS) + QUEUE_KEYS),
            ("Reject dialog (x)", REJECT_KEYS),
            ("Filter dialog (/)", FILTER_KEYS),
        ]
        self.app.push_screen(HelpScreen(key_help(self.BINDINGS), sections))

    def action_quit(self) -> None:
        self.app.exit()

    # -- editing -------------------------------------------------------------------------------

    def action_edit(self) -> None:
        if self.waits_for_call("edit"):
            return
        history = self.session.current
        saved = self.session.saved_edit(history.problem.id)
        parent = self.attempt
        if saved is not None:
            parent = next((a for a in history.attempts if a.id == saved["attempt_id"]), parent)
        text = saved["text"] if saved else (parent.text if parent else "")
        editor = EditScreen(self.session, history.problem.id, parent, text, self.autosave_seconds)
        self.app.push_screen(editor, lambda attempt_id: self._edited(attempt_id, parent))

    def _edited(self, attempt_id: int | None, parent: Attempt | None) -> None:
        with database_write(self, "The item was not reloaded"):
            self.session.reload()
        self.show_item(attempt_id if attempt_id is not None else (self.attempt.id if self.attempt else None))
        if attempt_id is not None:
            edited = self.attempt.text
            self.app.push_screen(DiffScreen(parent.text if parent else "", edited, f"Saved as attempt #{attempt_id}"))

    # -- regenerate and re-critique (workers post messages; the handlers below change the UI) ---------

    def action_regenerate(self) -> None:
        if self.model_calls_refused():
            return
        if self.generating:
            self.notify("A generation is already running (escape cancels it).", severity="warning", markup=False)
            return
        self.app.push_screen(hint_dialog(), self._hint_given)

    def _hint_given(self, hint: str | None) -> None:
        if hint is None:
            return
        attempt = self.attempt
        self.generation_problem = self.session.problem_id
        self.call_awaited = "the new draft"
        self.query_one(CallStatus).start("waiting for the model…")
        self.regenerate(self.session.problem_id, attempt.id if attempt else None, hint or None)

    @work(exclusive=True, group=GENERATION, exit_on_error=False)
    async def regenerate(self, problem_id: int, attempt_id: int | None, hint: str | None) -> None:
        self.post_message(DraftStarted(problem_id, hint))
        engine = await self.app.loop_engine()  # built off the UI thread: importing the SDKs takes seconds
        stream = _StreamForwarder(lambda text: self.post_message(DraftChunk(problem_id, text)))
        result = await engine.regenerate(problem_id, attempt_id, hint, on_delta=stream.add)
        stream.flush()
        self.post_message(DraftFinished(problem_id, result.attempt, result.critique))

    def model_calls_refused(self) -> bool:
        """True, after saying why, when the session refuses r and c on the open item (overlap items)."""
        reason = self.session.model_calls_refused()
        if reason is not None:
            self.notify(reason, severity="warning", timeout=6, markup=False)
        return reason is not None

    def action_recritique(self) -> None:
        if self.model_calls_refused():
            return
        if self.attempt is None:
            self.notify("There is no attempt to criticise yet.", severity="warning", markup=False)
            return
        if self.generating:
            self.notify("A generation is already running (escape cancels it).", severity="warning", markup=False)
            return
        self.generation_problem = self.session.problem_id
        self.call_awaited = "the critic"
        self.query_one(CallStatus).start("waiting for the critic…")
        self.recritique(self.session.problem_id, self.attempt.id)

    @work(exclusive=True, group=GENERATION, exit_on_error=False)
    async def recritique(self, problem_id: int, attempt_id: int) -> None:
        engine = await self.app.loop_engine()
        critique = await engine.recritique(problem_id, attempt_id)
        self.post_message(CritiqueFinished(problem_id, critique))

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, GENERATION)

    @on(DraftStarted)
    def _draft_started(self, message: DraftStarted) -> None:
        self.action_show_pane("draft")
        self.query_one(DraftPane).show_stream("", Content("Regenerating…"))
        self.refresh_bindings()

    @on(DraftChunk)
    def _draft_chunk(self, message: DraftChunk) -> None:
        if message.problem_id == self.session.problem_id:
            self.query_one(DraftPane).show_stream(message.text, Content("Regenerating…"))
            self.query_one(CallStatus).change("the model is writing…")

    @on(DraftFinished)
    def _draft_finished(self, message: DraftFinished) -> None:
        if message.problem_id == self.session.problem_id:
            self.session.reload()
            self.show_item(message.attempt.id)
        self.notify(f"New attempt #{message.attempt.id} for #{message.problem_id}", timeout=3, markup=False)

    @on(CritiqueFinished)
    def _critique_finished(self, message: CritiqueFinished) -> None:
        if message.problem_id == self.session.problem_id:
            shown = self.attempt.id if self.attempt else None
            self.session.reload()
            self.show_item(shown)
        critic = verdicts.critic_judgement(message.critique)  # what the critic said, not the combined verdict
        self.notify(displayable(f"Critic: {verdicts.said(critic)}"), timeout=3, markup=False)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == ANSWER_CHECK:
            self._answer_check_changed(event)
        elif event.worker.group == GENERATION:
            self._generation_changed(event)

    def _answer_check_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:  # the pane keeps saying "not run"; the expert can go on
            return
        if isinstance(event.worker.error, NOT_SAVED_ERRORS):
            report_not_saved(self, "The answer check was not stored (it runs again when the item is shown)", event.worker.error)
        else:
            self.notify(one_line(event.worker.error), title="Answer check failed", severity="warning", timeout=6, markup=False)

    def _generation_changed(self, event: Worker.StateChanged) -> None:
        self.refresh_bindings()
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            self.query_one(CallStatus).stop()
        if event.state == WorkerState.ERROR:
            if isinstance(event.worker.error, NOT_SAVED_ERRORS):
                # What was committed before the database refused is kept and shown; the rest is redone by r or c.
                report_not_saved(self, "The model's answer was not saved (r or c asks again)", event.worker.error)
                with database_write(self, "The item was not reloaded") as write:
                    self.session.reload()
                if not write.failed and self.generation_problem == self.session.problem_id:
                    self.show_item()  # a new attempt may have been stored before the database refused the rest
                    return
            else:
                self.notify(one_line(event.worker.error), title="Generation failed", severity="error", timeout=10, markup=False)
            self._restore_draft()
        elif event.state == WorkerState.CANCELLED:
            self.notify("Generation cancelled.", timeout=3, markup=False)
            self._restore_draft()

    # -- the answer check of a shown attempt that has none (imported drafts, expert edits) ----------

    def check_shown_attempt(self) -> None:
        history, attempt = self.session.current, self.attempt
        if attempt is None or not is_checkable(history.problem):
            return
        if check_of(history, attempt) is not None:
            return
        if self.generating and self.generation_problem == history.problem.id:
            return  # the loop engine checks what it writes; checking too could store two checks
        if not self._store_quick_check(history.problem, attempt):
            self.check_answer(history.problem, attempt)

    def _store_quick_check(self, problem: Problem, attempt: Attempt) -> bool:
        """Store at once a check that needs no math-verify, so the item is drawn once, check included.
        False when math-verify has to look: the worker does that off the UI path."""
        try:
            critique = self.session.store_quick_check(self.app.answer_checker(), problem, attempt)
        except NOT_SAVED_ERRORS as error:  # shown again, the item is checked again
            report_not_saved(self, "The answer check was not stored (it runs again when the item is shown)", error)
            return True
        except Exception as error:  # as a failed check worker: the pane says "not run", the expert goes on
            self.notify(one_line(error), title="Answer check failed", severity="warning", timeout=6, markup=False)
            return True
        if critique is None:
            return False
        self.session.reload()
        self._check_shown = critique.id
        # As the worker would, once the item is drawn: posted now, it would wake this screen before
        # the panes have asked for their repaint, and the item would be drawn in two frames.
        self.call_after_refresh(self.post_message, AnswerChecked(problem.id, attempt.id, critique))
        return True

    @work(exclusive=True, group=ANSWER_CHECK, exit_on_error=False)
    async def check_answer(self, problem: Problem, attempt: Attempt) -> None:
        # On the event loop, so the store is used from one thread; math-verify runs in the checker's processes.
        critique = await self.session.store_check(self.app.answer_checker(), problem, attempt)
        if critique is not None:
            self.post_message(AnswerChecked(problem.id, attempt.id, critique))

    @on(AnswerChecked)
    def _answer_checked(self, message: AnswerChecked) -> None:
        if message.problem_id != self.session.problem_id:
            return  # the expert moved on; the result is stored for when the item is shown again
        if message.critique.id is not None and message.critique.id == self._check_shown:
            return  # stored before the item was drawn, so already on screen
        self.session.reload()
        attempt = self.attempt
        self.query_one(CriticPane).show(self.session.current, attempt, self.critic_rulings())
        if attempt is not None and not self.query_one(DraftPane).streaming:
            # Only the title: re-showing the draft would lose the expert's scroll position.
            self.query_one(DraftPane).border_title = self.attempt_title(attempt)

    def _restore_draft(self) -> None:
        if self.session.current is not None:
            self.show_attempt()

    def action_guidelines(self) -> None:
        from rel_tui.screens.guidelines import show_guidelines

        show_guidelines(self.app, self.session.guidelines)

    # -- steps and comparing attempts ------------------------------------------------------------

    def critic_first_error(self, attempt: Attempt) -> str | None:
        """The LLM critic's first wrong step in the attempt, as it named it (None if it named none)."""
        critic = verdicts.summary_of(self.session.current, attempt).critic
        return critic.first_error_step if critic else None

    def action_jump_to_error(self) -> None:
        draft = self.query_one(DraftPane)
        if self.attempt is None or draft.streaming:
            self.notify("No stored draft is shown.", severity="warning", markup=False)
            return
        self.action_show_pane("draft")
        problem = draft.jump_to_error()
        if problem is not None:
            self.notify(one_line(problem), severity="warning", timeout=4, markup=False)

    def action_move_step(self, delta: int) -> None:
        draft = self.query_one(DraftPane)
        if self.attempt is not None and not draft.streaming:
            self.action_show_pane("draft")
            draft.move_step(delta)

    def action_compare(self) -> None:
        attempt = self.attempt
        if attempt is None:
            self.notify("There is no attempt to compare.", severity="warning", markup=False)
            return
        if len(self.session.current.attempts) < 2:
            self.notify("This problem has only one attempt: nothing to compare it with.", severity="warning", markup=False)
            return
        self.app.push_screen(CompareScreen(self.session.current, attempt.id))

    # -- per-step labels and rulings on the critic (rel_core.labels, through the session) ------------

    def shown_critique(self) -> Critique | None:
        """The LLM critique shown for the attempt (its latest): what the rulings are on."""
        attempt = self.attempt
        if attempt is None:
            return None
        return verdicts.latest(self.session.current.critiques_for(attempt.id), CritiqueSource.LLM)

    def critic_rulings(self) -> list[Ruling]:
        """The rulings on the shown critique, for the Critic pane (none if the database is busy)."""
        critique = self.shown_critique()
        if critique is None or critique.id is None:
            return []
        try:
            return self.session.rulings([critique.id])
        except NOT_SAVED_ERRORS:
            return []

    def action_label_steps(self) -> None:
        attempt = self.attempt
        if attempt is None:
            self.notify("There is no attempt to label yet.", severity="warning", markup=False)
            return
        critique = self.shown_critique()
        claimed = verdicts.critic_judgement(critique).first_error_step if critique else None
        title = f"Label steps · #{self.session.problem_id} · {self.attempt_title(attempt).plain}"
        screen = LabelStepsScreen(self.session, attempt, title, step_number(claimed))
        self.app.push_screen(screen, lambda _: self.show_attempt() if self.session.current else None)

    def undid_label(self, action: LabelAction) -> None:
        """`u` took back a step label or a ruling: say so and show the shown attempt's rulings again."""
        self.notify(f"Undid your {action.kind} label on attempt #{action.attempt_id}", timeout=3, markup=False)
        if self.session.current is not None:
            self.show_attempt()

    def action_rule(self, aspect: str) -> None:
        critique = self.shown_critique()
        if critique is None or critique.id is None:
            self.notify("No LLM critique of the shown attempt to rule on (c runs the critic).", severity="warning", markup=False)
            return
        judgement = verdicts.critic_judgement(critique)
        if aspect == RulingAspect.FIRST_ERROR_STEP and not judgement.first_error_step:
            self.notify("The critic names no first wrong step here; v rules on its verdict.", severity="warning", markup=False)
            return
        what = "verdict" if aspect == RulingAspect.VERDICT else "first wrong step"
        with database_write(self, f"The ruling on the critic's {what} was not saved") as write:
            agrees = self.session.toggle_ruling(critique.id, RulingAspect(aspect))
        if write.failed:
            return
        self.notify(f"You {'agree' if agrees else 'disagree'} with the critic's {what}", timeout=3, markup=False)
        self.query_one(CriticPane).show(self.session.current, self.attempt, self.critic_rulings())

    def action_mark_broken(self) -> None:
        """b: mark the problem itself broken (rel_core.problem_marks), or take the mark back."""
        problem_id = self.session.problem_id
        if problem_id is None:
            return

        def chosen(choice: MarkChoice | None) -> None:
            if choice is None or self.session.problem_id != problem_id:
                return
            with database_write(self, f"#{problem_id} was not {'unmarked' if choice.unmark else 'marked'}") as write:
                taken = self.session.unmark_problem() if choice.unmark else []
                if not choice.unmark:
                    self.session.mark_problem(choice.kind, choice.note)
            if write.failed:
                return
            self.notify(outcome_text(problem_id, choice, taken), timeout=4, markup=False)
            if not choice.unmark:
                self.action_next()  # a marked problem has left the queue

        self.app.push_screen(ProblemMarkDialog(problem_id, self.session.marks_on_item()), chosen)


class _StreamForwarder:
    """Collects streamed text and forwards the whole draft so far at most every STREAM_INTERVAL."""

    def __init__(self, forward) -> None:
        self.forward = forward
        self.parts: list[str] = []
        self.last_sent = 0.0

    def add(self, delta: str) -> None:
        self.parts.append(delta)
        now = time.monotonic()
        if now - self.last_sent >= STREAM_INTERVAL:
            self.flush()
            self.last_sent = now

    def flush(self) -> None:
        self.forward("".join(self.parts))
