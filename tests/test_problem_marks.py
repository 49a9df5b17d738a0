"""Problems marked broken: the mark and its history, the queue, `--auto`, exports, status, report,
overlap items and the migration. Real SQLite files; `--auto` runs as a real process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlite_utils
from click.testing import CliRunner
from loop_helpers import Script, critic_json, solution
from test_auto_cli import add_problems, environment, start, write_config
from tui_data import make_db

from rel_core import exporters, migrations, problem_marks
from rel_core.models import Decision, ProblemState, Review
from rel_core.overlap import OverlapPolicy
from rel_core.problem_marks import MarkKind
from rel_core.report import build_report
from rel_core.review_session import QueueFilter, ReviewSession
from rel_core.store import Store
from rel_tui.cli import main


@pytest.fixture
def db(tmp_path):
    return make_db(tmp_path / "rel.db", count=3)


def queue_ids(session: ReviewSession) -> list[int]:
    return [item.id for item in session.queue_page(0, 50)]


def accept(store: Store, problem_id: int, annotator: str = "ana") -> None:
    attempt = store.history(problem_id).latest_attempt
    store.record_review(Review(problem_id=problem_id, decision=Decision.ACCEPTED, attempt_id=attempt.id, annotator=annotator))


# -- the mark, reversible, with its history ----------------------------------------------------------


def test_mark_replace_and_unmark_keep_every_row(db):
    with Store(db) as store:
        first = problem_marks.mark(store, 2, "ana", MarkKind.DUPLICATE, "  same as #1 ")
        second = problem_marks.mark(store, 2, "ana", "wrong_reference")  # ana changes her mind: replaces hers
        [live] = problem_marks.live_marks(store, 2)
        assert (live.id, live.kind, live.note, live.annotator) == (second, MarkKind.WRONG_REFERENCE, None, "ana")
        old = problem_marks.history(store, 2)[0]
        assert (old.id, old.note, old.undone_by) == (first, "same as #1", "ana") and old.undone_at is not None
        problem_marks.mark(store, 2, "bob", MarkKind.OTHER, "the figure of the garden is missing")
        assert [m.annotator for m in problem_marks.unmark(store, 2, "ana")] == ["ana"]  # only her own
        assert [m.annotator for m in problem_marks.live_marks(store, 2)] == ["bob"]
        assert [m.annotator for m in problem_marks.unmark(store, 2, "carol", everyone=True)] == ["bob"]
        assert problem_marks.live_marks(store, 2) == []
        rows = problem_marks.history(store, 2)
        assert len(rows) == 3 and {m.undone_by for m in rows} == {"ana", "carol"}
        assert store.get_problem(2).state == ProblemState.AWAITING_REVIEW  # a mark never moves the state


def test_bad_marks_are_refused(db):
    with Store(db) as store:
        with pytest.raises(ValueError, match="needs a reason"):
            problem_marks.mark(store, 1, "ana", MarkKind.OTHER, "   ")
        with pytest.raises(ValueError):
            problem_marks.mark(store, 1, "ana", "looks odd")
        with pytest.raises(KeyError):
            problem_marks.mark(store, 99, "ana", MarkKind.AMBIGUOUS)
        assert problem_marks.history(store, 1) == []


# -- the review queue ------------------------------------------------------------------------------


def test_a_marked_problem_leaves_the_queue_and_a_filter_shows_it(db):
    with Store(db) as store:
        session = ReviewSession(store, "ana")
        assert session.open(2)
        session.mark_problem(MarkKind.NEEDS_FIGURE)
        assert not session.current_in_queue()
        assert queue_ids(session) == [1, 3]
        assert session.next() and session.problem_id == 3
        session.filter = QueueFilter(states=(), marked=True)
        assert queue_ids(session) == [2] and "marked broken" in session.filter.describe()
        assert session.open(2) and [m.kind for m in session.marks_on_item()] == [MarkKind.NEEDS_FIGURE]
        assert [m.annotator for m in session.unmark_problem()] == ["ana"]
        session.filter = QueueFilter()
        assert queue_ids(session) == [1, 2, 3]


# -- overlap items: a mark is that expert's decision, and does not leak -------------------------------


def test_on_an_overlap_item_a_mark_is_the_experts_decision_and_does_not_leak(db):
    everything = OverlapPolicy(fraction=1.0, k=2)
    with Store(db) as store:
        alice, bob, carol = (ReviewSession(store, name, overlap=everything) for name in ("alice", "bob", "carol"))
        assert alice.open(1) and bob.open(1)
        bob.decide(Decision.ACCEPTED, bob.current.latest_attempt.id)
        assert alice.team.visible_to(store.history(1), "alice").reviews == []  # not before she decided
        alice.mark_problem(MarkKind.WRONG_REFERENCE)
        assert queue_ids(alice) == [2, 3]  # her decision: out of her queue
        assert 1 not in queue_ids(carol)  # alice and bob decided it: both places are taken
        assert [r.annotator for r in alice.team.visible_to(store.history(1), "alice").reviews] == ["bob"]  # she may see it now
        # Dave has not decided item 2: alice's mark on it is invisible to him, and it stays in his queue.
        dave = ReviewSession(store, "dave", overlap=everything)
        assert alice.open(2)
        alice.mark_problem(MarkKind.AMBIGUOUS)
        assert 2 in queue_ids(dave)
        assert dave.open(2) and dave.marks_on_item() == []
        dave.filter = QueueFilter(states=(), marked=True)
        assert queue_ids(dave) == []
        alice.filter = QueueFilter(states=(), marked=True)
        assert queue_ids(alice) == [1, 2]
        # Once dave has decided, he sees it; unmarking an overlap item takes back one's own mark only.
        dave.decide(Decision.REJECTED, dave.current.latest_attempt.id, note="unclear")
        assert [m.annotator for m in dave.marks_on_item()] == ["alice"]
        assert dave.unmark_problem() == [] and len(problem_marks.live_marks(store, 2)) == 1


# -- --auto never picks a marked problem -----------------------------------------------------------------


def test_auto_skips_a_marked_problem(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    add_problems(db, ["[K1]", "[K2]", "[K3]"])
    with Store(db) as store:
        problem_marks.mark(store, 2, "ana", MarkKind.WRONG_REFERENCE)
        assert store.count_claimable([ProblemState.PENDING]) == 2
    write_config(tmp_path)
    script = Script()
    for marker in ("[K1]", "[K2]", "[K3]"):
        script.on(marker, "generate", solution("42")).on(marker, "critic", critic_json("correct"))
    llm_server.respond_with(script)
    process = start(db, environment(tmp_path, llm_server), "--max-iterations", "0")
    _, err = process.communicate(timeout=90)
    assert process.returncode == 0, err
    assert script.steps("[K2]") == [] and script.steps("[K1]") and script.steps("[K3]")
    with Store(db) as store:
        assert store.get_problem(2).state == ProblemState.PENDING and store.count_attempts(2) == 0
        assert store.get_problem(1).state == ProblemState.AWAITING_REVIEW
        assert store.get_problem(3).state == ProblemState.AWAITING_REVIEW


# -- exports -----------------------------------------------------------------------------------------


def export(store: Store, fmt: str, **options) -> list[dict]:
    import io

    out = io.StringIO()
    exporters.write_export(store, out, fmt, exporters.default_status(fmt), **options)
    text = out.getvalue()
    return json.loads(text) if fmt == "reasonset" else [json.loads(line) for line in text.splitlines()]


def test_every_export_leaves_marked_problems_out_unless_asked(db, tmp_path):
    from rel_core import labels
    from rel_core.steps import split_steps

    with Store(db) as store:
        for problem_id in (1, 2, 3):
            accept(store, problem_id)
        attempt = store.history(2).latest_attempt
        labels.label_step(
            store, attempt.id, 1, labels.Rating.GOOD, "ana", step_hash=labels.step_hash(split_steps(attempt.text)[0])
        )
        problem_marks.mark(store, 2, "ana", MarkKind.DUPLICATE, "of #1")
        for fmt in ("openai", "anthropic", "jsonl", "reasonset"):
            assert len(export(store, fmt)) == 2, fmt
        assert {r["id"] for r in export(store, "jsonl")} == {1, 3}
        assert (
            export(store, "prm800k") == [] and export(store, "kto") and 2 not in {r["problem_id"] for r in export(store, "kto")}
        )
        assert all(r["problem_id"] != 2 for fmt in ("trl-steps", "dpo") for r in export(store, fmt))
        included = {r["id"]: r for r in export(store, "jsonl", include_marked=True)}
        assert set(included) == {1, 2, 3} and "marks" not in included[1]
        assert included[2]["marks"] == [
            {"kind": "duplicate", "note": "of #1", "annotator": "ana", "created_at": included[2]["marks"][0]["created_at"]}
        ]
        [prm] = export(store, "prm800k", include_marked=True)
        assert prm["label"]["finish_reason"] == "bad_problem"  # PRM800K's own word for it
        [row] = export(store, "marks")
        assert (row["problem_id"], row["kind"], row["note"], row["annotator"]) == (2, "duplicate", "of #1", "ana")
        assert row["problem"].startswith("Problem 2:") and row["source"] == "sample" and row["problem_hash"]
        pytest.importorskip("pyarrow")
        left_out = exporters.export_folder(store, tmp_path / "hf")
        assert exporters.export_folder(store, tmp_path / "hf-all", include_marked=True) > left_out


def test_export_cli_options(db, tmp_path):
    with Store(db) as store:
        accept(store, 1)
        accept(store, 2)
        problem_marks.mark(store, 2, "ana", MarkKind.AMBIGUOUS)
    runner = CliRunner()
    out = tmp_path / "out.jsonl"
    result = runner.invoke(main, ["--db", str(db), "export", str(out)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [1]
    result = runner.invoke(main, ["--db", str(db), "export", str(out), "--include-marked"])
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [1, 2]
    result = runner.invoke(main, ["--db", str(db), "export", str(tmp_path / "marks.jsonl"), "--format", "marks"])
    assert result.exit_code == 0 and "Exported 1 marks" in result.output
    assert json.loads((tmp_path / "marks.jsonl").read_text())["kind"] == "ambiguous"


# -- status and report -----------------------------------------------------------------------------


def test_status_and_report_count_the_marks(db):
    with Store(db) as store:
        problem_marks.mark(store, 1, "ana", MarkKind.WRONG_REFERENCE)
        problem_marks.mark(store, 1, "bob", MarkKind.AMBIGUOUS)
        problem_marks.mark(store, 3, "ana", MarkKind.WRONG_REFERENCE)
        report = build_report(store)
        assert report.marks.problems == 2
        assert report.marks.by_kind == {"wrong_reference": 2, "ambiguous": 1} and report.marks.by_annotator == {
            "ana": 2,
            "bob": 1,
        }
        # The marked problems' critiques are no evidence on the critic: only problem 2's count.
        assert sum(c.critiques for c in report.critics) == 2
    result = subprocess.run(
        [sys.executable, "-m", "rel_tui", "--db", str(db), "status"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in result.stdout.splitlines() if line.count("│") == 3}
    assert rows["marked broken"] == "2 (1 ambiguous, 2 wrong reference)"
    result = CliRunner().invoke(main, ["--db", str(db), "report"], env={"COLUMNS": "120"})
    assert result.exit_code == 0 and "Problems marked broken" in result.output and "wrong reference" in result.output
    data = json.loads(CliRunner().invoke(main, ["--db", str(db), "report", "--json"]).output)
    assert data["marks"]["problems"] == 2


# -- the migration ---------------------------------------------------------------------------------------


def make_pre_m012(path):
    """A database as rel-tui made it before m012, holding a problem and a decision."""
    make_db(path, count=2)
    db = sqlite_utils.Database(path)
    db.execute("delete from _migrations where name = 'm012_problem_marks'")
    db.execute("drop table problem_marks")
    db.conn.commit()
    db.close()


def test_m012_adds_problem_marks_to_a_database_with_data(tmp_path):
    path = tmp_path / "old.db"
    make_pre_m012(path)
    with Store(path, read_only=True) as store:  # status and export read an old file as it is
        assert not problem_marks.available(store)
        assert len(export(store, "jsonl")) == 0 and export(store, "marks") == []
        assert build_report(store).marks.problems == 0 and problem_marks.counts(store).problems == 0
    with Store(path) as store:
        assert "m012_problem_marks" in migrations.applied(store.db)
        assert store.db["problem_marks"].columns_dict == {
            "id": int, "problem_id": int, "annotator": str, "kind": str, "note": str,
            "created_at": str, "undone_at": str, "undone_by": str,
        }  # fmt: skip
        assert [fk.other_table for fk in store.db["problem_marks"].foreign_keys] == ["problems"]
        assert store.count_problems() == 2 and len(store.history(1).attempts) == 2
        problem_marks.mark(store, 1, "ana", MarkKind.INCOMPLETE)
        with pytest.raises(Exception, match="UNIQUE"):  # one live mark per expert and problem
            store.conn.execute(
                "insert into problem_marks (problem_id, annotator, kind, created_at) values (1, 'ana', 'ambiguous', 't')"
            )
        with pytest.raises(Exception, match="CHECK"):
            store.conn.execute(
                "insert into problem_marks (problem_id, annotator, kind, created_at) values (1, 'bob', 'meh', 't')"
            )
