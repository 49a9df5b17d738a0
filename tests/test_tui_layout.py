"""The review screen at 80×24 and other sizes, what the header, footer and help show, and where
notifications go (Pilot on real SQLite), plus SVG snapshots of the screens and dialogs."""

from __future__ import annotations

import shutil

import pytest
from rich.markdown import Markdown
from test_tui_tmux import tmux_app  # noqa: F401 (the fixture)
from textual.widgets import Input, Static
from textual.widgets._footer import FooterKey
from tui_data import make_app, make_db, settle

from rel_core.models import Decision
from rel_core.store import Store
from rel_tui.screens.help import HelpScreen
from rel_tui.widgets.draft_pane import DraftPane

LONG_DRAFT = "\n\n".join(f"Paragraph {n}: the path is counted again, corner by corner." for n in range(1, 60))


@pytest.fixture
def db(tmp_path):
    return make_db(tmp_path / "rel.db", count=3)


def on_screen(app, widget) -> bool:
    """The widget is shown and lies inside the terminal."""
    region = widget.region
    width, height = app.size
    return widget.display and region.width > 0 and region.height > 0 and region.right <= width and region.bottom <= height


def plain(widget: Static) -> str:
    content = widget.content
    return content.markup if isinstance(content, Markdown) else str(widget.render())


async def test_80x24_shows_the_problem_and_the_draft_together(db):
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        problem_text = screen.query_one("#problem-text", Static)
        assert on_screen(app, problem_text) and "Problem 1: a garden" in plain(problem_text)
        draft = screen.query_one(DraftPane)
        assert on_screen(app, draft) and draft.region.height >= 12  # most of the screen is the draft
        assert "revised" in str(draft.border_title)
        # The verdicts in one line between them, as rel_core.verdicts labels them.
        verdicts = screen.query_one("#verdict-line", Static)
        assert on_screen(app, verdicts) and verdicts.region.height == 1
        assert "✓ correct" in plain(verdicts) and "critic ✓ correct" in plain(verdicts)
        assert screen.query_one("#problem").region.bottom <= verdicts.region.y < draft.region.y


async def test_1_opens_the_whole_problem_and_3_the_critic(db):
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        problem = screen.query_one("#problem")
        compact_height = problem.region.height
        assert problem.border_subtitle == "1: whole problem"
        await pilot.press("1")
        await pilot.pause()
        assert problem.region.height > compact_height and screen.query_one(DraftPane).region.height > 0
        assert app.focused is problem
        await pilot.press("1")
        await pilot.pause()
        assert problem.region.height == compact_height
        await pilot.press("3")
        await pilot.pause()
        assert on_screen(app, screen.query_one("#critic")) and not screen.query_one(DraftPane).region.height
        await pilot.press("2")
        await pilot.pause()
        assert on_screen(app, screen.query_one(DraftPane)) and not screen.query_one("#critic").region.height


async def test_header_keeps_the_queue_filter_at_80_columns(db):
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash")
        app.screen.query_one("#filter-search", Input).value = "garden path"
        await pilot.press("enter")
        await settle(pilot)
        header = plain(app.screen.query_one("#status", Static))
        assert header.startswith("queue: awaiting_review · “garden path”")
        assert len(header) <= 78  # all of it fits inside the bar's padding
        assert "rel.db" not in header  # the database name went first


async def test_header_names_annotator_and_database_when_wide(db):
    app = make_app(db)
    async with app.run_test(size=(160, 48)):
        header = plain(app.screen.query_one("#status", Static))
        assert "queue: awaiting_review" in header and "alice" in header and "rel.db" in header


async def test_footer_shows_the_main_keys_at_80_columns(db):
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        shown = {k.key for k in app.screen.query(FooterKey) if on_screen(app, k)}
        assert {"a", "x", "e", "r", "n", "question_mark"} <= shown


async def test_stacked_between_80_and_120_columns(db):
    app = make_app(db)
    async with app.run_test(size=(110, 44)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.has_class("-narrow")
        problem, draft, critic = (screen.query_one(f"#{p}") for p in ("problem", "draft", "critic"))
        assert all(on_screen(app, w) for w in (problem, draft, critic))  # tall enough for the critic below
        assert problem.region.bottom <= draft.region.y < draft.region.bottom <= critic.region.y


async def test_three_panes_from_120_and_the_previous_attempt_from_180(db):
    app = make_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert [p.id for p in app.screen.query(".pane") if on_screen(app, p)] == ["problem", "draft", "critic"]
    app = make_app(db)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert [p.id for p in screen.query(".pane") if on_screen(app, p)] == ["problem", "draft", "previous", "critic"]
        previous = screen.query_one("#previous")
        assert "First draft of 1." in plain(screen.query_one("#previous-body", Static))
        assert "read-only" in str(previous.border_title)
        await pilot.press("left_square_bracket")  # the first attempt has no earlier one
        await pilot.pause()
        assert "No earlier attempt" in plain(screen.query_one("#previous-body", Static))


async def test_previous_attempt_appears_when_the_terminal_widens(db):
    app = make_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.resize_terminal(200, 50)
        await settle(pilot)
        await pilot.pause()
        assert "First draft of 1." in plain(app.screen.query_one("#previous-body", Static))


async def test_editor_keeps_the_problem_and_reference_beside_it_from_120(db):
    app = make_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        screen = app.screen
        problem = screen.query_one("#edit-problem")
        assert on_screen(app, problem) and problem.region.right <= screen.query_one("#editor").region.x
        assert "Problem 1: a garden" in plain(screen.query_one("#problem-text", Static))
        assert on_screen(app, screen.query_one("#reference-solution", Static))  # opened for the fix
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        assert not app.screen.query_one("#edit-problem").region.width  # no room: the editor has it all


async def test_j_k_and_space_scroll_the_draft(tmp_path):
    app = make_app(make_db(tmp_path / "rel.db", count=1, draft=LONG_DRAFT))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        view = app.screen.query_one("#draft-rendered")
        assert view.scroll_y == 0
        await pilot.press("j", "j", "j")
        assert view.scroll_y == 3
        await pilot.press("k")
        assert view.scroll_y == 2
        await pilot.press("space")
        assert view.scroll_y > 10


async def test_help_lists_every_key(db):
    app = make_app(db)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = {row[1] for row in app.screen.rows}
        assert {"accept", "reject", "undo", "previous_attempt", "toggle_raw", "queue", "filter"} <= keys  # not in the footer
        assert {"scroll_down", "scroll_up", "scroll_page", "pane_problem", "pane_critic"} <= keys
        titles = [title for title, _ in app.screen.sections]
        assert titles == ["Scrolling", "Editor (e)", "Queue (g)", "Reject dialog (x)", "Filter dialog (/)"]
        every = {row[1] for _, rows in app.screen.sections for row in rows}
        assert {"edit.save", "edit.leave", "queue.close", "queue.filter", "reject.preset_N"} <= every
        shown = {row[0] for _, rows in app.screen.sections for row in rows}
        assert "pageup / pagedown" in shown and "ctrl+z / ctrl+y" in shown and "enter" in shown


async def test_notifications_stay_off_the_draft(db):
    for size in ((80, 24), (120, 40), (200, 50)):
        app = make_app(db)
        async with app.run_test(size=size, notifications=True) as pilot:
            await pilot.pause()
            app.notify("A fairly long notification that would wrap at forty columns, seen at every size")
            await pilot.pause(0.3)
            toasts = [t for t in app.screen.query("Toast") if t.region.height]
            assert toasts, size
            text_area = app.screen.query_one(DraftPane).content_region
            for toast in toasts:
                assert not toast.region.overlaps(text_area), (size, toast.region, text_area)


# -- SVG snapshots (the cursor blink frozen) ------------------------------------------------------------


async def _no_blink(pilot) -> None:
    for widget in pilot.app.screen.query("Input, TextArea"):
        widget.cursor_blink = False
    await settle(pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 50)], ids=["80x24", "120x40", "200x50"])
def test_snapshot_review(db, snap_compare, size):
    assert snap_compare(make_app(db), terminal_size=size, run_before=settle)


@pytest.mark.parametrize(
    "keys",
    [("slash",), ("question_mark",), ("e",), ("x",)],
    ids=["filter", "help", "edit", "reject"],
)
def test_snapshot_screens(db, snap_compare, keys):
    async def open_it(pilot) -> None:
        await settle(pilot)
        await pilot.press(*keys)
        await pilot.pause()
        await _no_blink(pilot)

    assert snap_compare(make_app(db), terminal_size=(120, 40), run_before=open_it)


# -- a real terminal --------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_80x24_in_tmux_shows_problem_and_draft_on_the_first_screen(tmp_path, tmux_app):  # noqa: F811
    db = make_db(tmp_path / "rel.db", count=2)
    term = tmux_app(db, width=80, height=24)
    screen = term.wait_for("Accept")
    term.wait_for("Verdicts")
    # The draft is drawn once at the width of the first layout, then again at the narrow layout's.
    screen = term.wait_for("The garden with the path is (14+2) by (9+2)")
    lines = screen.splitlines()
    assert len(lines) <= 24
    assert lines[0].lstrip().startswith("queue: awaiting_review")
    assert any("Problem 1: a garden is 14 m by 9 m" in line for line in lines)  # the problem's text
    assert any("The garden with the path is (14+2) by (9+2)" in line for line in lines)  # the draft's
    footer = lines[-1]
    for key in ("a Accept", "x Reject", "e Edit", "r Regen", "n Next", "? Help"):
        assert key in footer
    term.keys("1")  # the whole problem
    term.wait_for("Reference solution")
    term.keys("x")
    term.wait_for("1  wrong answer")
    term.keys("3")  # "incomplete", one key
    term.wait_for("1/2 reviewed")
    term.keys("q")
    term.wait_closed()
    with Store(db) as store:
        [review] = store.history(1).reviews
        assert (review.decision, review.note) == (Decision.REJECTED, "incomplete")
