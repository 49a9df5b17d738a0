"""SVG snapshots of the queue screen (g) at 80×24 and 200×50, over problems in different states:
awaiting review, accepted (on the older attempt the critic marked wrong), rejected, skipped,
disputed between the judges, a long text from another source, not drafted yet, and failed.

Nothing on this screen moves with time (no timestamps, no cursor blink in a DataTable).
Regenerate after a deliberate change with `pytest tests/test_queue_snapshot.py --snapshot-update`.
"""

from __future__ import annotations

import pytest
from textual.widgets import DataTable
from tui_data import DRAFT, make_db, record, settle

from rel_core.config import Settings
from rel_core.models import Attempt, AttemptKind, Critique, CritiqueSource, Decision, ImportRecord, Problem, ProblemState, Verdict
from rel_core.review_session import QueueFilter, ReviewSession
from rel_core.store import Store
from rel_tui.app import ReviewApp
from rel_tui.screens.queue import QueueScreen

LONG_PROBLEM = (
    "Let ABC be a triangle with AB = 13, BC = 14 and CA = 15. The incircle touches BC at D, and the "
    "line through D parallel to the bisector of angle A meets AB at E. Find BE as a fraction."
)


def disputed() -> ImportRecord:
    """A correct answer (50) that the LLM critic marks wrong at step 3 (the check is added once stored)."""
    return ImportRecord(
        problem=Problem(text="A garden is 14 m by 9 m; a 1 m path runs around it. Area of the path?", reference_answer="50"),
        attempts=[Attempt(kind=AttemptKind.GENERATED, text=DRAFT, model="openai:gpt-4o-mini", final_answer="50")],
        critiques=[
            Critique(
                verdict=Verdict.INCORRECT,
                source=CritiqueSource.LLM,
                model="openai:gpt-4o-mini",
                first_error_step="3",
                error_description="Step 3 counts the corners twice.",
            ),
        ],
    )


def long_from_elsewhere() -> ImportRecord:
    item = record(7, text=LONG_PROBLEM)
    item.problem.source = "olympiad"
    return item


def queue_db(path):
    """#1 awaiting, #2 accepted on its older attempt, #3 rejected, #4 skipped, #5 disputed, #6 long
    and from another source, #7 not drafted yet, #8 given up by the loop."""
    make_db(path, count=4)
    with Store(path) as store:
        store.import_records([disputed(), long_from_elsewhere()])
        [attempt] = store.history(5).attempts
        store.add_critique(Critique(attempt_id=attempt.id, verdict=Verdict.CORRECT, source=CritiqueSource.CHECK))
        store.add_problem(Problem(text="Not drafted yet: how many primes are below 100?", state=ProblemState.PENDING))
        store.add_problem(Problem(text="The loop gave up: find all n with n^2 + 1 prime.", state=ProblemState.FAILED))
        session = ReviewSession(store, "alice")
        for problem_id, decision, note in [
            (2, Decision.ACCEPTED, None),
            (3, Decision.REJECTED, "circular in step 2"),
            (4, Decision.SKIPPED, None),
        ]:
            assert session.open(problem_id)
            attempts = session.current.attempts
            chosen = attempts[0] if decision == Decision.ACCEPTED else attempts[-1]
            session.decide(decision, chosen.id, note)
        session.close()
    return path


@pytest.fixture
def app(tmp_path):
    return ReviewApp(queue_db(tmp_path / "rel.db"), Settings(), "alice")


async def open_queue(pilot) -> None:
    await settle(pilot)
    pilot.app.session.filter = QueueFilter(states=())  # every state, not only those awaiting review
    await pilot.press("g")
    await settle(pilot)
    assert isinstance(pilot.app.screen, QueueScreen)
    assert pilot.app.screen.query_one(DataTable).row_count == 8


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_snapshot_queue(app, snap_compare, size):
    assert snap_compare(app, terminal_size=size, run_before=open_queue)
