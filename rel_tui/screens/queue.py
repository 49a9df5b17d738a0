"""The queue as a table: a page of problems at a time, more as the cursor nears the end."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from rel_core.models import QueueItem, Standing
from rel_core.review_session import QueueFilter, ReviewSession
from rel_core.terminal_text import one_line
from rel_tui.database_write import database_write
from rel_tui.screens.filter import FilterDialog
from rel_tui.screens.key_bursts import ClosesOnce

PAGE = 200
MIN_PROBLEM_CELLS = 20  # the problem column's width when the other columns fill the terminal
# Below 120 columns the problem keeps room to be read: no source column, skip marks in short and
# long verdicts cut (the review screen shows them whole).
NARROW_COLUMNS = 120
NARROW_CELLS = 16
# The verdict column: the standing of the accepted attempt, else the latest (rel_core.verdicts).
VERDICT_COLOUR = {Standing.CORRECT: "green", Standing.INCORRECT: "red", Standing.DISPUTED: "yellow"}


def first_line(text: str, width: int = 60) -> Text:
    # Cut before joining: a 10 MB problem must not be split and joined whole for one cell.
    line = one_line(" ".join(text[: width * 4].split()))
    return Text(line[:width] + ("…" if len(line) > width or len(text) > width * 4 else ""))


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

    def compose(self) -> ComposeResult:
        yield Static(id="queue-title")
        yield QueueTable(cursor_type="row", zebra_stripes=True, id="queue-table")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("#", key="id")
        table.add_column("state", key="state")
        table.add_column("att", key="attempts")
        table.add_column("verdict", key="verdict")
        if not self.narrow:
            table.add_column("source", key="source")
        table.add_column("problem", key="problem")
        self.reload()
        table.focus()

    def reload(self) -> None:
        self.query_one(DataTable).clear()
        self.last_id, self.exhausted = 0, False
        self.query_one("#queue-title", Static).update(Text(one_line(f"Queue: {self.session.filter.describe()} · enter: open")))
        self.load_page()
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
        table = self.query_one(DataTable)
        rows = [self._cells(item, skips.get(item.id, 0)) for item in items]
        width = self.problem_cells(rows)
        for item, row in zip(items, rows, strict=True):
            table.add_row(*row, first_line(item.text, width), key=str(item.id))
        if items:
            self.last_id = items[-1].id

    @property
    def narrow(self) -> bool:
        return self.app.size.width < NARROW_COLUMNS

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
        table = self.query_one(DataTable)
        headers = [len(str(column.label)) for column in table.columns.values()][: len(rows[0])] if rows else []
        others = [max([header, *(cell_width(row[i]) for row in rows)]) for i, header in enumerate(headers)]
        padding = 2 * table.cell_padding * (len(others) + 1)
        # 2: the scrollbar; 1: the "…" first_line adds to a cut line
        return max(MIN_PROBLEM_CELLS, self.app.size.width - sum(others) - padding - 3)

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
