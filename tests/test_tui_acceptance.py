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
from textual.widgets import DataTable, Input, Static
from textual.widgets._footer import FooterKey
from textual.widgets.data_table import ColumnKey
from tui_data import make_app, make_db, pending_problem, record, reviews, settle

from rel_core import problem_marks
from rel_core.models import Decision, Verdict
from rel_core.store import Store
from rel_tui.screens.confirm import AcceptAnywayDialog
from rel_tui.screens.filter import FilterDialog
from rel_tui.screens.label_steps import LabelStepsScreen
from rel_tui.screens.queue import QueueScreen
from rel_tui.screens.review import ReviewScreen
from rel_tui.screens.text_prompt import RejectDialog, TextPromptDialog
from rel_tui.widgets.rendered_draft import MAX_LINE_CHARS

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
            # the step number set off from the list number; the step as the draft pane renders it
            assert "  3│ 1 Orthogonal vectors first." in text and "**" not in text
            await pilot.press("end")
            await pilot.pause()
            text = screen_text(app)
            assert "174│Step text number 174" in text and "169│Step text number 169" in text
            assert "16…" not in text


# -- §7: misleading screens and messages -------------------------------------------------------------


def no_reference_db(path):
    problem = record(1).problem.model_copy(update={"reference_answer": None, "reference_solution": None})
    with Store(path) as store:
        store.import_records([record(1).model_copy(update={"problem": problem})])
    return path


async def test_c_without_an_api_key_says_the_critic_failed_and_shows_the_whole_hint_at_80_columns(tmp_path):
    db = make_db(tmp_path / "rel.db", count=1)
    app = make_app(db)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("c")
        await settle(pilot)
        [failed] = [n for n in app._notifications if n.severity == "error"]
        assert failed.title == "Critic failed" and "OPENAI_API_KEY" in failed.message
        await pilot.pause()
        shown = " ".join(screen_text(app).replace("▌", " ").split())
        assert "Critic failed" in shown and "base_url in rel.toml" in shown  # the hint's end is on screen


async def test_f_with_no_critique_says_so_like_v(tmp_path):
    with Store(tmp_path / "rel.db") as store:
        store.import_records([record(1).model_copy(update={"critiques": []})])
    app = make_app(tmp_path / "rel.db")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f")
        await pilot.pause()
        assert any(m.startswith("No LLM critique of the shown attempt") for m in messages(app)), messages(app)


async def test_a_rebound_accept_keeps_its_place_and_80_columns_cut_no_footer_key(tmp_path):
    db = make_db(tmp_path / "rel.db", count=1)
    for width in (80, 200):
        app = make_app(db, keymap={"accept": "a,enter"})
        async with app.run_test(size=(width, 24)) as pilot:
            await pilot.pause()
            keys = list(app.screen.query(FooterKey))
            assert [k.key for k in keys][:2] == ["a", "x"]
            assert all(k.region.right <= width for k in keys)
            assert ("c" in [k.key for k in keys]) == (width >= 120)


async def test_the_critic_pane_says_a_problem_without_reference_is_not_checkable(tmp_path):
    app = make_app(no_reference_db(tmp_path / "rel.db"))
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        assert "not checkable (no reference answer)" in str(app.screen.query_one("#critic-body", Static).render())


async def test_rejecting_a_problem_with_no_attempt_says_problem(tmp_path):
    db = make_db(tmp_path / "rel.db", count=1)
    with Store(db) as store:
        pending_problem(store)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x")
        assert "Why is this draft rejected?" in screen_text(app)
        await pilot.press("escape", "n")
        await pilot.pause()
        assert app.session.problem_id == 2
        await pilot.press("x")
        assert "Why is this problem rejected?" in screen_text(app)


async def test_compare_at_80_columns_says_what_the_unified_view_shows(tmp_path):
    db = make_db(tmp_path / "rel.db", count=1)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        await settle(pilot)
        summary = str(app.screen.query_one("#compare-summary", Static).render())
        assert "left" not in summary and "struck through" in summary


# -- §9: friction ------------------------------------------------------------------------------------


async def test_a_huge_one_line_problem_is_cut_with_the_drafts_marker(tmp_path):
    huge = "Count the pebbles: " + "pebble " * 50_000
    db = make_db(tmp_path / "rel.db", count=1, text=huge)
    app = make_app(db)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        shown = str(app.screen.query_one("#problem-text", Static).render())
        assert shown.startswith("Count the pebbles: pebble")
        assert f"⟨line cut here: {len(huge) - MAX_LINE_CHARS:,} more characters⟩" in shown
        assert len(shown) < MAX_LINE_CHARS + 100


async def test_the_queue_at_80_columns_gives_the_problem_the_room_and_end_goes_to_the_last_row(tmp_path):
    db = make_db(tmp_path / "rel.db", count=30)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.max_scroll_x == 0  # every column fits: nothing hides off to the right
        assert table.columns[ColumnKey("problem")].get_render_width(table) >= 30
        assert str(table.get_cell("1", "problem")).startswith("Problem 1: a garden is 14 m by")
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_row == table.row_count - 1 == 29 and table.scroll_x == 0
        await pilot.press("home")
        assert table.cursor_row == 0


# -- u takes back a problem mark too -------------------------------------------------------------------


async def test_u_takes_back_the_latest_of_a_decision_and_a_problem_mark(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")  # accept #1
        await pilot.pause()
        await pilot.press("b", "1")  # mark #2 broken: the newer action
        await pilot.pause()
        assert app.session.problem_id == 3
        await pilot.press("u")
        await pilot.pause()
        assert app.session.problem_id == 2
        with Store(db) as store:
            assert problem_marks.live_marks(store, 2) == []
            assert [r.decision for r in store.history(1).reviews if r.undone_at is None] == [Decision.ACCEPTED]
        assert any(m.startswith("Undid your broken mark on #2") for m in messages(app))
        await pilot.press("u")  # then the accept
        await pilot.pause()
        assert app.session.problem_id == 1
    assert [r for r in reviews(db) if r.undone_at is None] == []


async def test_a_doubled_a_on_an_attempt_marked_wrong_asks_and_does_not_accept_anyway(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2, verdict=Verdict.INCORRECT)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await burst(pilot, "aa")  # key repeat: the second a must not answer the question the first raised
        assert isinstance(app.screen, AcceptAnywayDialog)
        await pilot.press("a")  # typed after the question showed: accepts anyway
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
    assert [(r.problem_id, r.decision) for r in reviews(db)] == [(1, Decision.ACCEPTED)]
