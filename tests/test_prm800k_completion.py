"""PRM800K's `human_completion`: the expert's own text for a step they rated -1, from their edit of
the draft, with the steps lined up by rel_core.steps. Hand-made drafts, labels and edits; real SQLite."""

from __future__ import annotations

import io
import json

import pytest

from rel_core import exporters, labels
from rel_core.models import Attempt, AttemptKind, Problem, ProblemState
from rel_core.store import Store

DRAFT = "I need six times seven.\n\nSo 6 x 7 = 36.\n\nCheck: 36 / 6 = 6.\n\n<ANSWER>36</ANSWER>"
COMPLETION_KEYS = {"text", "rating", "source", "flagged", "corrected_rating"}  # as in PRM800K's own files


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "rel.db") as store:
        yield store


def draft(store: Store, text: str = DRAFT) -> tuple[int, int]:
    problem_id, _ = store.add_problem(Problem(text="What is 6 x 7?", reference_answer="42", state=ProblemState.AWAITING_REVIEW))
    return problem_id, store.add_attempt(Attempt(problem_id=problem_id, kind=AttemptKind.GENERATED, text=text, model="openai:m"))


def label(store: Store, attempt_id: int, annotator: str, ratings: dict[int, int]) -> None:
    for step, rating in ratings.items():
        labels.label_step(store, attempt_id, step, rating, annotator)


def edit(store: Store, problem_id: int, parent_id: int, annotator: str, text: str) -> int:
    return store.save_human_edit(problem_id, annotator, parent_id, text)


def prm800k(store: Store) -> list[dict]:
    out = io.StringIO()
    exporters.write_export(store, out, "prm800k", "all")
    return [json.loads(line) for line in out.getvalue().splitlines()]


def completions(record: dict) -> list[str | None]:
    return [s["human_completion"]["text"] if s["human_completion"] else None for s in record["label"]["steps"]]


def test_the_edit_of_a_step_rated_wrong_is_its_human_completion(store):
    problem_id, attempt_id = draft(store)
    label(store, attempt_id, "ana", {1: 1, 2: -1})
    edit(
        store,
        problem_id,
        attempt_id,
        "ana",
        "I need six times seven.\n\nSo 6 x 7 = 42.\n\nCheck: 42 / 6 = 7.\n\n<ANSWER>42</ANSWER>",
    )
    [record] = prm800k(store)
    steps = record["label"]["steps"]
    assert completions(record) == [None, "So 6 x 7 = 42."]
    assert set(steps[1]["human_completion"]) == COMPLETION_KEYS
    assert steps[1]["human_completion"] == {
        "text": "So 6 x 7 = 42.", "rating": None, "source": "human", "flagged": False, "corrected_rating": None,
    }  # fmt: skip
    assert [s["chosen_completion"] for s in steps] == [0, None]  # as PRM800K: a human completion is not a chosen one
    # The record keeps PRM800K's shape.
    assert set(record) == {"labeler", "timestamp", "question", "label", "source"}
    assert set(record["label"]) == {"steps", "total_time", "finish_reason"} and record["label"]["finish_reason"] == "found_error"
    assert all(set(s) == {"completions", "human_completion", "chosen_completion"} for s in steps)
    assert steps[1]["completions"] == [{"text": "So 6 x 7 = 36.", "rating": -1, "flagged": False}]


def test_only_steps_rated_wrong_and_really_replaced_get_one(store):
    problem_id, attempt_id = draft(store)
    label(store, attempt_id, "ana", {1: 0, 2: -1, 3: -1, 4: 1})
    # Step 1 (neutral) reworded, step 2 (wrong) kept as it was, step 3 (wrong) deleted, step 4 rewritten.
    edit(store, problem_id, attempt_id, "ana", "Six times seven, then.\n\nSo 6 x 7 = 36.\n\n<ANSWER>36</ANSWER>")
    [record] = prm800k(store)
    assert completions(record) == [None, None, None, None]


def test_one_wrong_step_rewritten_as_two_and_steps_after_an_insertion_line_up(store):
    problem_id, attempt_id = draft(store)
    label(store, attempt_id, "ana", {1: 1, 2: -1, 3: -1})
    edited = (
        "I need six times seven.\n\n"
        "Seven sixes: 6, 12, 18, 24, 30, 36, 42.\n\n- So 6 x 7 = 42.\n\n"  # step 2 becomes two steps (a list item)
        "Check: 42 / 6 = 7.\n\n<ANSWER>42</ANSWER>"
    )
    edit(store, problem_id, attempt_id, "ana", edited)
    [record] = prm800k(store)
    # Steps 2-4 (3 steps) became 4 steps: the whole replacement goes to the run's first step, rated -1.
    assert completions(record)[0] is None
    assert (
        completions(record)[1]
        == "Seven sixes: 6, 12, 18, 24, 30, 36, 42.\n\n- So 6 x 7 = 42.\n\nCheck: 42 / 6 = 7.\n\n<ANSWER>42</ANSWER>"
    )
    assert completions(record)[2] is None  # the run's other -1 step: its text is in the first one's
    # An edit that adds a step further up still lines the wrong step up with its replacement; a step
    # added right beside it is part of what took its place.
    problem_id, attempt_id = draft(store, DRAFT.replace("six times", "6 times"))
    label(store, attempt_id, "bo", {2: -1, 3: -1})
    edit(
        store,
        problem_id,
        attempt_id,
        "bo",
        "Let me think.\n\nI need 6 times seven.\n\nSo 6 x 7 = 42.\n\nCheck: 36 / 6 = 6.\n\nSo 7 x 6 = 42 too.\n\n<ANSWER>36</ANSWER>",
    )
    bo = next(r for r in prm800k(store) if r["labeler"] == "bo")
    assert completions(bo) == [None, "So 6 x 7 = 42.", None]


def test_the_labellers_own_edit_first_else_another_experts_and_none_without_an_edit(store):
    problem_id, attempt_id = draft(store)
    label(store, attempt_id, "ana", {2: -1})
    label(store, attempt_id, "cy", {2: -1})
    assert [completions(r) for r in prm800k(store)] == [[None, None], [None, None]]  # no edit yet: null
    edit(store, problem_id, attempt_id, "bo", DRAFT.replace("= 36.", "= 42 (bo)."))
    edit(store, problem_id, attempt_id, "cy", DRAFT.replace("= 36.", "= 42 (cy)."))
    by_labeller = {r["labeler"]: completions(r)[1] for r in prm800k(store)}
    assert by_labeller == {"ana": "So 6 x 7 = 42 (cy).", "cy": "So 6 x 7 = 42 (cy)."}  # ana: the latest edit
    edit(store, problem_id, attempt_id, "ana", DRAFT.replace("= 36.", "= 42 (ana)."))
    by_labeller = {r["labeler"]: completions(r)[1] for r in prm800k(store)}
    assert by_labeller == {"ana": "So 6 x 7 = 42 (ana).", "cy": "So 6 x 7 = 42 (cy)."}
