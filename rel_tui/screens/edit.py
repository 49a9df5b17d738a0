"""Edit a draft in place. ctrl+s stores it as a human_edit attempt; the text is autosaved meanwhile.
From 120 columns the problem and its reference (answer and solution) stay beside the editor.

The screen returns the new attempt's id, or None when the expert leaves without saving. Every
write goes through the session and the busy-database guard: when the database is busy the editor
stays open with the text as typed, and the same key (ctrl+s, escape) tries again.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Collapsible, Footer, Static, TextArea

from rel_core.models import Attempt
from rel_core.review_session import ReviewSession
from rel_tui.database_write import database_write, rescue_text
from rel_tui.latex import displayable
from rel_tui.screens.confirm import ConfirmDialog
from rel_tui.screens.key_bursts import ClosesOnce
from rel_tui.widgets.problem_pane import ProblemPane


class EditScreen(ClosesOnce, Screen[int | None]):
    CSS_PATH = "edit.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    # Not priority bindings: those run before keys still queued for the editor, so text typed just
    # before ctrl+s would be lost. Non-priority bindings see each key after the editor has.
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="edit.save", tooltip="Store the edit as a new human_edit attempt"),
        Binding("escape", "leave", "Leave", id="edit.leave", tooltip="Back to the review (asks if the edit is unsaved)"),
    ]

    def __init__(
        self,
        session: ReviewSession,
        problem_id: int,
        parent: Attempt | None,
        text: str,
        autosave_seconds: float,
    ) -> None:
        super().__init__()
        self.session = session
        self.problem_id = problem_id
        self.parent_attempt = parent
        # The editor shows (and so saves) control characters as their visible stand-ins: what the
        # draft held must never drive the terminal, and the expert saves what they saw.
        self.original = displayable(parent.text if parent else "")
        self.start_text = displayable(text)
        self.autosave_seconds = autosave_seconds
        self.autosaved_text = text

    def compose(self) -> ComposeResult:
        what = f"attempt #{self.parent_attempt.id} ({self.parent_attempt.kind})" if self.parent_attempt else "a new draft"
        yield Static(Content(f"Problem #{self.problem_id}: editing {what}"), id="edit-title")
        with Horizontal(id="edit-body"):
            yield ProblemPane(id="edit-problem", classes="pane")
            yield TextArea(self.start_text, soft_wrap=True, show_line_numbers=True, id="editor")
        yield Static(Content(f"ctrl+s saves a new attempt · autosaved every {self.autosave_seconds:g} s"), id="edit-status")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(self.autosave_seconds, self.autosave)
        history = self.session.current
        if history is not None and history.problem.id == self.problem_id:
            pane = self.query_one(ProblemPane)
            pane.show(history.problem)
            pane.query_one("#reference-solution-box", Collapsible).collapsed = False  # what the fix is checked against
        self.query_one("#editor", TextArea).focus()

    @property
    def text(self) -> str:
        return self.query_one("#editor", TextArea).text

    @property
    def has_unstored_text(self) -> bool:
        """Whether the text on screen differs from the last text known to be stored (autosaved, or the draft it started from)."""
        return self.text != self.autosaved_text

    def autosave(self) -> bool:
        """Save the text as this expert's draft for the item if it changed; True if it wrote."""
        text = self.text
        if text == self.autosaved_text:
            return False
        with database_write(self, "Autosave did not save the edit") as write:
            self.session.autosave_edit(self.problem_id, self.parent_attempt.id if self.parent_attempt else None, text)
        if write.failed:
            return False
        self.autosaved_text = text
        self.query_one("#edit-status", Static).update(Content(f"autosaved at {time.strftime('%H:%M:%S')}"))
        return True

    def rescue(self) -> Path | None:
        """Keep text the database would not take in a file of its own (the app is leaving); its path."""
        if not self.has_unstored_text:
            return None
        try:
            return rescue_text(self.session.database, self.problem_id, self.session.annotator, self.text)
        except OSError as error:  # a full disk: nothing more can be done, but the exit must go on
            self.notify(f"The edit could not be kept in a file either ({error}).", title="Edit lost", severity="error")
            return None

    def action_save(self) -> None:
        text = self.text
        if text == self.original:
            self.notify("Nothing changed: no attempt saved.", severity="warning", markup=False)
            return
        parent_id = self.parent_attempt.id if self.parent_attempt else None
        with database_write(self, "The edit was not saved") as write:
            attempt_id = self.session.save_edit(self.problem_id, parent_id, text)
        if write.failed:
            return
        self.autosaved_text = text
        self.dismiss(attempt_id)

    def action_leave(self) -> None:
        if self.text == self.original:
            # Nothing to lose by leaving: an older autosave that stays is offered again later.
            with database_write(self, "An older autosaved edit was not discarded (it is offered again)"):
                self.session.discard_edit(self.problem_id)
            self.dismiss(None)
            return
        if not self.autosave() and self.has_unstored_text:
            return  # the edit is not stored anywhere yet: stay, so it cannot be lost; escape tries again
        self.app.push_screen(
            ConfirmDialog(
                "This edit is not saved as an attempt. It stays autosaved and is offered again when the item opens.",
                [("keep", "Keep editing"), ("leave", "Leave"), ("discard", "Discard edit")],
                title="Unsaved edit",
            ),
            self._leave_answered,
        )

    def _leave_answered(self, answer: str | None) -> None:
        if answer == "discard":
            with database_write(self, "The edit was not discarded") as write:
                self.session.discard_edit(self.problem_id)
            if write.failed:
                return
        if answer in ("leave", "discard"):
            self.dismiss(None)
