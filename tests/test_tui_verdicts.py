"""Every judge on screen, disputes said aloud, and a confirming key before accepting a draft a judge
marks wrong: the real app under Pilot on a real SQLite file (and the loopback server for `c`)."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, TextArea
from tui_data import DRAFT, make_db, reviews, settle

from rel_core.config import Settings
from rel_core.models import (
    Attempt,
    AttemptKind,
    Critique,
    CritiqueSource,
    Decision,
    ImportRecord,
    Problem,
    Verdict,
)
from rel_core.review_session import QueueFilter
from rel_core.store import Store
from rel_tui.app import ReviewApp
from rel_tui.screens.confirm import AcceptAnywayDialog
from rel_tui.screens.queue import QueueScreen
from rel_tui.widgets.draft_pane import DraftPane

SAYS_NO = "CORRECT: No\nERROR_STEP: 3\nERROR_DESCRIPTION: Step 3 counts the corners twice."
CRITIC = "openai:gpt-4o-mini"


def disputed_db(path):
    """A correct final answer (50) that the LLM critic marks wrong at step 3, stored as the old loop
    stored it: the check's verdict in the critic's row, its own word only in the raw reply."""
    record = ImportRecord(
        problem=Problem(text="A garden is 14 m by 9 m with a 1 m path around it. Area of the path?", reference_answer="50"),
        attempts=[Attempt(kind=AttemptKind.GENERATED, text=DRAFT, model=CRITIC, final_answer="50")],
        critiques=[Critique(verdict=Verdict.CORRECT, source=CritiqueSource.LLM, model=CRITIC, raw=SAYS_NO)],
    )
    with Store(path) as store:
        store.import_records([record])
    return path


def imported_db(path, draft: str, reference: str, final_answer: str | None = None, critique: Critique | None = None):
    record = ImportRecord(
        problem=Problem(text="An imported problem.", reference_answer=reference),
        attempts=[Attempt(kind=AttemptKind.IMPORTED, text=draft, final_answer=final_answer)],
        critiques=[critique] if critique else [],
    )
    with Store(path) as store:
        store.import_records([record])
    return path


def critic_text(app) -> str:
    return str(app.screen.query_one("#critic-body").render())


def draft_title(app) -> str:
    return str(app.screen.query_one(DraftPane).border_title)


async def test_the_pane_shows_every_judge_and_the_dispute(tmp_path):
    app = ReviewApp(disputed_db(tmp_path / "rel.db"), Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        text = critic_text(app)
        assert "Verdict (all judges)\ndisputed: ✓ check · ✗ critic" in text, text
        assert "Answer check\n✓ correct · math-verify\ncompared 50 with the reference 50" in text
        assert f"LLM critic\n✗ incorrect · {CRITIC}\nFirst wrong step: 3\nStep 3 counts the corners twice." in text
        assert "Expert\nno decision yet" in text
        assert "disputed: ✓ check · ✗ critic" in draft_title(app)
        await pilot.press("g")
        assert str(app.screen.query_one(DataTable).get_cell("1", "verdict")) == "disputed: ✓ check · ✗ critic"


async def test_accepting_a_disputed_draft_asks_for_one_key(tmp_path):
    db = disputed_db(tmp_path / "rel.db")
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        assert isinstance(app.screen, AcceptAnywayDialog)
        question = str(app.screen.query_one(".prompt").render())
        assert f"The critic ({CRITIC}) marks this attempt wrong (step 3)." in question
        assert "Accept anyway?" in question
        await pilot.press("x", "s", "enter")  # no other key answers the dialog
        assert isinstance(app.screen, AcceptAnywayDialog) and reviews(db) == []
        await pilot.press("escape")
        assert not isinstance(app.screen, AcceptAnywayDialog)
        assert reviews(db) == [] and app.session.problem_id == 1  # cancelled: nothing written
        await pilot.press("a", "a")
        await pilot.pause()
    [review] = reviews(db)
    assert (review.decision, review.attempt_id, review.annotator) == (Decision.ACCEPTED, 1, "alice")


async def test_an_imported_verdict_is_shown_apart_and_not_trusted(tmp_path):
    imported = Critique(verdict=Verdict.CORRECT, source=CritiqueSource.IMPORTED, raw="is_correct=True")
    db = imported_db(tmp_path / "rel.db", "Because the set is closed.", "closed under addition", critique=imported)
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        text = critic_text(app)
        assert "Verdict (all judges)\n? unknown" in text, text
        assert "Imported verdict (not trusted)\n✓ correct" in text
        assert "✓ correct (imported)" not in text
        await pilot.press("a")  # nobody marks it wrong: accepted at once
        await pilot.pause()
    assert [r.decision for r in reviews(db)] == [Decision.ACCEPTED]


async def test_the_check_shows_the_answer_it_compared(tmp_path):
    draft = "At first $\\boxed{5}$, but recounting gives 7.\n\n<ANSWER>7</ANSWER>"
    db = imported_db(tmp_path / "rel.db", draft, "7", final_answer="5")
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        text = critic_text(app)
        assert "compared 7 with the reference 7" in text, text
        assert "(the draft's recorded answer is 5)" in text
        assert "answer: 5" not in text


async def test_the_queue_shows_the_verdict_of_the_accepted_attempt(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("left_square_bracket", "a")  # the older draft, which the critic marks wrong
        assert isinstance(app.screen, AcceptAnywayDialog)
        await pilot.press("a")
        await settle(pilot)
        app.session.filter = QueueFilter(states=())
        await pilot.press("g")
        assert isinstance(app.screen, QueueScreen)
        table = app.screen.query_one(DataTable)
        assert str(table.get_cell("1", "verdict")) == "✗ incorrect"  # the accepted, older attempt
        assert str(table.get_cell("2", "verdict")) == "✓ correct"  # the newest: check and critic agree
    with Store(db) as store:
        history = store.history(1)
        assert history.accepted_attempt.id == history.attempts[0].id


async def test_the_experts_decision_is_shown_with_its_reason(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("x", *"circular in step 2", "enter")
        await settle(pilot)
        assert app.session.problem_id == 2
        await pilot.press("p")  # back to the rejected item
        await settle(pilot)
        assert app.session.problem_id == 1
        text = critic_text(app)
        assert "Expert\n✗ rejected by alice\nReason: circular in step 2" in text, text
        await pilot.press("left_square_bracket")
        assert "✗ rejected by alice (on attempt 2, not this one)" in critic_text(app)
    with Store(db) as store:
        [review] = store.history(1).reviews
        assert (review.decision, review.note) == (Decision.REJECTED, "circular in step 2")


async def test_recritique_reports_what_the_critic_said(tmp_path, llm_env):
    db = make_db(tmp_path / "rel.db", count=1)
    llm_env.enqueue(SAYS_NO)
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        messages = [str(n.message) for n in app._notifications]
        assert "Critic: ✗ incorrect (step 3)" in messages, messages
        assert "disputed: ✓ check · ✗ critic" in critic_text(app)
    with Store(db) as store:
        latest = store.history(1).critiques[-1]
        assert (latest.source, latest.raw) == (CritiqueSource.LLM, SAYS_NO)


# -- snapshots (cursor blink frozen) ------------------------------------------------------------------


async def frozen(pilot) -> None:
    await settle(pilot)
    for widget in pilot.app.screen.query("TextArea, Input"):
        assert isinstance(widget, (TextArea, Input))
        widget.cursor_blink = False
    await pilot.pause()


@pytest.fixture
def disputed_app(tmp_path):
    return ReviewApp(disputed_db(tmp_path / "rel.db"), Settings(), "alice")


def test_critic_pane_with_disagreeing_judges(disputed_app, snap_compare):
    assert snap_compare(disputed_app, terminal_size=(160, 48), run_before=frozen)


def test_accept_anyway_dialog(disputed_app, snap_compare):
    async def open_dialog(pilot) -> None:
        await settle(pilot)
        await pilot.press("a")
        await frozen(pilot)

    assert snap_compare(disputed_app, terminal_size=(100, 30), run_before=open_dialog)
