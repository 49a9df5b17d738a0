"""The queue as a table: a page of problems at a time, more as the cursor nears the end."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from rel_core.models import QueueItem, Standing
from rel_core.review_session import QueueFilter, ReviewSession
from rel_core.terminal_text import one_line
from rel_tui.database_write import database_write
from rel_tui.latex import readable_markdown
from rel_tui.screens.filter import FilterDialog
from rel_tui.screens.key_bursts import ClosesOnce

PAGE = 200
MIN_PROBLEM_CELLS = 20  # the problem column's width when the other columns fill the terminal
# Below 120 columns the problem keeps room to be read: no source column, skip marks in short and
# long verdicts cut (the review screen shows them whole).
NARROW_COLUMNS = 120
NARROW_CELLS = 16
# The verdict column: the standing of the accepted attempt, else the latest (rel_core.verdicts).
OTHER_COLUMNS = [("#", "id"), ("state", "state"), ("att", "attempts"), ("verdict", "verdict"), ("source", "source")]
VERDICT_COLOUR = {Standing.CORRECT: "green", Standing.INCORRECT: "red", Standing.DISPUTED: "yellow"}


# Characters of a problem rendered for its cell: more than a 200-column line shows, and a bound
# on the work (Markdown dense with emphasis costs markdown-it about 10 µs a character).
PROBLEM_SOURCE_CHARS = 500
# Read as Rich reads a draft's Markdown (rich.markdown's parser), so the queue says what the panes say.
_MARKDOWN = MarkdownIt().enable("strikethrough")
_STYLE_OPENED = {"strong_open": "bold", "em_open": "italic", "s_open": "strike"}
_STYLE_CLOSED = {"strong_close", "em_close", "s_close"}
_SHOWN = {"text", "code_inline", "html_inline", "image", "softbreak", "hardbreak"}  # links: their text tokens
_WHITESPACE = re.compile(r"\s+")


def problem_line(text: str) -> Text:
    """The problem as one line, whole: its LaTeX as the problem pane shows it (rel_tui.latex), its
    inline Markdown read (bold as bold, not `**`), every run of whitespace one space."""
    source = text[:PROBLEM_SOURCE_CHARS]
    [paragraph] = _MARKDOWN.parseInline(readable_markdown(source))
    pieces: list[tuple[str, str]] = []  # (text, style) with no whitespace but single spaces
    styles: list[str] = []
    after_space = True  # the line so far is empty or ends with a space
    for token in paragraph.children or []:
        if token.type in _STYLE_OPENED:
            styles.append(_STYLE_OPENED[token.type])
        elif token.type in _STYLE_CLOSED:
            styles = styles[:-1]
        elif token.type in _SHOWN:
            content = " " if token.type in ("softbreak", "hardbreak") else _WHITESPACE.sub(" ", token.content)
            if after_space:
                content = content.lstrip(" ")  # one space between words, none at the start
            if content:
                pieces.append((one_line(content), " ".join(styles)))
                after_space = content.endswith(" ")
    line = Text.assemble(*pieces)
    line.rstrip()
    if len(text) > len(source):
        line.append("…")
    return line


def first_line(line: Text, width: int) -> Text:
    """The problem's line cut to `width` cells, an ellipsis where it was cut."""
    shown = line.copy()
    shown.truncate(width, overflow="ellipsis")
    return shown


def skip_mark(count: int) -> Text:
    """Skipped items are marked, so an expert sees what they (or others) passed over."""
    return Text(f"↷ skipped {count}×", style="yellow")


def cell_width(cell: Text | int) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(str(cell))


class QueueTable(DataTable):
    """The queue's table: home and end go to the first and last row (DataTable's scroll sideways)."""

    BINDINGS = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]


class QueueScreen(ClosesOnce, Screen[int | None]):
    """Returns the id of the problem to open, or None."""

    CSS_PATH = "queue.tcss"
    BINDINGS = [
        Binding("escape,g", "close", "Back", id="queue.close", tooltip="Back to the review"),
        Binding("slash", "filter", "Filter", id="queue.filter", tooltip="Filter by state, source and text"),
    ]

    def __init__(self, session: ReviewSession) -> None:
        super().__init__()
        self.session = session
        self.last_id = 0
        self.exhausted = False
        self.items: list[tuple[QueueItem, int]] = []  # the rows loaded so far, with their skip counts
        self.problem_lines: dict[int, Text] = {}  # each loaded problem's whole line, rendered once
        self.built_for: tuple[int, int] | None = None  # (terminal width, problem cells) the table was built for

    def compose(self) -> ComposeResult:
        yield Static(id="queue-title")
        yield QueueTable(cursor_type="row", zebra_stripes=True, id="queue-table")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.query_one(DataTable).focus()

    def reload(self) -> None:
        self.items, self.problem_lines, self.built_for = [], {}, None
        self.last_id, self.exhausted = 0, False
        self.query_one("#queue-title", Static).update(Text(one_line(f"Queue: {self.session.filter.describe()} · enter: open")))
        self.load_page()
        self.rebuild()
        if not self.query_one(DataTable).row_count:
            self.query_one("#queue-title", Static).update(
                Text(one_line(f"No matches: {self.session.filter.describe()} · / filter"))
            )
        self._move_to_current()

    def load_page(self) -> None:
        if self.exhausted:
            return
        items: list[QueueItem] = []
        with database_write(self, "The queue could not be read"):
            items = self.session.queue_page(after_id=self.last_id, limit=PAGE)
        self.exhausted = len(items) < PAGE
        skips: dict[int, int] = {}
        with database_write(self, "The skip marks could not be read"):
            skips = self.session.skip_counts([item.id for item in items])
        if not items:
            return
        self.last_id = items[-1].id
        page = [(item, skips.get(item.id, 0)) for item in items]
        self.items.extend(page)
        self.problem_lines.update((item.id, problem_line(item.text)) for item in items)
        if self.built_for is not None and self.built_for == self.layout_key():
            self.add_rows(page, self.built_for[1])
        elif self.built_for is not None:
            self.rebuild()  # the new rows widen another column: every problem cell is cut again

    @property
    def narrow(self) -> bool:
        return self.app.size.width < NARROW_COLUMNS

    def other_columns(self) -> list[tuple[str, str]]:
        """(label, key) of every column but the problem's, in order: the source only from 120 columns."""
        return OTHER_COLUMNS[:-1] if self.narrow else OTHER_COLUMNS

    def layout_key(self) -> tuple[int, int]:
        """What the table's cells depend on: the terminal's width and the problem column's."""
        return self.app.size.width, self.problem_cells([self._cells(item, skips) for item, skips in self.items])

    def rebuild(self) -> None:
        """The table again from the loaded rows, for the terminal's width now (the columns too:
        below 120 columns there is no source column and the state and verdict cells are shorter)."""
        table = self.query_one(DataTable)
        cursor = self._cursor_key()
        table.clear(columns=True)
        for label, key in [*self.other_columns(), ("problem", "problem")]:
            table.add_column(label, key=key)
        self.built_for = self.layout_key()
        self.add_rows(self.items, self.built_for[1])
        if cursor is not None and cursor in table.rows:
            table.move_cursor(row=table.get_row_index(cursor), animate=False)

    def add_rows(self, rows: list[tuple[QueueItem, int]], problem_cells: int) -> None:
        table = self.query_one(DataTable)
        for item, skips in rows:
            table.add_row(*self._cells(item, skips), first_line(self.problem_lines[item.id], problem_cells), key=str(item.id))

    def _cursor_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def on_resize(self, event: events.Resize) -> None:
        self._follow_width()

    def on_screen_resume(self) -> None:
        self._follow_width()  # the terminal may have been resized under a dialog

    def _follow_width(self) -> None:
        if self.built_for is not None and self.built_for != self.layout_key():
            self.rebuild()

    def _cells(self, item: QueueItem, skips: int) -> list[Text | int]:
        """Every cell of the item's row but the problem's."""
        state = Text(str(item.state))
        if skips:  # below 120 columns as "↷ 2×"
            state.append_text(Text.assemble(" ", skip_mark(skips) if not self.narrow else Text(f"↷ {skips}×", style="yellow")))
        verdict = Text(item.verdict_label or "–", style=VERDICT_COLOUR.get(item.verdict, ""))
        if self.narrow:
            verdict.truncate(NARROW_CELLS, overflow="ellipsis")
        cells: list[Text | int] = [item.id, state, item.attempts, verdict]
        return cells if self.narrow else [*cells, Text(one_line(item.source or ""))]

    def problem_cells(self, rows: list[list[Text | int]]) -> int:
        """The problem column gets the width the other columns leave (at 80 columns too)."""
        headers = [label for label, _ in self.other_columns()]
        others = [max([len(header), *(cell_width(row[i]) for row in rows)]) for i, header in enumerate(headers)]
        padding = 2 * self.query_one(DataTable).cell_padding * (len(others) + 1)
        # 2: the scrollbar
        return max(MIN_PROBLEM_CELLS, self.app.size.width - sum(others) - padding - 2)

    def _move_to_current(self) -> None:
        table = self.query_one(DataTable)
        current = self.session.problem_id
        if current is not None and str(current) in table.rows:
            table.move_cursor(row=table.get_row_index(str(current)))

    @on(DataTable.RowHighlighted)
    def _maybe_load_more(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= event.data_table.row_count - 20:
            self.load_page()

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        self.dismiss(int(event.row_key.value))

    def action_close(self) -> None:
        self.dismiss(None)

    def action_filter(self) -> None:
        self.app.push_screen(FilterDialog(self.session.filter, self.session.sources()), self._filtered)

    def _filtered(self, queue_filter: QueueFilter | None) -> None:
        if queue_filter is not None:
            self.session.filter = queue_filter
            self.reload()
