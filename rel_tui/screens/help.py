"""Every key of the review TUI, with what it does (keys as remapped by the user's keymap): the
review screen first, then scrolling, the editor, the queue and the dialogs."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from rel_tui.screens.key_bursts import ClosesOnce

Row = tuple[str, str, str, str]
"""(keys as displayed, binding id, description, tooltip)."""

# Keys the panes take from Textual itself (no binding of ours, so not remappable).
SCROLLING: list[Row] = [
    ("↑ / ↓", "", "", "Scroll the focused pane a line (j / k do the same)"),
    ("pageup / pagedown", "", "", "Scroll the focused pane a page (space pages down)"),
    ("home / end", "", "", "To the top or the end of the focused pane"),
    ("tab / shift+tab", "", "", "Focus the next or previous pane (its border lights up)"),
]

# Keys of the editor (a Textual TextArea) and the queue (a DataTable) beside the bindings of ours.
EDITOR_KEYS: list[Row] = [
    ("arrows, home / end", "", "", "Move the cursor (shift selects); ctrl+left / ctrl+right by word"),
    ("ctrl+z / ctrl+y", "", "", "Undo / redo typing"),
    ("ctrl+x / ctrl+c / ctrl+v", "", "", "Cut / copy / paste"),
]
QUEUE_KEYS: list[Row] = [
    ("↑ / ↓, pageup / pagedown", "", "", "Move through the queue (more rows load near the end)"),
    ("enter", "", "", "Open the highlighted item"),
]
REJECT_KEYS: list[Row] = [
    (
        "1 … 9",
        "reject.preset_N",
        "",
        "Reject at once with that preset reason (config review.reject_presets), while nothing is typed",
    ),
    ("enter", "", "", "Reject with the typed reason (empty: no reason)"),
    ("escape", "dialog.cancel", "", "Close without rejecting"),
]
FILTER_KEYS: list[Row] = [
    (
        "1 2 3 4 5 6 0",
        "filter.state_*",
        "",
        "Apply one state at once (awaiting review, accepted, rejected, failed, errored, pending, all), while the words field is empty",
    ),
    ("tab / shift+tab", "", "", "Move between state, source and words"),
    ("enter", "", "", "Apply the filter (words are searched in problems, drafts and critiques)"),
    ("escape", "dialog.cancel", "", "Keep the current filter"),
]


class HelpScreen(ClosesOnce, ModalScreen[None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close", tooltip="Back to the review")]

    def __init__(self, rows: list[Row], sections: list[tuple[str, list[Row]]] | None = None) -> None:
        """`rows` are the review screen's keys; `sections` the other screens' and dialogs', by title."""
        super().__init__()
        self.rows = rows
        self.sections = [("Scrolling", SCROLLING), *(sections or [])]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help") as box:
            box.border_title = "Keys"
            with VerticalScroll(id="help-scroll"):
                yield Static(self._tables(), id="help-table")
            yield Static(
                Content('Rebind keys by id in rel.toml, e.g. [review.keymap] accept = "a,enter" · escape: close'),
                classes="hint",
            )

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()  # arrows, page keys, home and end scroll the list

    def _tables(self) -> Group:
        parts: list[Table | Text] = [self._table(self.rows)]
        for title, rows in self.sections:
            parts += [Text(f"\n{title}", style="bold underline"), self._table(rows)]
        return Group(*parts)

    @staticmethod
    def _table(rows: list[Row]) -> Table:
        table = Table(box=None, expand=True, show_edge=False, pad_edge=False, header_style="bold")
        table.add_column("key", no_wrap=True, style="bold")
        table.add_column("what it does", ratio=1)
        table.add_column("id (for the keymap)", no_wrap=True, style="dim")
        for keys, binding_id, _description, tooltip in rows:
            table.add_row(Text(keys), Text(tooltip), Text(binding_id))
        return table

    def action_close(self) -> None:
        self.dismiss(None)
