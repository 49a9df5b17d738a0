"""A one-line text prompt (a hint for the generator, a reason for a rejection).

Returns the text (possibly empty) on enter, or None when escape cancels. The reject dialog also
offers preset reasons on the number keys (config `review.reject_presets`): one key rejects.
"""

from __future__ import annotations

from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from rel_core.terminal_text import one_line


class TextPromptDialog(ModalScreen[str | None]):
    CSS_PATH = "dialogs.tcss"
    input_type: type[Input] = Input
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
            yield self.input_type(self.initial_value, placeholder=self.placeholder, id="prompt-input", compact=True)
            yield from self.compose_choices()
            yield Static(Content(self.footnote or "enter: go on · escape: cancel"), classes="hint")

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


class PresetKeysInput(Input):
    """An input that leaves the digits 1-9 to the dialog's preset keys while it is empty."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        if not self.value and character is not None and character in PRESET_KEYS:
            return False
        return super().check_consume_key(key, character)


PRESET_KEYS = "123456789"


class RejectDialog(TextPromptDialog):
    """The reject reason: a preset on its number key, or typed (digits typed after a letter are text)."""

    input_type = PresetKeysInput
    BINDINGS = [
        *TextPromptDialog.BINDINGS,
        *(Binding(n, f"preset({n})", f"Reason {n}", id=f"reject.preset_{n}", show=False, priority=True) for n in PRESET_KEYS),
    ]

    def __init__(self, presets: list[str]) -> None:
        keys = f" · 1-{len(presets)}: that reason" if presets else ""
        super().__init__(
            "Reject",
            "Why is this draft rejected? (optional)",
            placeholder="type a reason, or press a number for one below",
            footnote=f"enter: reject (empty = no reason){keys} · escape: cancel",
        )
        self.presets = presets

    def compose_choices(self) -> ComposeResult:
        if self.presets:
            # Presets come from the config: shown as plain text, never read as markup.
            listed = "\n".join(f"{n}  {one_line(reason)}" for n, reason in enumerate(self.presets, start=1))
            yield Static(Content(listed), id="reject-presets", classes="presets")

    def action_preset(self, number: int) -> None:
        if number > len(self.presets):
            raise SkipAction()  # no such preset: the key goes on to the input, as text
        self.dismiss(self.presets[number - 1])


def reason_dialog(presets: list[str] | None = None) -> RejectDialog:
    return RejectDialog(presets or [])
