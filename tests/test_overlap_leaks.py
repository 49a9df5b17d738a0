"""Overlap items: what an expert who has not decided yet must not learn of another expert's work,
through the queue's counts and verdicts, its skip marks, its text search, and rulings on the critic.
Each check is made against a session without overlap too, which does see it: the checks can fail."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable
from tui_data import make_db, settle

from rel_core.config import Settings, TeamSettings
from rel_core.labels import RulingAspect
from rel_core.models import Critique, CritiqueSource, Decision, Standing, Verdict
from rel_core.overlap import OverlapPolicy
from rel_core.review_session import QueueFilter, ReviewSession
from rel_core.store import Store
from rel_tui.app import ReviewApp

EVERYTHING = OverlapPolicy(fraction=1.0, k=2)
TEAM = Settings(team=TeamSettings(overlap=1.0, overlap_k=2))
EDIT = 7  # make_db's 3 problems hold attempts 1-6: alice's edit of problem 1 is attempt 7


@pytest.fixture
def db(tmp_path):
    return make_db(tmp_path / "team.db", count=3)


def session(store: Store, annotator: str, policy: OverlapPolicy = EVERYTHING, search: str | None = None) -> ReviewSession:
    expert = ReviewSession(store, annotator, overlap=policy)
    expert.filter = QueueFilter(search=search)
    return expert


def alice_edits_problem_1(store: Store) -> None:
    """Alice edits problem 1 (an overlap item) without deciding it; the check marks her edit wrong,
    with words found nowhere else."""
    alice = session(store, "alice")
    assert alice.open(1)
    assert alice.save_edit(1, 2, "alice's zebra draft, answer 51") == EDIT
    store.add_critique(
        Critique(attempt_id=EDIT, verdict=Verdict.INCORRECT, source=CritiqueSource.CHECK, model="math-verify", raw="okapi")
    )
    alice.close()


def queue_row(expert: ReviewSession, problem_id: int = 1):
    return next((item for item in expert.queue_page(0, 50) if item.id == problem_id), None)


# -- the queue's attempt count and verdict ------------------------------------------------------


def test_the_queue_counts_and_judges_only_the_attempts_the_expert_may_see(db):
    with Store(db) as store:
        alice_edits_problem_1(store)
        bob = queue_row(session(store, "bob"))
        assert bob.attempts == 2  # alice's edit is not counted
        assert bob.verdict == Standing.CORRECT  # attempt 2's verdict, not that of alice's edit
        alice = queue_row(session(store, "alice"))
        assert alice.attempts == 3  # her own edit counts for her
        assert alice.verdict == Standing.INCORRECT
        plain = queue_row(session(store, "carol", OverlapPolicy()))
        assert (plain.attempts, plain.verdict) == (3, Standing.INCORRECT)  # without overlap all is shown
        # Once bob has decided, the item leaves his queue: the count never tells him anything later.
        bob_session = session(store, "bob")
        assert bob_session.open(1)
        bob_session.decide(Decision.ACCEPTED, 2)
        assert queue_row(bob_session) is None


async def test_the_queue_screen_shows_the_count_bob_may_see(db):
    with Store(db) as store:
        alice_edits_problem_1(store)
    for settings, expected in ((TEAM, 2), (Settings(), 3)):
        app = ReviewApp(db, settings, "bob")
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            await pilot.press("g")
            await settle(pilot)
            table = app.screen.query_one(DataTable)
            assert table.get_cell("1", "attempts") == expected
            assert table.get_cell("2", "attempts") == 2


# -- skip marks ---------------------------------------------------------------------------------


def test_skip_marks_on_an_overlap_item_count_only_the_experts_own_skips(db):
    with Store(db) as store:
        alice = session(store, "alice")
        assert alice.open(1)
        alice.decide(Decision.SKIPPED, 2)
        alice.close()
        bob = session(store, "bob")
        assert bob.skip_counts([1, 2, 3]) == {}
        assert session(store, "alice").skip_counts([1, 2, 3]) == {1: 1}
        assert session(store, "carol", OverlapPolicy()).skip_counts([1, 2, 3]) == {1: 1}
        assert bob.open(1)
        bob.decide(Decision.SKIPPED, 2)
        assert bob.skip_counts([1, 2, 3]) == {1: 1}  # his own
        bob.decide(Decision.REJECTED, 2)
        assert bob.skip_counts([1, 2, 3]) == {1: 2}  # decided: now he sees alice's too


# -- the queue's text search (drafts and critiques are searched too) ------------------------------


def test_search_does_not_match_on_another_experts_edit_or_its_critique(db):
    with Store(db) as store:
        alice_edits_problem_1(store)
        for word in ("zebra", "okapi"):
            assert queue_row(session(store, "bob", search=word)) is None
            assert queue_row(session(store, "carol", OverlapPolicy(), search=word)) is not None
            assert queue_row(session(store, "alice", search=word)) is not None  # her own edit
        assert queue_row(session(store, "bob", search="garden")) is not None  # the problem text still matches
        assert queue_row(session(store, "bob", search="First draft")) is not None  # and shared drafts
        bob = session(store, "bob")
        assert bob.open(1)
        bob.save_edit(1, 2, "bob's giraffe draft")
        bob.close()
        assert queue_row(session(store, "bob", search="giraffe")) is not None
        assert queue_row(session(store, "alice", search="giraffe")) is None


# -- rulings on the critic ------------------------------------------------------------------------


def llm_critique_of(store: Store, attempt_id: int) -> int:
    return next(c.id for c in store.history(1).critiques_for(attempt_id) if c.source == CritiqueSource.LLM)


def test_rulings_of_another_expert_are_hidden_and_do_not_turn_the_key_around(db):
    with Store(db) as store:
        critique = llm_critique_of(store, 2)
        alice, bob = session(store, "alice"), session(store, "bob")
        assert alice.open(1) and bob.open(1)
        assert alice.toggle_ruling(critique, RulingAspect.VERDICT) is True  # alice agrees
        assert bob.rulings([critique]) == []
        assert bob.toggle_ruling(critique, RulingAspect.VERDICT) is True  # bob's first v: agree, as for anyone
        assert bob.toggle_ruling(critique, RulingAspect.VERDICT) is False  # his second: disagree
        assert [(r.annotator, r.agrees) for r in alice.rulings([critique])] == [("alice", True)]
        plain = session(store, "carol", OverlapPolicy())
        plain.current = bob.current  # the same item, read without overlap: everyone's rulings
        assert {r.annotator for r in plain.rulings([critique])} == {"alice", "bob"}
        bob.decide(Decision.ACCEPTED, 2)
        assert {r.annotator for r in bob.rulings([critique])} == {"alice", "bob"}  # decided: he may see


def critic_text(app) -> str:
    return str(app.screen.query_one("#critic-body").render())


async def test_the_critic_pane_does_not_show_another_experts_ruling(db):
    with Store(db) as store:
        critique = llm_critique_of(store, 2)
        alice = session(store, "alice")
        assert alice.open(1)
        alice.toggle_ruling(critique, RulingAspect.VERDICT)
        alice.close()
    app = ReviewApp(db, TEAM, "bob")
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        assert app.session.problem_id == 1 and app.screen.attempt.id == 2
        assert "alice" not in critic_text(app)
        await pilot.press("v")
        await settle(pilot)
        assert "You agree with the critic's verdict" in [str(n.message) for n in app._notifications]
        assert "bob on the verdict" in critic_text(app) and "alice" not in critic_text(app)
    plain = ReviewApp(db, Settings(), "carol")
    async with plain.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        assert plain.session.problem_id == 1
        assert "alice on the verdict" in critic_text(plain) or "bob on the verdict" in critic_text(plain)
