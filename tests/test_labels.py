"""Per-step labels and rulings on the critic (rel_core.labels), on a real SQLite file."""

from __future__ import annotations

import json

import pytest

from rel_core import labels
from rel_core.answers import AnswerChecker
from rel_core.checking import check_attempt
from rel_core.labels import LabelError, Rating, RulingAspect, RulingSource
from rel_core.migrations import migrate
from rel_core.models import (
    Attempt,
    AttemptKind,
    Critique,
    CritiqueSource,
    Problem,
    Verdict,
)
from rel_core.steps import split_steps
from rel_core.store import Store

DRAFT = "Six times seven.\n\n6 x 7 = 36.\n\nSo the answer is 36.\n\n<ANSWER>36</ANSWER>"


@pytest.fixture
def attempt_id(store) -> int:
    problem_id, _ = store.add_problem(Problem(text="What is 6 x 7?", reference_answer="42"))
    return store.add_attempt(Attempt(problem_id=problem_id, kind=AttemptKind.GENERATED, text=DRAFT))


def critic(store, attempt_id, verdict="incorrect", step=2) -> int:
    raw = json.dumps({"verdict": verdict, "first_error_step": step, "error_description": "6 x 7 is 42"})
    return store.add_critique(
        Critique(
            attempt_id=attempt_id,
            verdict=Verdict(verdict),
            first_error_step=str(step),
            source=CritiqueSource.LLM,
            model="openai:critic",
            raw=raw,
        )
    )


# -- the schema -------------------------------------------------------------------------------------


def test_migration_makes_the_tables_with_foreign_keys(store):
    columns = store.db["step_labels"].columns_dict
    assert {"action_id", "attempt_id", "step", "step_hash", "field", "rating", "flagged", "comment"} <= set(columns)
    assert {fk.other_table for fk in store.db["step_labels"].foreign_keys} == {"label_actions", "attempts"}
    assert {fk.other_table for fk in store.db["critic_rulings"].foreign_keys} == {"critiques", "attempts", "label_actions"}
    assert {"label_actions_by_annotator", "critic_rulings_check_once"} <= {i.name for i in store.db["label_actions"].indexes} | {
        i.name for i in store.db["critic_rulings"].indexes
    }
    assert "m006_step_labels_and_rulings" in {r["name"] for r in store.db.query("select name from _migrations")}


def test_migration_from_an_older_schema_that_holds_data(tmp_path):
    from rel_core import migrations

    path = tmp_path / "old.db"
    with Store(path) as store:
        store.add_problem(Problem(text="kept"))
        store.conn.execute("drop table critic_rulings")
        store.conn.execute("drop table step_labels")
        store.conn.execute("drop table label_actions")
        store.conn.execute("delete from _migrations where name = 'm006_step_labels_and_rulings'")
    with Store(path) as store:  # opening migrates it again
        assert store.count_problems() == 1
        assert labels.has_label_tables(store)
        assert migrate(store.db) == [] and len(migrations.applied(store.db)) == len(migrations.MIGRATIONS)


def test_a_bad_rating_is_refused_by_the_database_too(store, attempt_id):
    with pytest.raises(LabelError, match="-1, 0 or \\+1"):
        labels.label_step(store, attempt_id, 1, 2, "ana")
    with pytest.raises(Exception, match="CHECK constraint"):
        store.conn.execute(
            "insert into step_labels (action_id, attempt_id, step, step_hash, field, rating) values (1, ?, 1, 'h', 'rating', 5)",
            [attempt_id],
        )


# -- labelling steps -----------------------------------------------------------------------------


def test_labels_are_saved_with_annotator_time_and_the_step_text_hash(store, attempt_id):
    labels.label_step(store, attempt_id, 1, Rating.GOOD, "ana")
    labels.label_step(store, attempt_id, 2, Rating.BAD, "ana")
    labels.label_step(store, attempt_id, 2, Rating.NEUTRAL, "ana")  # changed her mind: the latest stands
    labels.label_step(store, attempt_id, 1, Rating.BAD, "bob")  # another annotator's labels are his own
    mine = labels.attempt_labels(store, attempt_id, "ana")
    assert {n: label.rating for n, label in mine.steps.items()} == {1: Rating.GOOD, 2: Rating.NEUTRAL}
    assert mine.step_count == 4 and mine.first_error is None
    assert mine.steps[2].step_hash == labels.step_hash(split_steps(DRAFT)[1])
    assert labels.attempt_labels(store, attempt_id, "bob").first_error == 1
    rows = list(store.db.query("select annotator, kind, created_at from label_actions order by id"))
    assert [r["annotator"] for r in rows] == ["ana", "ana", "ana", "bob"] and all(r["created_at"] for r in rows)
    assert labels.labellers(store, attempt_id) == ["ana", "bob"]


def test_first_error_marks_the_step_bad_and_the_later_ones_unlabelled(store, attempt_id):
    for step in (1, 2, 3, 4):
        labels.label_step(store, attempt_id, step, Rating.GOOD, "ana")
    labels.flag_step(store, attempt_id, 4, "ana")
    labels.mark_first_error(store, attempt_id, 2, "ana")
    mine = labels.attempt_labels(store, attempt_id, "ana")
    assert mine.rated == [1, 2] and mine.first_error == 2
    assert mine.steps[4].flagged and mine.steps[4].rating is None  # a flag is not a rating: it stays


def test_flag_comment_and_undo_marks_rows_undone_without_deleting(store, attempt_id):
    labels.label_step(store, attempt_id, 3, Rating.BAD, "ana")
    assert labels.toggle_flag(store, attempt_id, 3, "ana") is True
    labels.comment_step(store, attempt_id, 3, "ana", "  36 is 6 x 6  ")
    label = labels.attempt_labels(store, attempt_id, "ana").steps[3]
    assert (label.rating, label.flagged, label.comment) == (Rating.BAD, True, "36 is 6 x 6")

    undone = labels.undo_last_label(store, "ana")
    assert (undone.kind, undone.steps, undone.undone_at is not None) == ("comment", [3], True)
    assert labels.attempt_labels(store, attempt_id, "ana").steps[3].comment is None
    labels.undo_last_label(store, "ana")
    assert labels.attempt_labels(store, attempt_id, "ana").steps[3].flagged is False
    assert labels.undo_last_label(store, "bob") is None  # nothing of bob's to undo
    assert store.db["step_labels"].count == 3 and store.db["label_actions"].count == 3  # nothing deleted


def test_undo_of_first_error_brings_the_later_ratings_back(store, attempt_id):
    for step in (1, 2, 3):
        labels.label_step(store, attempt_id, step, Rating.GOOD, "ana")
    labels.mark_first_error(store, attempt_id, 1, "ana")
    assert labels.attempt_labels(store, attempt_id, "ana").rated == [1]
    undone = labels.undo_last_label(store, "ana")
    assert undone.steps == [1, 2, 3]
    assert {n: s.rating for n, s in labels.attempt_labels(store, attempt_id, "ana").steps.items()} == {1: 1, 2: 1, 3: 1}


def test_a_label_never_moves_to_other_text(store, attempt_id):
    labels.label_step(store, attempt_id, 2, Rating.BAD, "ana")
    step_two = split_steps(DRAFT)[1]
    with pytest.raises(LabelError, match="no longer the text shown"):
        labels.label_step(store, attempt_id, 3, Rating.GOOD, "ana", step_hash=labels.step_hash(step_two))
    # The attempt's text changes under the label (attempts are not edited in place, but a label must survive it).
    store.conn.execute(
        "update attempts set text = ? where id = ?", ["Six times seven.\n\nA new step.\n\n6 x 7 = 36.", attempt_id]
    )
    mine = labels.attempt_labels(store, attempt_id, "ana")
    assert mine.steps == {} and mine.stale == 1


def test_bad_steps_and_attempts_are_one_line_errors(store, attempt_id):
    with pytest.raises(LabelError, match="has 4 steps; there is no step 9"):
        labels.label_step(store, attempt_id, 9, Rating.GOOD, "ana")
    with pytest.raises(LabelError, match="no attempt 999"):
        labels.flag_step(store, 999, 1, "ana")
    with pytest.raises(LabelError, match="at most"):
        labels.comment_step(store, attempt_id, 1, "ana", "x" * 5000)
    with pytest.raises(LabelError, match="annotator"):
        labels.label_step(store, attempt_id, 1, Rating.GOOD, " ")
    assert store.db["label_actions"].count == 0  # a refused label wrote nothing


# -- rulings -------------------------------------------------------------------------------------


def test_expert_rulings_on_verdict_and_step_are_undoable(store, attempt_id):
    critique_id = critic(store, attempt_id)
    labels.rule_on_critique(store, critique_id, RulingAspect.VERDICT, True, "ana")
    labels.rule_on_critique(store, critique_id, "first_error_step", False, "ana", correct_step=3)
    found = labels.rulings(store, [critique_id])
    verdict = labels.standing_ruling(found, critique_id, RulingAspect.VERDICT, RulingSource.EXPERT)
    step = labels.standing_ruling(found, critique_id, RulingAspect.FIRST_ERROR_STEP, RulingSource.EXPERT)
    assert (verdict.agrees, step.agrees, step.correct_step, step.label_source) == (True, False, 3, "expert:ana")
    assert labels.undo_last_label(store, "ana").kind == "rule"
    assert [r.aspect for r in labels.rulings(store, [critique_id])] == ["verdict"]


def test_rulings_only_on_llm_critiques(store, attempt_id):
    check_id = store.add_critique(Critique(attempt_id=attempt_id, verdict=Verdict.INCORRECT, source=CritiqueSource.CHECK))
    with pytest.raises(LabelError, match="not an LLM critic's"):
        labels.rule_on_critique(store, check_id, RulingAspect.VERDICT, True, "ana")
    with pytest.raises(LabelError, match="no critique 77"):
        labels.rule_on_critique(store, 77, RulingAspect.VERDICT, True, "ana")


async def test_the_answer_check_records_its_disagreement_with_the_critic_once(store, attempt_id):
    critique_id = critic(store, attempt_id, verdict="correct", step=None)  # the critic says 36 is right
    problem = store.get_problem(store.get_attempt(attempt_id).problem_id)
    checker = AnswerChecker(workers=1)
    try:
        check = await check_attempt(store, checker, problem, store.get_attempt(attempt_id))  # `rel-tui check`'s path
    finally:
        checker.close()
    assert check is not None and check.verdict == Verdict.INCORRECT
    [ruling] = labels.rulings(store, [critique_id])
    assert (ruling.source, ruling.agrees, ruling.check_critique_id, ruling.label_source) == (
        "answer_check",
        False,
        check.id,
        "answer_check",
    )
    assert ruling.annotator == "answer_check" and ruling.created_at
    assert labels.record_check_disagreement(store, attempt_id) == []  # never twice


def test_no_ruling_when_the_check_agrees_or_cannot_decide(store, attempt_id):
    critic(store, attempt_id, verdict="incorrect")
    store.add_critique(Critique(attempt_id=attempt_id, verdict=Verdict.INCORRECT, source=CritiqueSource.CHECK))
    assert labels.record_check_disagreement(store, attempt_id) == []
    store.add_critique(Critique(attempt_id=attempt_id, verdict=Verdict.UNKNOWN, source=CritiqueSource.CHECK))
    assert labels.record_check_disagreement(store, attempt_id) == []


@pytest.mark.parametrize("named, number", [("3", 3), ("Step 3", 3), ("step 12.", 12), (None, None), ("none", None)])
def test_step_number_of_what_the_critic_named(named, number):
    assert labels.step_number(named) == number


def test_one_key_per_ruling_toggles_agree_and_disagree(store, attempt_id):
    critique_id = critic(store, attempt_id)
    assert labels.toggle_ruling(store, critique_id, RulingAspect.VERDICT, "ana") is True
    assert labels.toggle_ruling(store, critique_id, RulingAspect.VERDICT, "ana") is False
    assert labels.expert_ruling(store, critique_id, RulingAspect.VERDICT).agrees is False
    assert labels.expert_ruling(store, critique_id, RulingAspect.FIRST_ERROR_STEP) is None


def test_undo_latest_takes_back_a_label_or_a_decision_whichever_came_last(store, attempt_id):
    import time

    from rel_core.models import Decision, Review

    problem_id = store.get_attempt(attempt_id).problem_id
    labels.label_step(store, attempt_id, 1, Rating.GOOD, "ana")
    time.sleep(0.005)  # timestamps are to the millisecond; a person's keys are further apart
    store.record_review(Review(problem_id=problem_id, decision=Decision.ACCEPTED, attempt_id=attempt_id, annotator="ana"))
    time.sleep(0.005)
    labels.label_step(store, attempt_id, 2, Rating.BAD, "ana")
    assert labels.last_label_action(store, "ana").steps == [2]
    assert labels.undo_latest(store, "ana").steps == [2]  # the label came last
    assert isinstance(labels.undo_latest(store, "ana"), Review)  # then the decision
    assert store.get_problem(problem_id).state == "pending"
    assert labels.undo_latest(store, "ana").steps == [1]
    assert labels.undo_latest(store, "ana") is None


def test_foreign_keys_are_enforced(store):
    import sqlite3

    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        store.conn.execute(
            "insert into label_actions (attempt_id, annotator, kind, created_at) values (12345, 'ana', 'rate', 'now')"
        )
