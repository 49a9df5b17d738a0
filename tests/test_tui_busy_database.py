"""Another process holding the database past the busy timeout costs the expert nothing."""

from __future__ import annotations

import time

from db_lock import database_held
from textual.widgets import TextArea
from tui_data import busy_app, busy_notices, make_db

from rel_core.models import AttemptKind, ProblemState
from rel_core.store import Store
from rel_tui.screens.edit import EditScreen


async def settled(pilot, condition, timeout: float = 20.0) -> bool:
    """Whether `condition()` holds within `timeout` (a loaded machine runs the app's timers late)."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await pilot.pause(0.05)
    return condition()


async def test_decision_on_a_busy_database_is_reported_and_can_be_retried(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = busy_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        with database_held(db):
            await pilot.press("a")
            # The key waits out the busy timeout in a worker (rel_tui/patient_writes.py), then says so.
            assert await settled(pilot, lambda: any("accepted decision was not saved" in m for m in busy_notices(app)))
            assert app.session.problem_id == 1  # still on the item, nothing decided
        await pilot.press("a")
        assert await settled(pilot, lambda: app.session.problem_id == 2)
    with Store(db) as store:
        assert store.get_problem(1).state == ProblemState.ACCEPTED


async def test_edit_saved_on_a_busy_database_stays_in_the_editor(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = busy_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        editor = app.screen.query_one("#editor", TextArea)
        editor.text = "my careful correction"
        with database_held(db):
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, EditScreen)
            assert editor.text == "my careful correction"
            assert any("edit was not saved" in m for m in busy_notices(app))
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, EditScreen)
    with Store(db) as store:
        edits = [a for a in store.history(1).attempts if a.kind == AttemptKind.HUMAN_EDIT]
        assert [a.text for a in edits] == ["my careful correction"]
