"""SVG snapshots of the review screen (80×24 and 160×48) and the help screen.

Nothing on these screens moves with time; the database's timestamps are not shown.
Regenerate after a deliberate change with `pytest tests/test_tui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import pytest
from tui_data import make_db, settle

from rel_core.config import Settings
from rel_tui.app import ReviewApp


@pytest.fixture
def app(tmp_path):
    return ReviewApp(make_db(tmp_path / "rel.db", count=3), Settings(), "alice")


def test_review_screen_narrow(app, snap_compare):
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def test_review_screen_wide(app, snap_compare):
    assert snap_compare(app, terminal_size=(160, 48), run_before=settle)


def test_help_screen(app, snap_compare):
    async def open_help(pilot) -> None:
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(100, 36), run_before=open_help)
