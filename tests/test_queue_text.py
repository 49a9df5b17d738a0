"""The queue's problem column reads as the problem pane does, on one line, and follows the terminal's size.

Driven by Pilot on a real SQLite database: the cells are read back from the queue's DataTable.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable
from tui_data import make_app, make_db, settle

from rel_core.review_session import QueueFilter
from rel_core.store import Store
from rel_tui.screens.filter import FilterDialog
from rel_tui.screens.queue import PROBLEM_SOURCE_CHARS, QueueScreen, problem_line
from rel_tui.widgets.problem_pane import readable

MATH = "Let $ABCD$ be a square of side $\\frac{1}{2}$ and $f(x) = x\\ln x$; find $\\overline{AB}$."
MARKDOWN = "Find the **largest** $n$ with *exactly*\n\nthree   divisors: `n = p^2`."
HOSTILE = "Escape \x1b[31mred\x1b[0m\ttab\nand a new line"
LONG = "A long problem. " + "Every word of it counts, and $x^{2}$ too. " * 20


def queue_db(path: Path, texts: list[str]) -> Path:
    make_db(path, count=len(texts))
    with Store(path) as store:
        for problem_id, text in enumerate(texts, start=1):
            store.conn.execute("UPDATE problems SET text = ? WHERE id = ?", (text, problem_id))
        store.conn.commit()
    return path


@pytest.fixture
def db(tmp_path) -> Path:
    return queue_db(tmp_path / "rel.db", [MATH, MARKDOWN, HOSTILE, LONG])


async def open_queue(pilot) -> DataTable:
    await settle(pilot)
    pilot.app.session.filter = QueueFilter(states=())
    await pilot.press("g")
    await settle(pilot)
    assert isinstance(pilot.app.screen, QueueScreen)
    return pilot.app.screen.query_one(DataTable)


def problem_cell(table: DataTable, problem_id: int):
    return table.get_cell(str(problem_id), "problem")


def fits(table: DataTable) -> bool:
    """Every column is on screen: nothing to scroll sideways to."""
    return table.virtual_size.width <= table.scrollable_content_region.width


# -- what the cell says -------------------------------------------------------------------------------


async def test_latex_reads_as_in_the_problem_pane(db):
    app = make_app(db)
    async with app.run_test(size=(200, 50)) as pilot:
        table = await open_queue(pilot)
        cell = problem_cell(table, 1)
        assert cell.plain == readable(MATH).plain  # the pane's own rendering, not a second converter
        assert cell.plain == "Let ABCD be a square of side 1/2 and f(x) = x ln x; find A̅B̅."
        assert "$" not in cell.plain and "\\" not in cell.plain


async def test_markdown_is_read_and_the_problem_is_one_line(db):
    app = make_app(db)
    async with app.run_test(size=(200, 50)) as pilot:
        table = await open_queue(pilot)
        cell = problem_cell(table, 2)
        assert cell.plain == "Find the largest n with exactly three divisors: n = p^2."
        bold = [cell.plain[span.start : span.end] for span in cell.spans if "bold" in str(span.style)]
        assert bold == ["largest"]
        hostile = problem_cell(table, 3).plain
        assert "\x1b" not in hostile and "␛[31m" in hostile
        assert "\n" not in hostile and "\t" not in hostile and "tab and a new line" in hostile


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
async def test_a_long_problem_is_cut_with_an_ellipsis_to_the_column(db, size):
    app = make_app(db)
    async with app.run_test(size=size) as pilot:
        table = await open_queue(pilot)
        cell = problem_cell(table, 4)
        assert cell.plain.startswith("A long problem. Every word of it")
        assert cell.plain.endswith("…") and cell.cell_len > 20 and fits(table)


def test_a_huge_problem_renders_only_its_start():
    line = problem_line("**Huge** " + "$x$ " * 3 * PROBLEM_SOURCE_CHARS)
    assert line.plain.startswith("Huge x x x") and line.plain.endswith("…")
    assert line.cell_len <= PROBLEM_SOURCE_CHARS


# -- following the terminal's size --------------------------------------------------------------------


async def test_the_problem_column_follows_a_resize_and_back(db):
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_queue(pilot)
        await pilot.press("down", "down", "down")
        narrow = problem_cell(table, 4).cell_len
        assert "source" not in table.columns and fits(table)

        await pilot.resize_terminal(200, 50)
        await settle(pilot)
        wide = problem_cell(table, 4).cell_len
        assert wide > narrow + 100 and "source" in table.columns and fits(table)
        assert problem_cell(table, 4).plain.endswith("…")
        assert table.cursor_row == table.get_row_index("4")  # the expert's place is kept

        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert problem_cell(table, 4).cell_len == narrow and "source" not in table.columns and fits(table)
        assert table.cursor_row == table.get_row_index("4")


async def test_a_resize_under_a_dialog_is_followed_when_it_closes(db):
    app = make_app(db)
    async with app.run_test(size=(200, 50)) as pilot:
        table = await open_queue(pilot)
        wide = problem_cell(table, 4).cell_len
        await pilot.press("slash")
        await settle(pilot)
        assert isinstance(app.screen, FilterDialog)
        await pilot.resize_terminal(80, 24)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)
        assert problem_cell(table, 4).cell_len < wide and fits(table)


async def test_more_rows_load_after_a_resize(tmp_path):
    """Rows loaded page by page after a resize are cut for the new width, like the first page."""
    from rel_tui.screens import queue

    db = queue_db(tmp_path / "rel.db", [LONG] * 5)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        old_page, queue.PAGE = queue.PAGE, 2
        try:
            table = await open_queue(pilot)
            await pilot.resize_terminal(200, 50)
            await settle(pilot)
            await pilot.press("end")
            await settle(pilot)
        finally:
            queue.PAGE = old_page
        assert table.row_count == 5
        assert len({problem_cell(table, n).cell_len for n in range(1, 6)}) == 1 and fits(table)
