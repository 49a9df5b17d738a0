"""The SQLite store, on real database files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time

import pytest
import sqlite_utils

from rel_core import migrations
from rel_core.models import (
    Attempt,
    AttemptKind,
    Critique,
    CritiqueSource,
    Decision,
    ImportRecord,
    LLMCall,
    Problem,
    ProblemState,
    Review,
    Standing,
    Verdict,
)
from rel_core.store import Store, StoreError, verified


def add(store: Store, text: str, state: ProblemState = ProblemState.PENDING, **fields) -> int:
    problem_id, created = store.add_problem(Problem(text=text, state=state, **fields))
    assert created
    return problem_id


def test_new_database_has_full_schema(tmp_path):
    Store(tmp_path / "rel.db").close()
    db = sqlite_utils.Database(tmp_path / "rel.db")
    assert {"problems", "attempts", "critiques", "reviews", "llm_calls", "edit_drafts", "_migrations"} <= set(db.table_names())
    assert db["attempts"].columns_dict["template_version"] is str
    assert {fk.other_table for fk in db["attempts"].foreign_keys} == {"problems", "attempts", "llm_calls"}
    assert db["problems"].detect_fts() == "problems_fts"
    triggers = {t.name for t in db.triggers}
    assert {"problems_ai", "problems_ad", "problems_au"} <= triggers
    assert [r["name"] for r in db["_migrations"].rows] == [fn.__name__ for fn in migrations.MIGRATIONS]


def test_upgrade_from_previous_version_keeps_data(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    migrations.m001_initial(db)
    db["_migrations"].insert({"name": "m001_initial", "applied_at": "2026-01-01"})
    db["problems"].insert(
        {"hash": "h", "text": "old problem", "state": "accepted", "created_at": "2026-01-01", "updated_at": "2026-01-01"}
    )
    db.close()

    with Store(path) as store:
        assert store.get_problem(1).text == "old problem"
        assert store.get_problem(1).state == ProblemState.ACCEPTED
        store.save_edit_draft(1, "ann", None, "draft text")  # the table m002 adds
        assert store.load_edit_draft(1, "ann")["text"] == "draft text"


def test_file_is_private_and_in_wal_mode(tmp_path):
    path = tmp_path / "sub" / "rel.db"
    with Store(path) as store:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert store.conn.execute("pragma journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("pragma busy_timeout").fetchone()[0] >= 5000
        assert store.conn.execute("pragma foreign_keys").fetchone()[0] == 1


def test_not_a_database_is_one_clear_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match=r"junk\.db: not a usable SQLite database"):
        Store(path)
    assert path.read_bytes().startswith(b"this is not sqlite")


WRITER = textwrap.dedent(
    """
    import sys
    from rel_core.models import Attempt, AttemptKind, Problem
    from rel_core.store import Store
    store = Store(sys.argv[1])
    for i in range(150):
        pid, _ = store.add_problem(Problem(text=f"{sys.argv[2]} problem {i}"))
        store.add_attempt(Attempt(problem_id=pid, kind=AttemptKind.GENERATED, text="draft " * 50))
        store.claim(pid, sys.argv[2], 60)
    """
)


def test_two_processes_write_at_once(tmp_path):
    path = tmp_path / "shared.db"
    Store(path).close()
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), name], stderr=subprocess.PIPE, text=True)
        for name in ("alpha", "beta")
    ]
    errors = [w.communicate(timeout=120)[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors
    with Store(path) as store:
        assert store.count_problems() == 300
        assert store.conn.execute("select count(*) from attempts").fetchone()[0] == 300


def test_two_processes_migrate_a_new_file_at_once(tmp_path):
    path = tmp_path / "new.db"
    code = "import sys; from rel_core.store import Store; Store(sys.argv[1]).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], stderr=subprocess.PIPE) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0], [p.stderr.read() for p in procs]
    db = sqlite_utils.Database(path)
    assert db["_migrations"].count == len(migrations.MIGRATIONS)


def test_duplicate_problem_text_is_recognised(store):
    first = store.add_problem(Problem(text="Find  x.\n"))
    second = store.add_problem(Problem(text="Find x."))
    assert first == (1, True)
    assert second == (1, False)


def test_counts_cover_every_state(store):
    add(store, "a")
    add(store, "b", ProblemState.AWAITING_REVIEW)
    add(store, "c", ProblemState.AWAITING_REVIEW)
    counts = store.counts()
    assert counts[ProblemState.AWAITING_REVIEW] == 2
    assert counts[ProblemState.PENDING] == 1
    assert counts[ProblemState.ERRORED] == 0
    assert set(counts) == set(ProblemState)


def test_queue_is_paged_in_id_order_with_attempts_and_verdict(store):
    ids = [add(store, f"problem {i}", ProblemState.AWAITING_REVIEW, source="s1" if i % 2 else "s2") for i in range(5)]
    add(store, "pending one")
    attempt = store.add_attempt(Attempt(problem_id=ids[1], kind=AttemptKind.GENERATED, text="x"))
    store.add_critique(Critique(attempt_id=attempt, verdict=Verdict.INCORRECT, source=CritiqueSource.CHECK))
    store.add_critique(Critique(attempt_id=attempt, verdict=Verdict.CORRECT, source=CritiqueSource.LLM))

    page = store.queue(limit=3)
    assert [item.id for item in page] == ids[:3]
    assert page[1].attempts == 1 and page[1].verdict == Standing.DISPUTED
    assert page[1].verdict_label == "disputed: ✗ check · ✓ critic"
    assert page[0].attempts == 0 and page[0].verdict is None
    assert [item.id for item in store.queue(after_id=page[-1].id)] == ids[3:]
    assert [item.id for item in store.queue(source="s1")] == [ids[1], ids[3]]
    assert len(store.queue(states=None)) == 6
    assert store.next_in_queue(ids[1]) == ids[2]
    assert store.previous_in_queue(ids[1]) == ids[0]
    assert store.previous_in_queue(ids[0]) is None


def test_full_text_search_treats_input_as_words(store):
    target = add(store, "A frustum of a right circular cone")
    add(store, "An unrelated integral")
    assert store.search("frustum") == [target]
    assert [i.id for i in store.queue(states=None, search="circular cone")] == [target]
    # FTS syntax characters in user input are searched for, not parsed.
    assert store.search('cone" OR (x') == []
    assert store.search("NEAR(") == []


def test_history_returns_everything_in_order(store):
    pid = add(store, "p", ProblemState.AWAITING_REVIEW)
    first = store.add_attempt(Attempt(problem_id=pid, kind=AttemptKind.GENERATED, text="one", temperature=1.0))
    second = store.add_attempt(Attempt(problem_id=pid, parent_id=first, kind=AttemptKind.REVISED, text="two", temperature=0.9))
    store.add_critique(Critique(attempt_id=first, verdict=Verdict.INCORRECT, source=CritiqueSource.CHECK))
    store.record_review(Review(problem_id=pid, decision=Decision.ACCEPTED, attempt_id=second, annotator="ann"))
    history = store.history(pid)
    assert [a.text for a in history.attempts] == ["one", "two"]
    assert history.attempts[1].parent_id == first
    assert history.critiques_for(first)[0].verdict == Verdict.INCORRECT
    assert history.accepted_attempt.id == second
    assert store.history(9999) is None


def test_review_and_undo_restore_state(store):
    pid = add(store, "p", ProblemState.AWAITING_REVIEW)
    store.record_review(Review(problem_id=pid, decision=Decision.REJECTED, annotator="ann", note="wrong"))
    assert store.get_problem(pid).state == ProblemState.REJECTED
    assert store.undo_last_review("someone else") is None
    undone = store.undo_last_review("ann")
    assert undone.decision == Decision.REJECTED
    assert store.get_problem(pid).state == ProblemState.AWAITING_REVIEW
    assert store.history(pid).reviews[0].undone_at is not None
    assert store.undo_last_review("ann") is None


def test_skip_keeps_state(store):
    pid = add(store, "p", ProblemState.AWAITING_REVIEW)
    store.record_review(Review(problem_id=pid, decision=Decision.SKIPPED, annotator="ann", seconds_spent=3.5))
    assert store.get_problem(pid).state == ProblemState.AWAITING_REVIEW
    assert store.history(pid).reviews[0].seconds_spent == 3.5


def test_claims_are_exclusive_until_they_expire(store):
    first = add(store, "one")
    second = add(store, "two")
    assert store.claim_next("runner-a", 60, [ProblemState.PENDING]).id == first
    assert store.claim_next("runner-b", 60, [ProblemState.PENDING]).id == second
    assert store.claim_next("runner-c", 60, [ProblemState.PENDING]) is None
    assert not store.claim(first, "expert", 60)
    assert store.claim(first, "runner-a", 60)  # renewal by the holder
    store.release(first, "runner-a")
    assert store.claim(first, "expert", 0.05)
    time.sleep(0.1)
    assert store.claimed_by(first) is None
    assert store.claim_next("runner-c", 60, [ProblemState.PENDING]).id == first


def test_human_edit_replaces_the_autosaved_draft(store):
    pid = add(store, "p", ProblemState.AWAITING_REVIEW)
    parent = store.add_attempt(Attempt(problem_id=pid, kind=AttemptKind.GENERATED, text="orig"))
    store.save_edit_draft(pid, "ann", parent, "half done")
    store.save_edit_draft(pid, "ann", parent, "nearly done")
    assert store.load_edit_draft(pid, "ann")["text"] == "nearly done"
    edit = store.save_human_edit(pid, "ann", parent, "done")
    assert store.load_edit_draft(pid, "ann") is None
    saved = store.get_attempt(edit)
    assert saved.kind == AttemptKind.HUMAN_EDIT and saved.parent_id == parent and saved.text == "done"


def test_failed_transaction_writes_nothing(store):
    pid = add(store, "p")
    with pytest.raises(RuntimeError), store.transaction():
        store.add_attempt(Attempt(problem_id=pid, kind=AttemptKind.GENERATED, text="lost"))
        raise RuntimeError("boom")
    assert store.history(pid).attempts == []


def test_import_records_dedupes_problems_and_drafts(store):
    record = ImportRecord(
        problem=Problem(text="q1", reference_answer="2"),
        attempts=[Attempt(kind=AttemptKind.IMPORTED, text="draft a"), Attempt(kind=AttemptKind.IMPORTED, text="draft b")],
        critiques=[Critique(verdict=Verdict.CORRECT, source=CritiqueSource.IMPORTED)],
    )
    bare = ImportRecord(problem=Problem(text="q2"))
    first = store.import_records([record, bare])
    assert (first.problems_added, first.attempts_added) == (2, 2)
    again = store.import_records([record, bare])
    assert (again.problems_added, again.problems_existing, again.attempts_added) == (0, 2, 0)
    history = store.history(1)
    assert history.problem.state == ProblemState.AWAITING_REVIEW
    assert store.get_problem(2).state == ProblemState.PENDING
    assert len(history.critiques) == 1
    # An imported verdict is not verification.
    assert verified(history.critiques) is None


def test_llm_calls_and_spend(store):
    pid = add(store, "p")
    store.log_call(LLMCall(problem_id=pid, provider="openai", model="m", purpose="generate", request="{}", cost_usd=0.25))
    store.log_call(LLMCall(provider="openai", model="m", purpose="critic", request="{}", error="timeout"))
    assert store.total_cost() == 0.25


def test_verified_needs_the_deciding_judges_to_agree():
    check = Critique(verdict=Verdict.INCORRECT, source=CritiqueSource.CHECK)
    llm = Critique(verdict=Verdict.CORRECT, source=CritiqueSource.LLM)
    unknown = Critique(verdict=Verdict.UNKNOWN, source=CritiqueSource.LLM)
    assert verified([check, llm, unknown]) is False  # the critic's latest word is unknown
    assert verified([llm, check]) is None  # disputed
    assert verified([]) is None


def test_interrupted_migration_leaves_the_previous_version(tmp_path, monkeypatch):
    path = tmp_path / "rel.db"
    Store(path).close()

    def m999_half_done(db):
        db["new_table"].create({"id": int}, pk="id")
        db["problems"].add_column("extra", str)
        raise KeyboardInterrupt  # killed between two statements

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, m999_half_done])
    with pytest.raises(KeyboardInterrupt):
        Store(path)
    db = sqlite_utils.Database(path)
    assert "new_table" not in db.table_names()
    assert "extra" not in db["problems"].columns_dict
    assert "m999_half_done" not in {r["name"] for r in db["_migrations"].rows}
    db.close()

    def m999_half_done(db):  # the fixed migration, same name, applies cleanly on the next open
        db["new_table"].create({"id": int}, pk="id")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS[:-1], m999_half_done])
    with Store(path) as store:
        assert "new_table" in store.db.table_names()


def test_undo_keeps_a_later_decision_by_someone_else(store):
    pid = add(store, "p", ProblemState.AWAITING_REVIEW)
    store.record_review(Review(problem_id=pid, decision=Decision.REJECTED, annotator="alice"))
    store.record_review(Review(problem_id=pid, decision=Decision.ACCEPTED, annotator="bob"))
    assert store.undo_last_review("alice").decision == Decision.REJECTED
    assert store.get_problem(pid).state == ProblemState.ACCEPTED


def test_database_in_a_missing_or_unwritable_place_is_one_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot create the database"):
        Store(blocker / "rel.db")
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        Store(tmp_path)  # a directory
