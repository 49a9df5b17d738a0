"""A one-line text prompt (a hint for the generator, a reason for a rejection).

Returns the text (possibly empty) on enter, or None when escape cancels. The reject dialog also
offers preset reasons on the number keys (config `review.reject_presets`): one key rejects.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from rel_core.terminal_text import one_line
from rel_tui.screens.key_bursts import ClosesOnce, DigitKeysInput


class TextPromptDialog(ClosesOnce, ModalScreen[str | None]):
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
            yield self.make_input()
            yield from self.compose_choices()
            yield Static(Content(self.footnote or "enter: go on · escape: cancel"), classes="hint")

    def make_input(self) -> Input:
        return Input(self.initial_value, placeholder=self.placeholder, id="prompt-input", compact=True)

    def compose_choices(self) -> ComposeResult:
        """Widgets between the input and the footnote (none here)."""
        yield from ()

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


PRESET_KEYS = "123456789"


class RejectDialog(TextPromptDialog):
    """The reject reason: a preset on its number key, or typed (digits typed after a letter are text)."""

    def __init__(self, presets: list[str], *, subject: str = "draft") -> None:
        """`subject`: what is rejected, "draft" (the shown attempt) or "problem" (it has no attempt)."""
        keys = f" · 1-{len(presets)}: that reason" if presets else ""
        super().__init__(
            "Reject",
            f"Why is this {subject} rejected? (optional)",
            placeholder="type a reason, or press a number for one below",
            footnote=f"enter: reject (empty = no reason){keys} · escape: cancel",
        )
        self.presets = presets

    def compose_choices(self) -> ComposeResult:
        if self.presets:
            # Presets come from the config: shown as plain text, never read as markup.
            listed = "\n".join(f"{n}  {one_line(reason)}" for n, reason in enumerate(self.presets, start=1))
            yield Static(Content(listed), id="reject-presets", classes="presets")

    def make_input(self) -> Input:
        return DigitKeysInput(
            placeholder=self.placeholder, id="prompt-input", compact=True, digits=PRESET_KEYS, on_digit=self.preset
        )

    def preset(self, digit: str) -> bool:
        """A digit in the empty field rejects with that preset (no such preset: the digit is text)."""
        number = int(digit)
        if number > len(self.presets):
            return False
        self.dismiss(self.presets[number - 1])
        return True


def reason_dialog(presets: list[str] | None = None, *, subject: str = "draft") -> RejectDialog:
    return RejectDialog(presets or [], subject=subject)
