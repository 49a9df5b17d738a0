"""Edit a draft in place. ctrl+s stores it as a human_edit attempt; the text is autosaved meanwhile.

The screen returns the new attempt's id, or None when the expert leaves without saving.
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static, TextArea

from rel_core.models import Attempt
from rel_core.store import Store
from rel_tui.database_write import database_write
from rel_tui.screens.confirm import ConfirmDialog


class EditScreen(Screen[int | None]):
    CSS_PATH = "edit.tcss"
    # Not priority bindings: those run before keys still queued for the editor, so text typed just
    # before ctrl+s would be lost. Non-priority bindings see each key after the editor has.
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="edit.save", tooltip="Store the edit as a new human_edit attempt"),
        Binding("escape", "leave", "Leave", id="edit.leave", tooltip="Back to the review (asks if the edit is unsaved)"),
    ]

    def __init__(
        self,
        store: Store,
        problem_id: int,
        annotator: str,
        parent: Attempt | None,
        text: str,
        autosave_seconds: float,
    ) -> None:
        super().__init__()
        self.store = store
        self.problem_id = problem_id
        self.annotator = annotator
        self.parent_attempt = parent
        self.original = parent.text if parent else ""
        self.start_text = text
        self.autosave_seconds = autosave_seconds
        self.autosaved_text = text

    def compose(self) -> ComposeResult:
        what = f"attempt #{self.parent_attempt.id} ({self.parent_attempt.kind})" if self.parent_attempt else "a new draft"
        yield Static(Content(f"Problem #{self.problem_id}: editing {what}"), id="edit-title")
        yield TextArea(self.start_text, soft_wrap=True, show_line_numbers=True, id="editor")
        yield Static(
            Content(f"ctrl+s saves a new attempt · autosaved every {self.autosave_seconds:g} s"), id="edit-status"
        )
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(self.autosave_seconds, self.autosave)
        self.query_one("#editor", TextArea).focus()

    @property
    def text(self) -> str:
        return self.query_one("#editor", TextArea).text

    def autosave(self) -> bool:
        """Save the text as this expert's draft for the item if it changed; True if it wrote."""
        text = self.text
        if text == self.autosaved_text:
            return False
        with database_write(self, "Autosave did not save the edit") as write:
            self.store.save_edit_draft(self.problem_id, self.annotator, self.parent_attempt.id if self.parent_attempt else None, text)
        if write.failed:
            return False
        self.autosaved_text = text
        self.query_one("#edit-status", Static).update(Content(f"autosaved at {time.strftime('%H:%M:%S')}"))
        return True

    def action_save(self) -> None:
        text = self.text
        if text == self.original:
            self.notify("Nothing changed: no attempt saved.", severity="warning", markup=False)
            return
        parent_id = self.parent_attempt.id if self.parent_attempt else None
        with database_write(self, "The edit was not saved") as write:
            attempt_id = self.store.save_human_edit(self.problem_id, self.annotator, parent_id, text)
        if write.failed:
            return
        self.autosaved_text = text
        self.dismiss(attempt_id)

    def action_leave(self) -> None:
        if self.text == self.original:
            self.store.discard_edit_draft(self.problem_id, self.annotator)
            self.dismiss(None)
            return
        self.autosave()
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
            self.store.discard_edit_draft(self.problem_id, self.annotator)
        if answer in ("leave", "discard"):
            self.dismiss(None)
