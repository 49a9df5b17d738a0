"""The saved edit against the draft it started from, as a coloured unified diff."""

from __future__ import annotations

import difflib

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from rel_tui.latex import displayable

LINE_STYLES = {"+": "$text-success", "-": "$text-error", "@": "$text-accent"}


def diff_content(original: str, edited: str) -> Content:
    lines = difflib.unified_diff(
        original.splitlines(), edited.splitlines(), "original", "your edit", lineterm="", n=2
    )
    parts = [(displayable(line) + "\n", LINE_STYLES.get(line[:1], "")) for line in lines]
    return Content.assemble(*parts) if parts else Content("No changes.")


class DiffScreen(ModalScreen[None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [
        Binding("escape,enter,q", "close", "Close", id="diff.close", tooltip="Back to the review"),
    ]

    def __init__(self, original: str, edited: str, title: str) -> None:
        super().__init__()
        self.original = original
        self.edited = edited
        self.diff_title = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog diff") as box:
            box.border_title = self.diff_title
            with VerticalScroll():
                yield Static(diff_content(self.original, self.edited), id="diff-body")
            yield Static(Content("escape / enter: close"), classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
