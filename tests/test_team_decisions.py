"""Team decisions: two accepts of different attempts are a dispute (the export takes one text), and
the guideline version is recorded on overlap decisions and on the adjudicator's final word."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from textual.widgets import Static
from tui_data import make_db

from rel_core import labels
from rel_core.adjudication import Adjudication
from rel_core.config import ReviewSettings, Settings, TeamSettings
from rel_core.exporters import write_export
from rel_core.labels import Rating, RulingAspect
from rel_core.models import CritiqueSource, Decision, ProblemState
from rel_core.overlap import DISPUTED, OverlapPolicy, TeamReviews
from rel_core.review_session import ReviewSession
from rel_core.store import Store
from rel_tui.app import ReviewApp
from rel_tui.screens.adjudicate import AdjudicateScreen

EVERYTHING = OverlapPolicy(fraction=1.0, k=2)


@pytest.fixture
def db(tmp_path):
    return make_db(tmp_path / "team.db", count=2)


def experts(store: Store, guidelines=None) -> tuple[ReviewSession, ReviewSession]:
    alice = ReviewSession(store, "alice", overlap=EVERYTHING, guidelines=guidelines)
    bob = ReviewSession(store, "bob", overlap=EVERYTHING, guidelines=guidelines)
    assert alice.open(1) and bob.open(1)
    return alice, bob


def exported(store: Store) -> list[dict]:
    out = io.StringIO()
    write_export(store, out, fmt="jsonl")
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_accepting_different_attempts_is_a_dispute_the_adjudicator_settles(db):
    with Store(db) as store:
        alice, bob = experts(store)
        edit = alice.save_edit(1, 2, "alice's own worked solution. **Answer:** $\\boxed{50}$")
        alice.decide(Decision.ACCEPTED, edit)
        bob.decide(Decision.ACCEPTED, 2)
        problem = store.get_problem(1)
        assert (problem.state, problem.state_detail) == (ProblemState.AWAITING_REVIEW, DISPUTED)
        assert exported(store) == []  # which text to export is not settled
        judge = Adjudication(TeamReviews(store, EVERYTHING), ["dana"], "dana")
        assert judge.queue() == [1]
        sides = judge.dispute(1).sides
        assert [(s.annotator, s.decision, s.attempt.id) for s in sides] == [
            ("alice", Decision.ACCEPTED, edit),
            ("bob", Decision.ACCEPTED, 2),
        ]
        judge.side_final(1, sides[1])
        assert store.get_problem(1).state == ProblemState.ACCEPTED
        [item] = exported(store)
        assert item["worked_solution"] == store.get_attempt(2).text
        assert {d["annotator"]: d["attempt_id"] for d in item["decisions"]} == {"alice": edit, "bob": 2, "dana": 2}


def test_accepting_the_same_attempt_is_agreement(db):
    with Store(db) as store:
        alice, bob = experts(store)
        alice.decide(Decision.ACCEPTED, 2)
        bob.decide(Decision.ACCEPTED, 2)
        assert store.get_problem(1).state == ProblemState.ACCEPTED
        assert Adjudication(TeamReviews(store, EVERYTHING), ["dana"], "dana").queue() == []
        assert [item["id"] for item in exported(store)] == [1]


def version_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


async def test_guideline_versions_on_overlap_decisions_and_on_the_final_word(db, tmp_path):
    rules = tmp_path / "guidelines.md"
    rules.write_text("Rules, first edition.\n")
    with Store(db) as store:
        alice, bob = experts(store, guidelines=rules)
        alice.decide(Decision.ACCEPTED, 2)
        rules.write_text("Rules, second edition.\n")
        bob.decide(Decision.REJECTED, 2, note="step 2 is not justified")
        alice.close()
        bob.close()
    rules.write_text("Rules, third edition.\n")
    settings = Settings(
        review=ReviewSettings(guidelines=rules), team=TeamSettings(overlap=1.0, overlap_k=2, adjudicators=["dana"])
    )
    app = ReviewApp(db, settings, "dana", adjudicate=True)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, AdjudicateScreen)
        await pilot.press("2")  # bob's word is final
        await pilot.pause()
    with Store(db) as store:
        rows = store.conn.execute("select annotator, role, guideline_version from reviews order by id").fetchall()
    assert rows == [
        ("alice", None, version_of("Rules, first edition.\n")),
        ("bob", None, version_of("Rules, second edition.\n")),
        ("dana", "adjudicated", version_of("Rules, third edition.\n")),
    ]


async def test_undo_in_the_tui_settles_the_overlap_item_again(db):
    """Alice accepted first, bob agreed: accepted. Alice's `u` takes hers back: one decision is left,
    so the item awaits review again (it must not stay accepted, and exported, on bob's word alone)."""
    with Store(db) as store:
        alice, bob = experts(store)
        alice.decide(Decision.ACCEPTED, 2)
        bob.decide(Decision.ACCEPTED, 2)
        alice.close()
        bob.close()
        assert store.get_problem(1).state == ProblemState.ACCEPTED
    app = ReviewApp(db, Settings(team=TeamSettings(overlap=1.0, overlap_k=2)), "alice")
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        await pilot.press("u")
        await pilot.pause()
        assert app.session.problem_id == 1  # reopened, to decide again
    with Store(db) as store:
        problem = store.get_problem(1)
        assert (problem.state, problem.state_detail) == (ProblemState.AWAITING_REVIEW, None)
        assert exported(store) == []


def label_attempt_2(store: Store) -> None:
    """Alice: step 1 good, step 2 her first error with a comment, disagrees with the critic's verdict.
    Bob: step 1 flagged, step 2 good, agrees with it. Then alice rejects and bob accepts."""
    critique = next(c.id for c in store.history(1).critiques_for(2) if c.source == CritiqueSource.LLM)
    labels.label_step(store, 2, 1, Rating.GOOD, "alice")
    labels.mark_first_error(store, 2, 2, "alice")
    labels.comment_step(store, 2, 2, "alice", "the corners are counted twice")
    labels.rule_on_critique(store, critique, RulingAspect.VERDICT, False, "alice")
    labels.toggle_flag(store, 2, 1, "bob")
    labels.label_step(store, 2, 2, Rating.GOOD, "bob")
    labels.rule_on_critique(store, critique, RulingAspect.VERDICT, True, "bob")
    labels.label_step(store, 1, 1, Rating.BAD, "bob")  # on another attempt: not what he decided on
    alice, bob = experts(store)
    alice.decide(Decision.REJECTED, 2, note="step 2 is wrong")
    bob.decide(Decision.ACCEPTED, 2)
    alice.close()
    bob.close()


def test_the_adjudicator_gets_each_experts_labels_with_their_decision(db):
    with Store(db) as store:
        label_attempt_2(store)
        alice, bob = Adjudication(TeamReviews(store, EVERYTHING), ["dana"], "dana").dispute(1).sides
    assert [(s.step, s.rating, s.flagged, s.comment) for s in alice.step_labels] == [
        (1, Rating.GOOD, False, None),
        (2, Rating.BAD, False, "the corners are counted twice"),
    ]
    assert [(s.step, s.rating, s.flagged) for s in bob.step_labels] == [(1, None, True), (2, Rating.GOOD, False)]
    assert [(r.aspect, r.agrees) for r in alice.rulings] == [(RulingAspect.VERDICT, False)]
    assert [(r.aspect, r.agrees) for r in bob.rulings] == [(RulingAspect.VERDICT, True)]


async def test_the_adjudication_screen_shows_the_labels_side_by_side(db):
    with Store(db) as store:
        label_attempt_2(store)
    settings = Settings(team=TeamSettings(overlap=1.0, overlap_k=2, adjudicators=["dana"]))
    app = ReviewApp(db, settings, "dana", adjudicate=True)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        alice, bob = (str(side.render()) for side in app.screen.query(".side-text").results(Static))
    assert "alice" in alice and "Step 1: +1" in alice and "Step 2: −1 “the corners are counted twice”" in alice
    assert "On the critic's verdict: disagrees" in alice
    assert "bob" in bob and "Step 1: ⚑ flagged" in bob and "Step 2: +1" in bob
    assert "On the critic's verdict: agrees" in bob and "−1" not in bob


def test_an_accept_that_does_not_stand_is_no_solution_in_an_export_of_everything(db):
    with Store(db) as store:
        alice, bob = experts(store)
        alice.decide(Decision.ACCEPTED, 2)  # one of the two experts: the item waits for bob
        assert store.get_problem(1).state == ProblemState.AWAITING_REVIEW
        assert store.history(1).accepted_attempt is None
        out = io.StringIO()
        write_export(store, out, fmt="jsonl", status="all")
        record = next(json.loads(line) for line in out.getvalue().splitlines() if json.loads(line)["id"] == 1)
        assert record["status"] == "awaiting_review"
        bob.decide(Decision.ACCEPTED, 2)  # now both agree: the accept stands
        assert store.get_problem(1).state == ProblemState.ACCEPTED
        assert store.history(1).accepted_attempt.id == 2
        assert [r["id"] for r in exported(store)] == [1]
