"""Adjudication end to end: two experts disagree, an adjudicator records the final word, exports use it."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from textual.widgets import Static
from tui_data import make_db

from rel_core.adjudication import Adjudication, NotAnAdjudicator
from rel_core.agreement import decision_report
from rel_core.config import Settings, TeamSettings
from rel_core.exporters import write_export
from rel_core.models import Decision, ProblemState
from rel_core.overlap import DISPUTED, OverlapPolicy, TeamReviews
from rel_core.review_session import ReviewSession
from rel_core.store import Store
from rel_tui.app import ReviewApp
from rel_tui.cli import main
from rel_tui.screens.adjudicate import AdjudicateScreen

EVERYTHING = OverlapPolicy(fraction=1.0, k=2)


@pytest.fixture
def disputed(tmp_path):
    """Problem 1: alice accepts attempt 2, bob rejects it. Problem 2: both accept."""
    path = make_db(tmp_path / "team.db", count=3)
    with Store(path) as store:
        alice, bob = ReviewSession(store, "alice", overlap=EVERYTHING), ReviewSession(store, "bob", overlap=EVERYTHING)
        for problem_id, bobs in ((1, Decision.REJECTED), (2, Decision.ACCEPTED)):
            assert alice.open(problem_id) and bob.open(problem_id)
            alice.decide(Decision.ACCEPTED, 2 * problem_id)
            bob.decide(bobs, 2 * problem_id, note="corners counted twice" if bobs == Decision.REJECTED else None)
        alice.close()
        bob.close()
    return path


def adjudication(store: Store, who: str = "dana") -> Adjudication:
    return Adjudication(TeamReviews(store, EVERYTHING), ["dana"], who)


def exported(store: Store, fmt: str = "jsonl") -> list[dict]:
    out = io.StringIO()
    write_export(store, out, fmt=fmt)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_only_adjudicators_adjudicate(disputed):
    with Store(disputed) as store, pytest.raises(NotAnAdjudicator, match="'alice' is not an adjudicator"):
        adjudication(store, "alice")


def test_disputed_items_are_queued_and_shown_side_by_side(disputed):
    with Store(disputed) as store:
        judge = adjudication(store)
        assert judge.queue() == [1]  # problem 2: they agreed, it is accepted
        assert store.get_problem(2).state == ProblemState.ACCEPTED
        dispute = judge.dispute(1)
        assert [(s.annotator, s.decision, s.note) for s in dispute.sides] == [
            ("alice", Decision.ACCEPTED, None),
            ("bob", Decision.REJECTED, "corners counted twice"),
        ]
        assert dispute.sides[0].attempt.id == 2 and "Answer:** $\\boxed{50}$" in dispute.sides[0].attempt.text


def test_the_final_word_decides_the_state_and_the_export(disputed):
    with Store(disputed) as store:
        assert [item["id"] for item in exported(store)] == [2]  # the disputed item is not exported yet
        judge = adjudication(store)
        judge.side_final(1, judge.dispute(1).sides[0])  # alice was right
        assert store.get_problem(1).state == ProblemState.ACCEPTED
        assert judge.queue() == []
        first = exported(store)[0]
        assert first["id"] == 1 and first["annotator"] == "dana"
        assert first["worked_solution"] == store.get_attempt(2).text
        assert [(d["annotator"], d["decision"], d["role"]) for d in first["decisions"]] == [
            ("alice", "accepted", None),
            ("bob", "rejected", None),
            ("dana", "accepted", "adjudicated"),
        ]
        assert len(exported(store, "openai")) == 2
        # The adjudication is not an independent rating: agreement counts alice and bob only.
        report = decision_report(store.conn)
        assert report.annotators == ["alice", "bob"] and report.overall.items == 2


def test_a_rejecting_final_word_keeps_it_out_and_undo_brings_the_dispute_back(disputed):
    with Store(disputed) as store:
        judge = adjudication(store)
        judge.side_final(1, judge.dispute(1).sides[1])  # bob was right
        problem = store.get_problem(1)
        assert (problem.state, problem.state_detail) == (ProblemState.REJECTED, "corners counted twice")
        assert [item["id"] for item in exported(store)] == [2]
        assert store.history(1).accepted_attempt is None  # alice's accept no longer stands
        judge.undo()
        problem = store.get_problem(1)
        assert (problem.state, problem.state_detail) == (ProblemState.AWAITING_REVIEW, DISPUTED)
        assert judge.queue() == [1]


def test_an_expert_undo_ends_the_dispute(disputed):
    with Store(disputed) as store:
        bob = ReviewSession(store, "bob", overlap=EVERYTHING)
        bob.undo()  # his accept of problem 2, his last decision
        bob.undo()  # his reject of problem 1: one decision left there, no dispute
        assert adjudication(store).queue() == []
        assert store.get_problem(1).state == ProblemState.AWAITING_REVIEW
        assert 1 in [item.id for item in bob.queue_page(0, 10)]  # bob may decide it again


def test_an_adjudication_must_accept_or_reject(disputed):
    with Store(disputed) as store, pytest.raises(ValueError, match="accepts or rejects"):
        adjudication(store).decide(1, Decision.SKIPPED, None)


# -- the screen -------------------------------------------------------------------------------------


def adjudicate_app(path, who: str = "dana") -> ReviewApp:
    settings = Settings(team=TeamSettings(overlap=1.0, overlap_k=2, adjudicators=["dana"]))
    return ReviewApp(path, settings, who, adjudicate=True)


def screen_text(app) -> str:
    return " ".join(str(w.render()) for w in app.screen.query(Static))


async def test_the_adjudicator_sees_both_sides_and_records_the_final_word(disputed):
    app = adjudicate_app(disputed)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, AdjudicateScreen)
        shown = screen_text(app)
        assert "problem #1" in shown and "2 experts disagree" in shown
        assert "alice: ✓ accepted" in shown and "bob: ✗ rejected" in shown
        assert "Reason: corners counted twice" in shown
        with Store(disputed) as store:
            assert store.claimed_by(1) == app.session.owner  # one adjudicator at a time
        await pilot.press("2")  # bob's word is final
        await pilot.pause()
        assert "nothing disputed is waiting" in screen_text(app)
    with Store(disputed) as store:
        final = store.history(1).adjudicated
        assert (final.annotator, final.decision, final.role) == ("dana", Decision.REJECTED, "adjudicated")
        assert store.get_problem(1).state == ProblemState.REJECTED
        assert store.claimed_by(1) is None


def test_adjudicate_refuses_who_is_not_an_adjudicator(disputed):
    result = CliRunner().invoke(main, ["--db", str(disputed), "--annotator", "alice", "--adjudicate"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: alice is not an adjudicator: add the name to team.adjudicators in the config"
    ]
