"""Small command findings of the second acceptance pass (ACCEPTANCE2.md §10), through the real CLI
on real SQLite files: an export of nothing says why, the marks export names no status, a mistyped
report source is an error, and the agreement caption says what is missing."""

from __future__ import annotations

from click.testing import CliRunner

from rel_core import problem_marks
from rel_core.models import Attempt, AttemptKind, Decision, Problem, Review
from rel_core.problem_marks import MarkKind
from rel_core.store import Store
from rel_tui.cli import main


def problems_db(path, count=2, source="bundled-test"):
    with Store(path) as store:
        for n in range(count):
            store.add_problem(Problem(text=f"Problem {n}", reference_answer=str(n), source=source))
    return path


def test_an_export_of_nothing_accepted_says_what_the_database_holds(tmp_path):
    db = problems_db(tmp_path / "rel.db")
    result = CliRunner().invoke(main, ["--db", str(db), "export", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (
        f"Exported 0 problems (jsonl, accepted) to {tmp_path / 'out.jsonl'}. "
        "Nothing is accepted yet (2 pending); --status all exports the latest attempts."
    )


def test_an_export_of_an_empty_database_says_it_is_empty(tmp_path):
    db = tmp_path / "rel.db"
    Store(db).close()
    result = CliRunner().invoke(main, ["--db", str(db), "export", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0 and result.stderr.strip().endswith("The database holds no problems."), result.output


def test_the_marks_export_names_no_status(tmp_path):
    db = problems_db(tmp_path / "rel.db")
    with Store(db) as store:
        problem_marks.mark(store, 1, "ana", MarkKind.AMBIGUOUS)
    result = CliRunner().invoke(main, ["--db", str(db), "export", str(tmp_path / "m.jsonl"), "--format", "marks"])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"Exported 1 marks (marks) to {tmp_path / 'm.jsonl'}."


def test_a_report_for_a_source_no_problem_has_is_an_error_naming_the_sources(tmp_path):
    db = problems_db(tmp_path / "rel.db", source="math-train")
    result = CliRunner().invoke(main, ["--db", str(db), "report", "--source", "math-trian"])
    assert result.exit_code == 2
    assert "no problem has source 'math-trian' (sources: math-train)" in result.output
    assert CliRunner().invoke(main, ["--db", str(db), "report", "--source", "math-train"]).exit_code == 0


def test_agreement_without_shared_step_labels_says_so_under_that_table_only(tmp_path):
    db = problems_db(tmp_path / "rel.db", count=3)
    with Store(db) as store:
        for annotator in ("ana", "ben"):
            for problem_id in (1, 2, 3):
                store.record_review(Review(problem_id=problem_id, decision=Decision.ACCEPTED, annotator=annotator))
    result = CliRunner().invoke(main, ["--db", str(db), "agreement"], terminal_width=120)
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())  # the caption wraps to the table's width
    assert "No two annotators have given step labels on the same items yet." in shown
    assert "accept/reject on the same items" not in shown  # they did: 3 items
    assert "Fewer than two annotators" not in shown


def test_an_openai_export_imports_back_as_drafts_without_a_reference_as_the_readme_says(tmp_path):
    db = problems_db(tmp_path / "rel.db", count=1)
    with Store(db) as store:
        attempt_id = store.add_attempt(Attempt(problem_id=1, kind=AttemptKind.GENERATED, text="Worked: 0."))
        store.record_review(Review(problem_id=1, decision=Decision.ACCEPTED, attempt_id=attempt_id, annotator="ana"))
    out = tmp_path / "out.jsonl"
    assert CliRunner().invoke(main, ["--db", str(db), "export", str(out), "--format", "openai"]).exit_code == 0
    again = tmp_path / "again.db"
    assert CliRunner().invoke(main, ["--db", str(again), "import", str(out)]).exit_code == 0
    with Store(again) as store:
        [problem_id] = list(store.iter_problem_ids())
        history = store.history(problem_id)
        assert history.problem.text == "Problem 0" and history.problem.reference_answer is None
        assert [a.text for a in history.attempts] == ["Worked: 0."]
        assert str(history.problem.state) == "awaiting_review"
