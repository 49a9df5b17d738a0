"""Every key path of the review screen, driven by Pilot on a real temporary database."""

from __future__ import annotations

import signal

import pytest
from textual.widgets import DataTable, Input, TextArea
from tui_data import make_app, make_db, pending_problem, reviews

from rel_core.models import AttemptKind, Decision, Problem, ProblemState
from rel_core.store import Store
from rel_tui.app import ReviewApp
from rel_tui.screens.diff import DiffScreen
from rel_tui.screens.edit import EditScreen
from rel_tui.screens.help import HelpScreen
from rel_tui.screens.queue import QueueScreen
from rel_tui.screens.review import ReviewScreen
from rel_tui.widgets.draft_pane import DraftPane


@pytest.fixture
def db(tmp_path):
    return make_db(tmp_path / "rel.db", count=3)


def state(db, problem_id: int) -> ProblemState:
    with Store(db) as store:
        return store.get_problem(problem_id).state


async def press_button(pilot, selector: str) -> None:
    pilot.app.screen.query_one(selector).press()
    await pilot.pause()


def shown_problem(app: ReviewApp) -> int | None:
    return app.session.problem_id


async def test_accept_records_decision_and_moves_on(db):
    app = make_app(db)
    async with app.run_test() as pilot:
        assert shown_problem(app) == 1
        await pilot.press("a")
        assert shown_problem(app) == 2
    [review] = reviews(db)
    assert review.decision == Decision.ACCEPTED
    assert review.annotator == "alice"
    assert review.problem_id == 1
    assert review.seconds_spent >= 0
    with Store(db) as store:
        assert review.attempt_id == store.history(1).latest_attempt.id
        assert store.claimed_by(1) is None  # released on leaving the item
    assert state(db, 1) == ProblemState.ACCEPTED


async def test_accept_the_older_attempt_shown_with_brackets(db):
    app = make_app(db)
    async with app.run_test() as pilot:
        await pilot.press("left_square_bracket")
        shown = app.screen.attempt
        assert shown.kind == AttemptKind.GENERATED
        # The older attempt's critic marks it wrong: the second `a` confirms.
        await pilot.press("right_square_bracket", "left_square_bracket", "a", "a")
    assert reviews(db)[0].attempt_id == shown.id


async def test_reject_with_reason(db):
    app = make_app(db)
    async with app.run_test() as pilot:
        await pilot.press("x")
        await pilot.press(*"step 3 is circular", "enter")
        assert shown_problem(app) == 2
    [review] = reviews(db)
    assert (review.decision, review.note) == (Decision.REJECTED, "step 3 is circular")
    assert state(db, 1) == ProblemState.REJECTED


async def test_reject_cancelled_by_escape_writes_nothing(db):
    app = make_app(db)
    async with app.run_test() as pilot:
        await pilot.press("x", "escape")
        assert shown_problem(app) == 1
    assert reviews(db) == []


async def test_skip_keeps_state(db):
    app = make_app(db)
    async with app.run_test() as pilot:
        await pilot.press("s")
        assert shown_problem(app) == 2
    [review] = reviews(db)
    assert review.decision == Decision.SKIPPED
    assert state(db, 1) == ProblemState.AWAITING_REVIEW


async def test_undo_restores_state_and_reopens(db):
    app = make_app(db)
    async with app.run_test() as pilot:
        await pilot.press("a", "a")
        assert shown_problem(app) == 3
        await pilot.press("u")
        assert shown_problem(app) == 2
    live = [r for r in reviews(db) if r.undone_at is None]
    assert [r.problem_id for r in live] == [1]
    assert state(db, 2) == ProblemState.AWAITING_REVIEW
    assert state(db, 1) == ProblemState.ACCEPTED


async def test_next_previous_and_end_of_queue(db):
    app = make_app(db)
    async with app.run_test() as pilot:
        await pilot.press("n", "n")
        assert shown_problem(app) == 3
        await pilot.press("p")
        assert shown_problem(app) == 2
        await pilot.press("a", "a", "a")  # 2, 3, then 1 (wrapped)
        assert shown_problem(app) is None
        assert app.screen.has_class("-empty")
    assert {r.problem_id for r in reviews(db)} == {1, 2, 3}


async def test_item_claimed_by_someone_else_is_skipped(db):
    with Store(db) as store:
        assert store.claim(1, "auto:runner", 600)
    app = make_app(db)
    async with app.run_test():
        assert shown_problem(app) == 2
        with Store(db) as store:
            assert store.claimed_by(2).startswith("review:alice:")


async def test_open_item_is_claimed_so_the_loop_skips_it(db):
    app = make_app(db)
    async with app.run_test():
        with Store(db) as store:
            assert store.claimed_by(1).startswith("review:alice:")
            taken = store.claim_next("auto:runner", 600, [ProblemState.AWAITING_REVIEW])
            assert taken.id == 2


async def test_queue_screen_loads_more_rows_as_the_cursor_moves(tmp_path):
    db = make_db(tmp_path / "rel.db", count=450)
    app = make_app(db)
    async with app.run_test() as pilot:
        await pilot.press("g")
        table = app.screen.query_one(DataTable)
        assert table.row_count == 200  # one page, not the whole queue
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert table.row_count > 200
        await pilot.press("ctrl+end", "ctrl+end", "ctrl+end")
        await pilot.pause()
        assert table.row_count == 450


async def test_edit_and_save_creates_human_edit_and_shows_diff(db):
    app = make_app(db)
    async with app.run_test() as pilot:
        await pilot.press("e")
        assert isinstance(app.screen, EditScreen)
        editor = app.screen.query_one(TextArea)
        editor.load_text("A better worked solution.\n\nThe answer is 50.")
        editor.move_cursor(editor.document.end)
        await pilot.press(*" Checked.", "ctrl+s")
        assert isinstance(app.screen, DiffScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, ReviewScreen)
        assert app.screen.attempt.kind == AttemptKind.HUMAN_EDIT
        await pilot.press("a")
    with Store(db) as store:
        history = store.history(1)
        edit = history.attempts[-1]
        assert edit.kind == AttemptKind.HUMAN_EDIT
        assert edit.text == "A better worked solution.\n\nThe answer is 50. Checked."
        assert edit.parent_id == history.attempts[-2].id
        assert edit.model == "expert:alice"
        assert store.load_edit_draft(1, "alice") is None
        assert history.reviews[0].attempt_id == edit.id


async def test_edit_escape_keeps_autosave_and_offers_it_back(db):
    app = make_app(db)
    async with app.run_test() as pilot:
        await pilot.press("e", *"more ", "escape")
        await press_button(pilot, "#leave")
        assert isinstance(app.screen, ReviewScreen)
    with Store(db) as store:
        assert len(store.history(1).attempts) == 2  # nothing saved as an attempt
        draft = store.load_edit_draft(1, "alice")
        assert draft["text"].startswith("more ")

    app = make_app(db)
    async with app.run_test() as pilot:
        await pilot.pause()
        await press_button(pilot, "#resume")  # the autosaved edit is offered when the item opens
        assert isinstance(app.screen, EditScreen)
        assert app.screen.query_one(TextArea).text.startswith("more ")
        await pilot.press("ctrl+s", "escape")
    with Store(db) as store:
        assert store.history(1).attempts[-1].text.startswith("more ")
        assert store.load_edit_draft(1, "alice") is None


async def test_edit_unchanged_escape_leaves_without_prompt(db):
    app = make_app(db)
    async with app.run_test() as pilot:
        await pilot.press("e", "escape")
        assert isinstance(app.screen, ReviewScreen)
    with Store(db) as store:
        assert store.load_edit_draft(1, "alice") is None


async def test_autosave_timer_and_signal_save(db):
    app = make_app(db, autosave_seconds=0.1)
    async with app.run_test() as pilot:
        await pilot.press("e", *"xyz")
        await pilot.pause(0.3)
        with Store(db) as store:
            assert store.load_edit_draft(1, "alice")["text"].startswith("xyz")
        await pilot.press(*"!!")
        app._save_and_exit(signal.SIGHUP)  # what the handler does on a dropped connection
    with Store(db) as store:
        assert store.load_edit_draft(1, "alice")["text"].startswith("xyz!!")
    assert app.return_code == 128 + signal.SIGHUP
    with Store(db) as store:
        assert store.claimed_by(1) is None


async def test_queue_screen_opens_selected_problem(db):
    app = make_app(db)
    async with app.run_test() as pilot:
        await pilot.press("g")
        assert isinstance(app.screen, QueueScreen)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 3
        await pilot.press("down", "down", "enter")
        assert isinstance(app.screen, ReviewScreen)
        assert shown_problem(app) == 3


async def test_filter_by_text_and_state(db):
    with Store(db) as store:
        lone = pending_problem(store, "Find the volume of a tetrahedron.")
        store.set_state(lone, ProblemState.REJECTED)
    app = make_app(db)
    async with app.run_test() as pilot:
        await pilot.press("slash")
        app.screen.query_one("#filter-state").value = "all"
        app.screen.query_one("#filter-search", Input).value = "tetrahedron"
        await pilot.press("enter")
        assert shown_problem(app) == lone
        await pilot.press("g")
        assert app.screen.query_one(DataTable).row_count == 1
        await pilot.press("slash")
        await press_button(pilot, "#clear")
        assert app.screen.query_one(DataTable).row_count == 3


async def test_filter_by_source(db):
    with Store(db) as store:
        other, _ = store.add_problem(Problem(text="From elsewhere.", source="olympiad", state=ProblemState.AWAITING_REVIEW))
    app = make_app(db)
    async with app.run_test() as pilot:
        await pilot.press("slash")
        app.screen.query_one("#filter-source").value = "olympiad"
        await press_button(pilot, "#apply")
        assert shown_problem(app) == other
        await pilot.press("n")
        assert shown_problem(app) == other  # the only item in this queue
        await pilot.press("x", "enter")
        assert app.screen.has_class("-empty")
    assert [r.problem_id for r in reviews(db)] == [other]


async def test_narrow_layout_stacks_the_problem_above_the_draft(db):
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert screen.has_class("-narrow")
        visible = [p.id for p in screen.query(".pane") if p.display and p.region.width]
        assert visible == ["problem", "draft"]
        await pilot.press("3")
        visible = [p.id for p in screen.query(".pane") if p.region.width]
        assert visible == ["problem", "critic"]
        await pilot.press("a")
    assert reviews(db)[0].decision == Decision.ACCEPTED


async def test_wide_layout_shows_three_panes(db):
    app = make_app(db)
    async with app.run_test(size=(160, 48)):
        screen = app.screen
        assert screen.has_class("-wide")
        assert [p.id for p in screen.query(".pane") if p.region.width] == ["problem", "draft", "critic"]


async def test_reference_solution_opens_with_o(db):
    app = make_app(db, keymap={})
    async with app.run_test() as pilot:
        box = app.screen.query_one("#reference-solution-box")
        assert box.collapsed
        await pilot.press("o")
        assert not box.collapsed
        assert app.screen.query_one("#problem").region.width  # narrow layout switched to the problem


async def test_raw_toggle(db):
    app = make_app(db)
    async with app.run_test() as pilot:
        pane = app.screen.query_one(DraftPane)
        assert pane.showing_rendered
        await pilot.press("t")
        assert not pane.showing_rendered
        assert "\\boxed{50}" in app.screen.query_one("#draft-raw", TextArea).text


async def test_help_lists_keys_with_keymap(db):
    app = make_app(db, keymap={"accept": "y"})
    async with app.run_test() as pilot:
        await pilot.press("a")
        assert reviews(db) == []  # a is no longer accept
        await pilot.press("y")
        assert len(reviews(db)) == 1
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = {row[1]: row[0] for row in app.screen.rows}
        assert "regenerate" in rows
        assert rows["accept"] == "y"
        assert rows["regenerate"] == "r"


async def test_problem_without_attempts_cannot_be_accepted(tmp_path):
    db = tmp_path / "rel.db"
    with Store(db) as store:
        pending_problem(store)
    app = make_app(db)
    async with app.run_test() as pilot:
        await pilot.press("a")
        assert shown_problem(app) == 1
    assert reviews(db) == []


async def test_regenerate_without_key_says_what_to_set(db, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    app = make_app(db)
    messages = []
    monkeypatch.setattr(app, "notify", lambda message, **kwargs: messages.append(message))
    async with app.run_test() as pilot:
        await pilot.press("r", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert any("OPENAI_API_KEY" in m for m in messages), messages
        assert shown_problem(app) == 1


async def test_two_sessions_of_one_annotator_never_share_an_item(db):
    first, second = make_app(db), make_app(db)
    async with first.run_test(), second.run_test():
        assert shown_problem(first) == 1
        assert shown_problem(second) == 2
