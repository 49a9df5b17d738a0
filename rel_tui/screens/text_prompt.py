"""A one-line text prompt (a hint for the generator, a reason for a rejection).

Returns the text (possibly empty) on enter, or None when escape cancels.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class TextPromptDialog(ModalScreen[str | None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel", id="dialog.cancel", tooltip="Close without doing anything")]

    def __init__(self, title: str, prompt: str, *, placeholder: str = "", footnote: str = "", value: str = "") -> None:
        super().__init__()
        self.initial_value = value
        self.dialog_title = title
        self.prompt = prompt
        self.placeholder = placeholder
        self.footnote = footnote

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self.dialog_title
            yield Static(Content(self.prompt), classes="prompt")
            yield Input(self.initial_value, placeholder=self.placeholder, id="prompt-input", compact=True)
            yield Static(Content(self.footnote or "enter: go on · escape: cancel"), classes="hint")

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def hint_dialog() -> TextPromptDialog:
    return TextPromptDialog(
        "Regenerate",
        "Hint for the generator (optional): what should the next draft fix?",
        placeholder="e.g. check the case n = 0",
        footnote="enter: regenerate (empty = no hint) · escape: cancel",
    )


def reason_dialog() -> TextPromptDialog:
    return TextPromptDialog(
        "Reject",
        "Why is this draft rejected? (optional)",
        placeholder="e.g. the argument in step 3 is circular",
        footnote="enter: reject (empty = no reason) · escape: cancel",
    )
