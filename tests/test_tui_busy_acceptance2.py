"""Acceptance pass 2, finding 6: while another process holds the write lock, the review app keeps
taking keys. The app has its real 30 s busy timeout here; another connection holds the lock (as a long
`import --strict` would). A key that needs the lock waits for it visibly, without blocking the event
loop: help, scrolling and quit work meanwhile, and once the lock is gone the waiting key completes
on the item it was pressed on.
"""

from __future__ import annotations

import time
from pathlib import Path

from db_lock import database_held
from textual.widgets import Input
from tui_data import busy_notices, make_app, make_db, record, settle

from rel_core.models import ProblemState
from rel_core.store import Store
from rel_tui.patient_writes import BusyLine
from rel_tui.screens.filter import FilterDialog
from rel_tui.screens.help import HelpScreen
from rel_tui.screens.review import ReviewScreen

GAVE_UP = "was not"  # the words of every "… was not saved / opened" notice


async def wait_for(pilot, condition, seconds: float = 20.0) -> None:
    """Let the app run (its workers retry meanwhile) until `condition()` holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the app never got there"
        await pilot.pause(0.05)


def busy_line(app) -> BusyLine:
    return next(s for s in app.screen_stack if isinstance(s, ReviewScreen)).query_one(BusyLine)


def live_reviews(db: Path) -> list[tuple[int, str]]:
    with Store(db) as store:
        return [tuple(r) for r in store.conn.execute("select problem_id, decision from reviews where undone_at is null")]


def claimed_by(db: Path, problem_id: int) -> str | None:
    with Store(db) as store:
        return store.conn.execute("select claimed_by from problems where id = ?", [problem_id]).fetchone()[0]


async def test_n_waits_for_the_lock_while_help_opens_and_then_opens_the_next_item(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = make_app(db)  # the real busy timeout: 30 s
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        held = database_held(db)
        try:
            await pilot.press("n")
            await pilot.pause()
            line = busy_line(app)
            assert line.has_class("-waiting")
            assert "Database busy: waiting for another process (opening the next item)" in str(line.render())
            await pilot.press("down", "down", "question_mark")  # scrolling and help, at once
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), seconds=5)
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), seconds=5)
            assert app.session.problem_id == 1  # still waiting: nothing moved, nothing given up
            assert not any(GAVE_UP in m for m in busy_notices(app))
        finally:
            held.release()
        await wait_for(pilot, lambda: app.session.problem_id == 2)
        await settle(pilot)
        assert not busy_line(app).has_class("-waiting")
        assert claimed_by(db, 2) == app.session.owner and claimed_by(db, 1) is None


async def test_q_quits_at_once_while_another_process_holds_the_lock(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = make_app(db)
    held = None
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            held = database_held(db)
            await pilot.press("n")  # a move waiting for the lock does not hold the app either
            await pilot.pause()
            started = time.monotonic()
            await pilot.press("q")
        left_after = time.monotonic() - started  # the app has unmounted: its claim release gave up
    finally:
        if held is not None:
            held.release()
    # The old app waited its 30 s busy timeout to release the claim before leaving.
    assert left_after < 10
    assert claimed_by(db, 1) == app.session.owner  # not released: it lapses by itself


async def test_filter_whose_first_item_is_another_problem_waits_then_opens_it(tmp_path):
    db = tmp_path / "rel.db"
    with Store(db) as store:
        store.import_records([record(1), record(2), record(3, text="Two dice are rolled. What is the chance of a double six?")])
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        with database_held(db):
            await pilot.press("slash")
            await wait_for(pilot, lambda: isinstance(app.screen, FilterDialog), seconds=5)
            app.screen.query_one("#filter-search", Input).value = "dice"
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), seconds=5)
            await pilot.pause()
            assert busy_line(app).has_class("-waiting")
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), seconds=5)
            await pilot.press("escape")
            await pilot.pause()
            assert app.session.problem_id == 1
        await wait_for(pilot, lambda: app.session.problem_id == 3)
        await settle(pilot)
        assert app.session.filter.search == "dice"


async def test_a_decision_waits_on_its_item_and_other_decision_keys_are_refused_meanwhile(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        with database_held(db):
            await pilot.press("a")
            await pilot.pause()
            assert busy_line(app).has_class("-waiting")
            await pilot.press("s", "x")  # would land on #1 again, or on an item not seen yet
            await pilot.pause()
            assert isinstance(app.screen, ReviewScreen)  # no reject dialog to type a reason into in vain
            assert any("Still waiting for the database (saving accepted on #1)" in m for m in busy_notices(app))
            assert live_reviews(db) == []
        await wait_for(pilot, lambda: app.session.problem_id == 2)
        await settle(pilot)
    assert live_reviews(db) == [(1, "accepted")]
    with Store(db) as store:
        assert store.get_problem(1).state == ProblemState.ACCEPTED


async def test_the_filter_dialog_says_words_match_whole_words(tmp_path):
    db = make_db(tmp_path / "rel.db", count=1)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.screen, FilterDialog), seconds=5)
        shown = " ".join(str(w.render()) for w in app.screen.query("Static"))
        assert "whole words" in shown


async def test_q_while_a_decision_waits_asks_once_so_the_decision_is_not_dropped(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        with database_held(db):
            await pilot.press("a", "q")
            await pilot.pause()
            assert app.is_running
            assert any("Not quitting yet: waiting for the database (saving accepted on #1)" in m for m in busy_notices(app))
        await wait_for(pilot, lambda: app.session.problem_id == 2)
        await settle(pilot)
        assert live_reviews(db) == [(1, "accepted")]
        with database_held(db):
            await pilot.press("a", "q", "q")  # asked once; the second q leaves without it
            await wait_for(pilot, lambda: not app.is_running, seconds=10)
    assert live_reviews(db) == [(1, "accepted")]
