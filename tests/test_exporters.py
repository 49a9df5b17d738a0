"""Exporters: each format's shape, status filtering, atomic writes, round trips through the importers."""

from __future__ import annotations

import io
import json
import os

import pytest

from rel_core import exporters
from rel_core.importers import import_paths
from rel_core.models import (
    Attempt,
    AttemptKind,
    Critique,
    CritiqueSource,
    Decision,
    ImportRecord,
    Problem,
    Review,
    Verdict,
)
from rel_core.store import Store


def add_problem(store: Store, text: str, drafts: list[str], **fields) -> tuple[int, list[int]]:
    problem_id, _ = store.add_problem(Problem(text=text, **fields))
    ids = [store.add_attempt(Attempt(problem_id=problem_id, kind=AttemptKind.GENERATED, text=d)) for d in drafts]
    return problem_id, ids


def review(store: Store, problem_id: int, decision: Decision, attempt_id: int | None = None, who: str = "ana") -> None:
    store.record_review(Review(problem_id=problem_id, decision=decision, attempt_id=attempt_id, annotator=who))


@pytest.fixture
def dataset(store):
    """Four problems: accepted as generated, accepted after an expert edit, rejected, untouched."""
    plain, [_first_draft, second_draft] = add_problem(
        store,
        "What is 2+2?",
        ["It is 5.", "2+2 = 4, checked by counting."],
        reference_answer="4",
        reference_solution=r"$2+2=\boxed{4}$",
        source="bundled",
        subject="prealgebra",
        level="1",
    )
    store.add_critique(Critique(attempt_id=second_draft, verdict=Verdict.CORRECT, source=CritiqueSource.CHECK))
    review(store, plain, Decision.ACCEPTED, second_draft)

    edited, [draft] = add_problem(store, "Factor $x^2-1$.", ["(x-1)(x+2)"], reference_answer="(x-1)(x+1)")
    store.add_critique(Critique(attempt_id=draft, verdict=Verdict.INCORRECT, source=CritiqueSource.LLM))
    edit = store.save_human_edit(edited, "bo", draft, "Difference of squares: $(x-1)(x+1)$.")
    review(store, edited, Decision.ACCEPTED, edit, who="bo")

    rejected, [bad] = add_problem(store, "Is 1 prime?", ["Yes."])
    review(store, rejected, Decision.REJECTED, bad)

    untouched, _ = add_problem(store, "What is 3*3?", [])
    return {"plain": plain, "edited": edited, "rejected": rejected, "untouched": untouched}


def export(store: Store, fmt: str, status: str = "accepted", system: str | None = None) -> str:
    out = io.StringIO()
    exporters.write_export(store, out, fmt, status, system)
    return out.getvalue()


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_full_jsonl_accepted_only_with_every_field(store, dataset):
    plain, edited = lines(export(store, "jsonl"))
    assert plain == {
        "id": dataset["plain"],
        "problem": "What is 2+2?",
        "reference_answer": "4",
        "reference_solution": r"$2+2=\boxed{4}$",
        "status": "accepted",
        "worked_solution": "2+2 = 4, checked by counting.",
        "attempts": 2,
        "verified": True,
        "annotator": "ana",
        "edited": False,
        "source": "bundled",
        "subject": "prealgebra",
        "level": "1",
    }
    assert edited["worked_solution"] == "Difference of squares: $(x-1)(x+1)$."
    assert (edited["edited"], edited["annotator"], edited["verified"], edited["attempts"]) == (True, "bo", None, 2)


def test_full_jsonl_all_uses_latest_attempt_when_none_accepted(store, dataset):
    items = {item["problem"]: item for item in lines(export(store, "jsonl", "all"))}
    assert len(items) == 4
    assert items["Is 1 prime?"]["status"] == "rejected"
    assert items["Is 1 prime?"]["worked_solution"] == "Yes."
    assert items["What is 3*3?"]["worked_solution"] is None
    assert items["What is 3*3?"]["verified"] is None and items["What is 3*3?"]["annotator"] is None


def test_undone_acceptance_is_not_exported(store, dataset):
    store.undo_last_review("bo")
    assert [item["problem"] for item in lines(export(store, "jsonl"))] == ["What is 2+2?"]


def test_openai_chat_lines(store, dataset):
    first = lines(export(store, "openai"))[0]
    assert first == {
        "messages": [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "2+2 = 4, checked by counting."},
        ]
    }
    with_system = lines(export(store, "openai", system="Think step by step."))[0]
    assert with_system["messages"][0] == {"role": "system", "content": "Think step by step."}


def test_anthropic_lines(store, dataset):
    first = lines(export(store, "anthropic"))[0]
    assert first == {
        "messages": [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "2+2 = 4, checked by counting."},
        ]
    }
    assert lines(export(store, "anthropic", system="Be rigorous."))[0]["system"] == "Be rigorous."


def test_chat_formats_skip_problems_without_an_attempt(store, dataset):
    assert len(lines(export(store, "openai", "all"))) == 3


def test_reasonset_array(store, dataset):
    items = json.loads(export(store, "reasonset"))
    assert items[0] == {
        "problem": "What is 2+2?",
        "working_out": "2+2 = 4, checked by counting.",
        "provided_solution": r"$2+2=\boxed{4}$",
        "reference_answer": "4",
        "source": "bundled",
        "subject": "prealgebra",
        "level": "1",
    }
    assert items[1]["provided_solution"] == "(x-1)(x+1)"  # no reference solution: the answer stands in


def test_empty_export_is_still_valid(store):
    assert json.loads(export(store, "reasonset")) == []
    assert export(store, "jsonl") == ""


@pytest.mark.parametrize("fmt", exporters.FORMATS)
def test_round_trip_gives_the_same_problems_and_accepted_solutions(tmp_path, store, dataset, fmt):
    path = tmp_path / f"export.{'json' if fmt == 'reasonset' else 'jsonl'}"
    exporters.export_to_path(store, path, fmt)
    expected = {(item["problem"], item["worked_solution"]) for item in lines(export(store, "jsonl"))}
    with Store(tmp_path / "again.db") as again:
        outcome = import_paths(again, [path])
        assert outcome.errors == []
        found = set()
        for problem_id in again.iter_problem_ids():
            history = again.history(problem_id)
            [attempt] = history.attempts
            found.add((history.problem.text, attempt.text))
            if fmt in ("jsonl", "reasonset"):
                original = store.get_problem(dataset["plain"])
                if history.problem.text == original.text:
                    assert history.problem.reference_answer == original.reference_answer
                    assert history.problem.subject == original.subject
    assert found == expected


def test_export_pages_through_many_problems(store):
    records = [
        ImportRecord(problem=Problem(text=f"Problem {i}"), attempts=[Attempt(kind=AttemptKind.IMPORTED, text=f"Draft {i}")])
        for i in range(1203)
    ]
    store.import_records(records)
    items = lines(export(store, "openai", "all"))
    assert len(items) == 1203
    assert items[-1]["messages"][0]["content"] == "Problem 1202"


def test_export_writes_atomically(tmp_path, store, dataset, monkeypatch):
    path = tmp_path / "out.jsonl"
    path.write_text("previous export\n")

    def crash(history, attempt):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(exporters, "full_item", crash)
    with pytest.raises(RuntimeError):
        exporters.export_to_path(store, path, "jsonl")
    assert path.read_text() == "previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []
    monkeypatch.undo()
    assert exporters.export_to_path(store, path, "jsonl") == 2
    assert len(lines(path.read_text())) == 2
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not mkstemp's 0600
