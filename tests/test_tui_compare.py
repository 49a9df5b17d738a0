"""Comparing attempts word by word (`d`): the real app under Pilot on a real SQLite file."""

from __future__ import annotations

import pytest
from textual.content import Content
from textual.widgets import Static, TextArea
from tui_data import settle

from rel_core.config import Settings
from rel_core.models import Attempt, AttemptKind, ImportRecord, Problem
from rel_core.store import Store
from rel_tui.app import ReviewApp
from rel_tui.screens.compare import DELETED, INSERTED, CompareScreen, word_diff
from rel_tui.screens.diff import DiffScreen
from rel_tui.screens.edit import EditScreen
from rel_tui.screens.review import ReviewScreen

FIRST = "We count the border: $2 \\cdot 14 + 2 \\cdot 9 = 46$.\n\nSo the path is $46$ m$^2$."
SECOND = "We count the border and the corners: $2 \\cdot 14 + 2 \\cdot 9 + 4 = 50$.\n\nSo the path is $50$ m$^2$."
THIRD = "The outer rectangle is $16 \\cdot 11 = 176$.\n\nSo the path is $176 - 126 = 50$ m$^2$. [red]not markup[/red]"


def attempts_db(path):
    """Three attempts: the second revises the first, the third (shown) revises the first too."""
    record = ImportRecord(
        problem=Problem(text="A garden is 14 m by 9 m with a 1 m path around it. Area of the path?", reference_answer="50"),
        attempts=[Attempt(kind=AttemptKind.GENERATED, text=FIRST, model="m", final_answer="46")],
    )
    with Store(path) as store:
        store.import_records([record])
        first = store.history(1).attempts[0].id
        store.add_attempt(Attempt(problem_id=1, parent_id=first, kind=AttemptKind.REVISED, text=SECOND, model="m"))
        store.add_attempt(Attempt(problem_id=1, parent_id=first, kind=AttemptKind.REVISED, text=THIRD, model="m"))
    return path


def styled(static: Static, style: str) -> list[str]:
    """The runs of the Static's text drawn in `style`."""
    content = static.content
    assert isinstance(content, Content)
    return [content.plain[span.start : span.end].strip() for span in content.spans if str(span.style) == style]


def side_styled(screen, side: str, style: str) -> list[str]:
    """The runs drawn in `style` on one side ("old" or "new") of the side-by-side rows, top to bottom."""
    return [run for static in screen.query(f"#compare-rows .{side}") for run in styled(static, style)]


def side_text(screen, side: str) -> str:
    return "\n".join(static.content.plain for static in screen.query(f"#compare-rows .{side}"))


def text_of(app, selector: str) -> str:
    return app.screen.query_one(selector, Static).content.plain


def test_the_word_diff_marks_words_not_lines():
    chunks = word_diff(FIRST, SECOND)
    changed = [(c.tag, c.old.strip(), c.new.strip()) for c in chunks if c.tag != "equal"]
    assert changed == [
        ("replace", "border:", "border and the corners:"),
        ("insert", "", "+ 4"),
        ("replace", "46$.", "50$."),
        ("replace", "$46$", "$50$"),
    ]
    assert "".join(c.old for c in chunks) == FIRST and "".join(c.new for c in chunks) == SECOND


async def test_compare_shows_the_shown_attempt_against_its_parent_side_by_side(tmp_path):
    app = ReviewApp(attempts_db(tmp_path / "rel.db"), Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen) and screen.has_class("-wide")
        title = text_of(app, "#compare-title")
        assert "Draft 1/3 #1 · generated (parent)" in title and "Draft 3/3 #3 · revised (shown)" in title
        assert side_styled(screen, "old", DELETED) == ["We count the border: $2", "14 + 2 \\cdot 9", "46$.", "$46$"]
        inserted = side_styled(screen, "new", INSERTED)
        assert inserted == ["The outer rectangle is $16", "11", "176$.", "$176 - 126 = 50$", "[red]not markup[/red]"]
        assert "So the path is" in side_text(screen, "new")  # unchanged words, unstyled
        assert screen.query_one("#compare-sides").display and not screen.query_one("#compare-unified").display
        await pilot.press("right_square_bracket")  # the other attempt: the second, beside the shown third
        await settle(pilot)
        title = text_of(app, "#compare-title")
        assert "Draft 2/3 #2 · revised  →  Draft 3/3 #3 · revised (shown)" in title
        assert "the corners: $2" in " ".join(side_styled(screen, "old", DELETED))
        assert "46$" not in side_text(screen, "old")  # the first attempt's rows are gone
        await pilot.press("p")
        await settle(pilot)
        assert "#1 · generated (parent)" in text_of(app, "#compare-title")
        await pilot.press("escape")
        assert isinstance(app.screen, ReviewScreen)


async def test_compare_is_unified_below_120_columns(tmp_path):
    app = ReviewApp(attempts_db(tmp_path / "rel.db"), Settings(), "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("left_square_bracket", "d")  # the second attempt against its parent
        await settle(pilot)
        screen = app.screen
        assert screen.has_class("-narrow") and screen.query_one("#compare-unified").display
        body = screen.query_one("#compare-unified-body", Static)
        assert styled(body, DELETED) == ["border:", "46$.", "$46$"]
        assert styled(body, INSERTED) == ["border and the corners:", "+ 4", "50$.", "$50$"]
        assert "+8 words, −3 words" in text_of(app, "#compare-summary")


async def test_a_single_attempt_has_nothing_to_compare(tmp_path):
    path = tmp_path / "rel.db"
    with Store(path) as store:
        store.import_records(
            [ImportRecord(problem=Problem(text="P"), attempts=[Attempt(kind=AttemptKind.GENERATED, text=FIRST)])]
        )
    app = ReviewApp(path, Settings(), "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        assert isinstance(app.screen, ReviewScreen)
        assert "only one attempt" in " ".join(str(n.message) for n in app._notifications)


async def test_a_saved_edit_shows_its_word_diff_and_d_reopens_it(tmp_path):
    db = attempts_db(tmp_path / "rel.db")
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        assert isinstance(app.screen, EditScreen)
        editor = app.screen.query_one(TextArea)
        editor.load_text(THIRD.replace("outer rectangle", "whole plot"))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, DiffScreen)
        body = app.screen.query_one("#diff-body", Static)
        assert styled(body, DELETED) == ["outer rectangle"] and styled(body, INSERTED) == ["whole plot"]
        await pilot.press("escape")
        await pilot.press("d")  # later: the same key shows the edit against its parent again
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert "Draft 3/4 #3 · revised (parent)  →  Draft 4/4 #4 · human_edit (shown)" in text_of(app, "#compare-title")
        assert side_styled(screen, "new", INSERTED) == ["whole plot"]
    with Store(db) as store:
        edit = store.history(1).attempts[-1]
        assert edit.kind == AttemptKind.HUMAN_EDIT and edit.parent_id == 3
        assert edit.text == THIRD.replace("outer rectangle", "whole plot")


# -- snapshots (cursor blink frozen) ------------------------------------------------------------------


async def _compare_frozen(pilot) -> None:
    await settle(pilot)
    await pilot.press("d")
    await settle(pilot)
    for widget in pilot.app.screen.query("TextArea, Input"):
        widget.cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
def test_snapshot_compare_screen(tmp_path, snap_compare, size):
    app = ReviewApp(attempts_db(tmp_path / "rel.db"), Settings(), "alice")
    assert snap_compare(app, terminal_size=size, run_before=_compare_frozen)


async def test_side_by_side_rows_keep_unchanged_paragraphs_level(tmp_path):
    old = "## Plan\n\nCount the border.\n\n## Check\n\nThe path is $50$."
    new = "## Plan\n\nCount the border.\n\nCount the corners once.\n\n## Check\n\nThe path is $50$."
    path = tmp_path / "rel.db"
    attempts = [Attempt(kind=AttemptKind.GENERATED, text=old), Attempt(kind=AttemptKind.REVISED, text=new)]
    with Store(path) as store:
        store.import_records([ImportRecord(problem=Problem(text="P"), attempts=attempts)])
    app = ReviewApp(path, Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        rows = [
            (r.query_one(".old", Static).content.plain, r.query_one(".new", Static).content.plain)
            for r in app.screen.query("#compare-rows .row")
        ]
        assert rows == [
            ("## Plan\n\nCount the border.", "## Plan\n\nCount the border."),
            ("", "Count the corners once."),
            ("## Check\n\nThe path is $50$.", "## Check\n\nThe path is $50$."),
        ]
        assert side_styled(app.screen, "new", INSERTED) == ["Count the corners once."]


def test_snapshot_saved_edit_diff(tmp_path, snap_compare):
    async def save_an_edit(pilot) -> None:
        await settle(pilot)
        await pilot.press("e")
        pilot.app.screen.query_one(TextArea).load_text(THIRD.replace("outer rectangle", "whole plot"))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(pilot.app.screen, DiffScreen)
        await _compare_frozen_here(pilot)

    app = ReviewApp(attempts_db(tmp_path / "rel.db"), Settings(), "alice")
    assert snap_compare(app, terminal_size=(100, 30), run_before=save_an_edit)


async def _compare_frozen_here(pilot) -> None:
    for widget in pilot.app.screen.query("TextArea, Input"):
        widget.cursor_blink = False
    await pilot.pause()
