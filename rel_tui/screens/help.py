"""Every key of the review screen, with what it does (keys as remapped by the user's keymap)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close", tooltip="Back to the review")]

    def __init__(self, rows: list[tuple[str, str, str, str]]) -> None:
        """`rows` are (keys as displayed, binding id, description, tooltip)."""
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help") as box:
            box.border_title = "Keys"
            with VerticalScroll():
                yield Static(self._table(), id="help-table")
            yield Static(
                Content('Rebind keys by id in rel.toml, e.g. [review.keymap] accept = "a,enter" · escape: close'),
                classes="hint",
            )

    def _table(self) -> Table:
        table = Table(box=None, expand=True, show_edge=False, pad_edge=False, header_style="bold")
        table.add_column("key", no_wrap=True, style="bold")
        table.add_column("what it does", ratio=1)
        table.add_column("id (for the keymap)", no_wrap=True, style="dim")
        for keys, binding_id, _description, tooltip in self.rows:
            table.add_row(Text(keys), Text(tooltip), Text(binding_id))
        return table

    def action_close(self) -> None:
        self.dismiss(None)
