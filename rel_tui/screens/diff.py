"""The saved edit against the draft it started from, as a word-level diff (the compare screen's).

Shown once when an edit is saved; `d` on the review screen reopens it (and any other comparison).
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from rel_tui.latex import displayable
from rel_tui.screens.compare import diff_view
from rel_tui.screens.key_bursts import ClosesOnce


def diff_content(original: str, edited: str) -> Content:
    """The edit as one unified word diff: deletions struck through, insertions highlighted."""
    return diff_view(original, edited).unified


class DiffScreen(ClosesOnce, ModalScreen[None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close", id="diff.close", tooltip="Back to the review"),
    ]

    def __init__(self, original: str, edited: str, title: str) -> None:
        super().__init__()
        self.original = original
        self.edited = edited
        self.diff_title = title

    def compose(self) -> ComposeResult:
        view = diff_view(self.original, self.edited)
        with Vertical(classes="dialog diff") as box:
            box.border_title = displayable(f"{self.diff_title} · {view.summary}")
            with VerticalScroll():
                yield Static(view.unified, id="diff-body")
            yield Static(Content("escape / enter: close · d on the review screen shows it again"), classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
