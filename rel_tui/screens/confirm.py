"""Confirmations: a question with a few answers (the id of the chosen one, or None on escape),
and the one-key "accept anyway?" asked before accepting an attempt a judge marks wrong."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from rel_tui.screens.key_bursts import ClosesOnce, ConfirmsByOneKey


class ConfirmDialog(ClosesOnce, ModalScreen[str | None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel", id="dialog.cancel", tooltip="Close without choosing")]

    def __init__(self, question: str, choices: list[tuple[str, str]], *, title: str = "Confirm") -> None:
        """`choices` are (id, label) pairs; the first is focused."""
        super().__init__()
        self.question = question
        self.choices = choices
        self.dialog_title = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self.dialog_title
            yield Static(Content(self.question), classes="prompt")
            with Horizontal(classes="buttons"):
                for index, (choice_id, label) in enumerate(self.choices):
                    yield Button(label, id=choice_id, variant="primary" if index == 0 else "default", compact=True)

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    @on(Button.Pressed)
    def _choose(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class AcceptAnywayDialog(ConfirmsByOneKey, ModalScreen[bool]):
    """One key to accept an attempt a judge marks wrong (or the judges dispute); escape cancels."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [
        Binding("a", "answer(True)", "Accept anyway", id="dialog.accept_anyway", tooltip="Accept the attempt all the same"),
        Binding("escape", "answer(False)", "Cancel", id="dialog.cancel", tooltip="Go back without accepting"),
    ]

    def __init__(self, objections: list[str], *, disputed: bool = False) -> None:
        super().__init__()
        self.objections = objections
        self.disputed = disputed

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="accept-anyway") as box:
            box.border_title = "Disputed attempt" if self.disputed else "Marked wrong"
            yield Static(Content("\n".join([*self.objections, "", "Accept anyway?"])), classes="prompt")
            yield Static(Content("a: accept · esc: cancel"), classes="hint")

    def action_answer(self, accept: bool) -> None:
        self.dismiss(accept)
