"""The review TUI's `b`: mark the problem itself broken from a dialog, find it in the database, take it back."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static
from tui_data import make_db, settle

from rel_core import problem_marks
from rel_core.config import Settings
from rel_core.problem_marks import MarkKind
from rel_core.store import Store
from rel_tui.app import ReviewApp
from rel_tui.screens.problem_mark import ProblemMarkDialog
from rel_tui.widgets.status_bar import StatusBar


def make_app(db) -> ReviewApp:
    return ReviewApp(db, Settings(), "alice")


def marks(db, problem_id: int, live: bool = True) -> list:
    with Store(db) as store:
        return problem_marks.live_marks(store, problem_id) if live else problem_marks.history(store, problem_id)


def messages(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_b_then_a_number_marks_the_problem_and_it_leaves_the_queue(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, ProblemMarkDialog)
        assert "1  wrong reference" in str(app.screen.query_one("#mark-presets", Static).render())
        await pilot.press("1")
        await settle(pilot)
        assert app.session.problem_id == 2  # the marked problem left the queue: on to the next one
        assert any(m.startswith("#1 marked broken: wrong reference") for m in messages(app))
        [mark] = marks(db, 1)
        assert (mark.kind, mark.annotator, mark.note) == (MarkKind.WRONG_REFERENCE, "alice", None)
        # Back to it: b shows the mark, u takes it back (the row stays, marked undone).
        await pilot.press("p")
        await settle(pilot)
        assert app.session.problem_id == 1
        await pilot.press("b")
        await pilot.pause()
        assert "Marked broken by alice: wrong reference" in str(app.screen.query_one("#mark-current", Static).render())
        await pilot.press("u")
        await settle(pilot)
        assert not isinstance(app.screen, ProblemMarkDialog)
        assert marks(db, 1) == [] and marks(db, 1, live=False)[0].undone_by == "alice"
        assert app.session.current_in_queue()


async def test_typed_words_mark_it_other_and_digits_after_letters_are_text(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("b", *"same as problem 2", "enter")
        await settle(pilot)
        [mark] = marks(db, 1)
        assert (mark.kind, mark.note) == (MarkKind.OTHER, "same as problem 2")
        await pilot.press("b")  # on problem 2 now
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ProblemMarkDialog) and marks(db, 2) == []


async def test_the_marked_filter_shows_marked_problems(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    with Store(db) as store:
        problem_marks.mark(store, 3, "bob", MarkKind.DUPLICATE, "of #1")
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press("7")
        await settle(pilot)
        assert app.session.problem_id == 3 and app.session.filter.marked
        await pilot.press("b")
        await pilot.pause()
        assert "bob: duplicate: of #1" in str(app.screen.query_one("#mark-current", Static).render())
        await pilot.press("m")  # mark again: alice's own mark beside bob's
        await pilot.pause()
        assert app.screen.query_one("#mark-note", Input).has_focus
        await pilot.press("5")
        await settle(pilot)
    assert sorted((m.annotator, m.kind) for m in marks(db, 3)) == [("alice", MarkKind.NEEDS_FIGURE), ("bob", MarkKind.DUPLICATE)]


# -- snapshots (cursor blink frozen) ------------------------------------------------------------------


async def _open_dialog(pilot) -> None:
    await settle(pilot)
    if problem_marks.marked_problem_ids(pilot.app.session.store):
        await pilot.press("slash", "7")  # the marked problem is out of the queue: the marked filter shows it
        await settle(pilot)
    await pilot.press("b")
    await pilot.pause()
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    await settle(pilot)


@pytest.mark.parametrize("marked", [False, True], ids=["form", "marked"])
def test_snapshot_mark_dialog_80x24(tmp_path, snap_compare, marked):
    db = make_db(tmp_path / "rel.db", count=2)
    if marked:
        with Store(db) as store:
            mark_id = problem_marks.mark(store, 1, "alice", MarkKind.AMBIGUOUS, "which triangle?")
            store.conn.execute("update problem_marks set created_at = '2026-01-02T03:04:05.000+00:00' where id = ?", [mark_id])
    assert snap_compare(make_app(db), terminal_size=(80, 24), run_before=_open_dialog)


async def test_the_status_bar_leaves_marked_problems_out_of_its_counts(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = str(app.screen.query_one(StatusBar).render())
        await pilot.press("b", "1")
        await settle(pilot)
        after = str(app.screen.query_one(StatusBar).render())
        assert "0/3 reviewed · 3 awaiting" in before
        assert "0/2 reviewed · 2 awaiting" in after  # the marked problem is out of the review, not awaiting it
