"""Every key of the review TUI that writes survives a busy database: a notification, then the same key works.

Another connection holds the write lock on the same SQLite file (BEGIN IMMEDIATE, as a long import
in another process would); the app waits its short busy timeout, says what was not saved, keeps
running, and once the lock is gone the same key stores what it should.
"""

from __future__ import annotations

import ast
import signal
from pathlib import Path

import pytest
from db_lock import database_held
from llm_server import Reply
from textual.widgets import Input, TextArea
from tui_data import busy_app as review_app
from tui_data import busy_notices, make_db, settle

from rel_core.models import AttemptKind, CritiqueSource, Decision, ProblemState
from rel_core.store import Store
from rel_tui.database_write import rescue_dir
from rel_tui.screens.confirm import ConfirmDialog
from rel_tui.screens.edit import EditScreen
from rel_tui.screens.queue import QueueScreen
from rel_tui.screens.review import ReviewScreen

RUNNING_AND_NOT_SAVED = "the app kept running and said what was not saved"


async def press_while_held(app, pilot, db: Path, *keys: str, expect: str) -> None:
    """Press `keys` with the database held; the app must still run and name what was not saved."""
    before = len(busy_notices(app))
    with database_held(db):
        await pilot.press(*keys)
        await settle(pilot)
        assert app.is_running, RUNNING_AND_NOT_SAVED
        new = busy_notices(app)[before:]
        assert any(expect in message for message in new), new


def claims(db: Path) -> dict[int, str | None]:
    with Store(db) as store:
        return {row[0]: row[1] for row in store.conn.execute("select id, claimed_by from problems")}


def live_reviews(db: Path) -> list[tuple[int, str, str | None]]:
    with Store(db) as store:
        rows = store.conn.execute("select problem_id, decision, note from reviews where undone_at is null order by id")
        return [tuple(row) for row in rows]


# -- moving: n, p, g + enter, / -------------------------------------------------------------------


async def test_next_on_a_busy_database_stays_and_n_retries(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press_while_held(app, pilot, db, "n", expect="next item was not opened")
        assert app.session.problem_id == 1
        assert claims(db)[1] == app.session.owner and claims(db)[2] is None  # both or neither
        await pilot.press("n")
        await settle(pilot)
        assert app.session.problem_id == 2
        assert claims(db)[2] == app.session.owner and claims(db)[1] is None


async def test_previous_on_a_busy_database_keeps_the_way_back(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await settle(pilot)
        await press_while_held(app, pilot, db, "p", expect="earlier item was not opened")
        assert app.session.problem_id == 2
        await pilot.press("p")
        await settle(pilot)
        assert app.session.problem_id == 1
        assert claims(db)[1] == app.session.owner


async def test_opening_from_the_queue_on_a_busy_database(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press_while_held(app, pilot, db, "g", "down", "enter", expect="#2 was not opened")
        assert app.session.problem_id == 1
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("g", "down", "enter")
        await settle(pilot)
        assert app.session.problem_id == 2
        assert claims(db)[2] == app.session.owner


async def test_the_queue_screen_reads_a_busy_database(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        with database_held(db):
            await pilot.press("g")
            await settle(pilot)
            assert isinstance(app.screen, QueueScreen)
            assert app.screen.query_one("#queue-table").row_count == 3  # reads go on while another process writes


async def test_filter_on_a_busy_database_changes_nothing_until_it_can(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)

        async def filter_for(words: str) -> None:
            await pilot.press("slash")
            await pilot.pause()
            app.screen.query_one("#filter-search", Input).value = words
            await pilot.press("enter")

        before = len(busy_notices(app))
        with database_held(db):
            await filter_for("Problem 3")
            await settle(pilot)
            assert app.is_running
            assert any("filtered queue was not opened" in m for m in busy_notices(app)[before:])
        assert app.session.problem_id == 1 and app.session.filter.search is None
        await filter_for("Problem 3")
        await settle(pilot)
        assert app.session.problem_id == 3 and app.session.filter.search == "Problem 3"


async def test_starting_on_a_busy_database_shows_the_empty_screen_and_n_opens(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = review_app(db)
    holder = database_held(db)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert app.is_running and app.session.current is None
            assert any("first item was not opened" in m for m in busy_notices(app))
            holder.release()
            await pilot.press("n")
            await settle(pilot)
            assert app.session.problem_id == 1
    finally:
        holder.release()
    assert claims(db)[1] is None  # released on the way out


# -- decisions: a, x, s, u ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "decision", "note"),
    [
        (("a",), Decision.ACCEPTED, None),
        (("x", *"circular", "enter"), Decision.REJECTED, "circular"),
        (("s",), Decision.SKIPPED, None),
    ],
)
async def test_a_decision_on_a_busy_database_is_reported_and_the_same_key_saves_it(tmp_path, keys, decision, note):
    db = make_db(tmp_path / "rel.db", count=2)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press_while_held(app, pilot, db, *keys, expect=f"{decision} decision was not saved")
        assert app.session.problem_id == 1
        assert live_reviews(db) == []
        await pilot.press(*keys)
        await settle(pilot)
        assert app.session.problem_id == 2
    assert live_reviews(db) == [(1, str(decision), note)]


async def test_undo_on_a_busy_database_is_reported_and_u_undoes(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("a")
        await settle(pilot)
        assert app.session.problem_id == 2
        await press_while_held(app, pilot, db, "u", expect="Nothing was undone")
        assert live_reviews(db) == [(1, "accepted", None)]
        await pilot.press("u")
        await settle(pilot)
        assert app.session.problem_id == 1
    assert live_reviews(db) == []
    with Store(db) as store:
        assert store.get_problem(1).state == ProblemState.AWAITING_REVIEW


async def test_a_saved_decision_whose_next_item_cannot_be_opened_is_not_recorded_twice(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        original_next = app.session.next

        def next_while_held(*args, **kwargs):
            with database_held(db):
                return original_next(*args, **kwargs)

        app.session.next = next_while_held  # the lock arrives between the decision and the move
        await pilot.press("a")
        await settle(pilot)
        del app.session.next
        assert app.is_running
        assert any("next item was not opened" in m for m in busy_notices(app))
        await pilot.press("n")
        await settle(pilot)
        assert app.session.problem_id == 2
    assert live_reviews(db) == [(1, "accepted", None)]


# -- attempts and their answer check: [ ] ---------------------------------------------------------


async def test_the_answer_check_of_an_older_attempt_on_a_busy_database_runs_again_when_shown(tmp_path):
    db = make_db(tmp_path / "rel.db", count=1)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        first = app.session.current.attempts[0]
        await press_while_held(app, pilot, db, "left_square_bracket", expect="answer check was not stored")
        await pilot.press("right_square_bracket", "left_square_bracket")
        await settle(pilot)
    with Store(db) as store:
        history = store.history(1)
        checks = [c for c in history.critiques_for(first.id) if c.source == CritiqueSource.CHECK]
        assert len(checks) == 1


# -- the editor: e, typing, escape, ctrl+s, quitting ---------------------------------------------


async def open_editor_and_type(app, pilot, words: str) -> TextArea:
    await settle(pilot)
    await pilot.press("e")
    await pilot.pause()
    assert isinstance(app.screen, EditScreen)
    editor = app.screen.query_one("#editor", TextArea)
    editor.move_cursor(editor.document.end)
    await pilot.press(*words)
    await pilot.pause()
    return editor


async def test_leaving_the_editor_on_a_busy_database_keeps_the_edit_and_escape_retries(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_editor_and_type(app, pilot, " fixed")
        await press_while_held(app, pilot, db, "escape", expect="Autosave did not save the edit")
        assert isinstance(app.screen, EditScreen)  # not left: the edit is stored nowhere yet
        assert editor.text.endswith(" fixed")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.click("#leave")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
    with Store(db) as store:
        assert store.load_edit_draft(1, "alice")["text"].endswith(" fixed")


async def test_discarding_an_edit_on_a_busy_database_stays_in_the_editor(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_editor_and_type(app, pilot, " fixed")
        await pilot.press("escape")
        await pilot.pause()
        with database_held(db):
            await pilot.click("#discard")
            await settle(pilot)
            assert isinstance(app.screen, EditScreen)
            assert any("edit was not discarded" in m for m in busy_notices(app))
        await pilot.press("escape")
        await pilot.pause()
        await pilot.click("#discard")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
    with Store(db) as store:
        assert store.load_edit_draft(1, "alice") is None


async def test_saving_an_edit_on_a_busy_database_then_ctrl_s_again(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_editor_and_type(app, pilot, " fixed")
        await press_while_held(app, pilot, db, "ctrl+s", expect="edit was not saved")
        assert isinstance(app.screen, EditScreen)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, EditScreen)
    with Store(db) as store:
        edits = [a for a in store.history(1).attempts if a.kind == AttemptKind.HUMAN_EDIT]
        assert len(edits) == 1 and edits[0].text.endswith(" fixed")


async def test_discarding_an_autosaved_edit_offered_on_opening_on_a_busy_database(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    with Store(db) as store:
        store.save_edit_draft(1, "alice", None, "an old edit")
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        with database_held(db):
            await pilot.click("#discard")
            await settle(pilot)
            assert app.is_running
            assert any("autosaved edit was not discarded" in m for m in busy_notices(app))
    with Store(db) as store:
        assert store.load_edit_draft(1, "alice")["text"] == "an old edit"  # offered again next time


async def test_quitting_with_an_unsaved_edit_on_a_busy_database_stays_then_keeps_it_in_a_file(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_editor_and_type(app, pilot, " fixed")
        with database_held(db):
            await pilot.press("ctrl+q")
            await settle(pilot)
            assert app.is_running and isinstance(app.screen, EditScreen)
            assert any("Not quitting" in n.message for n in app._notifications)
            await pilot.press("ctrl+q")
            await pilot.pause()
    assert app.return_code == 0
    [rescued] = app.rescued
    assert rescued.parent == rescue_dir() and rescued.read_text().endswith(" fixed")
    assert rescued.stat().st_mode & 0o077 == 0


async def test_quitting_with_an_unsaved_edit_saves_it_when_the_database_is_free(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_editor_and_type(app, pilot, " fixed")
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.rescued == []
    with Store(db) as store:
        assert store.load_edit_draft(1, "alice")["text"].endswith(" fixed")


async def test_a_hang_up_on_a_busy_database_keeps_the_edit_in_a_file_and_exits(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_editor_and_type(app, pilot, " fixed")
        with database_held(db):
            app._save_and_exit(signal.SIGHUP)
            await pilot.pause()
    assert app.return_code == 128 + signal.SIGHUP
    [rescued] = app.rescued
    assert rescued.read_text().endswith(" fixed")


# -- the claim's renewal, and workers ----------------------------------------------------------------


async def test_renewing_the_claim_on_a_busy_database_is_reported(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        with database_held(db):
            app.renew_claim()
            await pilot.pause()
            assert app.is_running
            assert any("claim on this item was not renewed" in m for m in busy_notices(app))


async def test_a_regeneration_whose_result_meets_a_busy_database_is_reported_and_r_retries(tmp_path, llm_env):
    db = make_db(tmp_path / "rel.db", count=2)
    llm_env.enqueue(Reply(text="First try.\n\nThe answer is $\\boxed{50}$.", chunk_delay=0.05))
    llm_env.enqueue(Reply(text="Second try.\n\nThe answer is $\\boxed{50}$."))
    app = review_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        attempts_before = len(app.session.current.attempts)
        await press_while_held(app, pilot, db, "r", "enter", expect="model's answer was not saved")
        assert len(app.session.current.attempts) == attempts_before
        await pilot.press("r", "enter")
        await settle(pilot)
        assert any("Second try." in a.text for a in app.session.current.attempts)
    with Store(db) as store:
        assert any("Second try." in a.text for a in store.history(1).attempts)


# -- the rule behind all of it ---------------------------------------------------------------------------


def test_screens_and_widgets_hold_no_sql():
    """Screens and widgets reach the database only through the session, where the guard's errors come from."""
    package = Path(__file__).parent.parent / "rel_tui"
    offenders = []
    for path in [*package.glob("screens/*.py"), *package.glob("widgets/*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("store", "conn", "db"):
                offenders.append(f"{path.name}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.Import):
                offenders += [f"{path.name}:{node.lineno} imports {a.name}" for a in node.names if a.name == "sqlite3"]
            allowed = ("check_of", "is_checkable")  # pure rules on a loaded history, no database
            if isinstance(node, ast.ImportFrom) and node.module in ("rel_core.store", "sqlite3", "rel_core.checking"):
                offenders += [f"{path.name}:{node.lineno} imports {a.name}" for a in node.names if a.name not in allowed]
    assert offenders == []
