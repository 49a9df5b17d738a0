"""The acceptance review's TUI findings (ACCEPTANCE.md), each on the real app and real SQLite.

A "burst" is several keys that reach the app in one read (a laggy SSH link, key repeat, a paste
without bracketed paste): `burst` posts them all before the app handles the first, as Textual's
driver does with one read, where `pilot.press` waits for the app to go idle after every key.
"""

from __future__ import annotations

import asyncio
import html
import re

from textual import events
from textual.widgets import Input, Static
from tui_data import make_app, make_db, reviews

from rel_core.models import Decision
from rel_tui.screens.filter import FilterDialog
from rel_tui.screens.label_steps import LabelStepsScreen
from rel_tui.screens.queue import QueueScreen
from rel_tui.screens.review import ReviewScreen
from rel_tui.screens.text_prompt import RejectDialog, TextPromptDialog

KEY_NAMES = {"\r": "enter", " ": "space", "/": "slash"}


async def burst(pilot, keys: str) -> None:
    """Post every key before the app handles any of them, then let it handle them all."""
    for character in keys:
        name = KEY_NAMES.get(character, character)
        pilot.app.post_message(events.Key(name, character))
    for _ in range(5):
        await pilot.pause()
    await asyncio.sleep(0.05)
    await pilot.pause()


def messages(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


# -- §1: a doubled enter never pops the review screen ---------------------------------------------


async def test_a_doubled_enter_on_the_reject_dialog_rejects_once_and_keeps_the_review_screen(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x")
        assert isinstance(app.screen, RejectDialog)
        await burst(pilot, "no\r\r")
        assert isinstance(app.screen, ReviewScreen)
        assert app.session.problem_id == 2
        await pilot.press("a")  # the screen still takes keys
        await pilot.pause()
    assert [(r.problem_id, r.decision, r.note) for r in reviews(db)] == [
        (1, Decision.REJECTED, "no"),
        (2, Decision.ACCEPTED, None),
    ]


async def test_a_doubled_enter_on_the_filter_dialog_keeps_the_review_screen(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash")
        assert isinstance(app.screen, FilterDialog)
        await burst(pilot, "\r\r")
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("s")
        await pilot.pause()
    assert [(r.problem_id, r.decision) for r in reviews(db)] == [(1, Decision.SKIPPED)]


async def test_a_doubled_enter_on_the_queue_opens_the_item_and_keeps_the_review_screen(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, QueueScreen)
        await pilot.press("down")
        await burst(pilot, "\r\r")
        assert isinstance(app.screen, ReviewScreen)
        assert app.session.problem_id == 2


async def test_a_doubled_enter_on_a_step_comment_stays_in_the_labelling_screen(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LabelStepsScreen)
        await pilot.press("m")
        assert isinstance(app.screen, TextPromptDialog)
        await burst(pilot, "ok\r\r")
        assert isinstance(app.screen, LabelStepsScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)


# -- §2: digits typed into a field are text, and a dialog's keys stay in it ---------------------------


async def test_a_digit_inside_a_typed_reason_is_text_however_fast_it_arrives(tmp_path):
    db = make_db(tmp_path / "rel.db", count=4)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x")
        await burst(pilot, "Step 3 is wrong")
        assert isinstance(app.screen, RejectDialog)
        assert app.screen.query_one("#prompt-input", Input).value == "Step 3 is wrong"
        await pilot.press("enter")
        await pilot.pause()
        assert app.session.problem_id == 2
    assert [(r.problem_id, r.decision, r.note) for r in reviews(db)] == [(1, Decision.REJECTED, "Step 3 is wrong")]


async def test_keys_after_a_preset_in_the_same_burst_never_reach_the_review_screen(tmp_path):
    db = make_db(tmp_path / "rel.db", count=4)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x")
        await burst(pilot, "3 is wrong; rx")  # the preset, then keys that are review commands
        assert isinstance(app.screen, ReviewScreen)
        assert app.session.problem_id == 2
    assert [(r.problem_id, r.decision, r.note) for r in reviews(db)] == [(1, Decision.REJECTED, "incomplete")]


async def test_a_digit_after_words_in_the_filter_is_text(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash")
        await burst(pilot, "ab 2 blocks")
        assert isinstance(app.screen, FilterDialog)
        assert app.screen.query_one("#filter-search", Input).value == "ab 2 blocks"
        await pilot.press("escape")
        await pilot.pause()
        assert app.session.filter.states != ()  # unchanged: the default queue
        assert "accepted" not in str(app.screen.query_one("#status", Static).render())


# -- §5: the labelling screen shows step numbers of 100 and more whole ---------------------------------


def screen_text(app) -> str:
    """The screen's text as drawn (the SVG screenshot's text, spans joined)."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


LONG_DRAFT = "\n\n".join(
    ("1. **Orthogonal** vectors first." if n == 3 else f"Step text number {n} of the long draft.") for n in range(1, 175)
)


async def test_the_labelling_screen_shows_step_numbers_of_100_and_more_whole(tmp_path):
    db = make_db(tmp_path / "rel.db", count=1, draft=LONG_DRAFT)
    for width in (80, 120):
        app = make_app(db)
        async with app.run_test(size=(width, 24)) as pilot:
            await pilot.press("l")
            await pilot.pause()
            text = screen_text(app)
            assert "  3│1. **Orthogonal**" in text  # the step number set off from the list number
            await pilot.press("end")
            await pilot.pause()
            text = screen_text(app)
            assert "174│Step text number 174" in text and "169│Step text number 169" in text
            assert "16…" not in text
