"""The search index over drafts and critiques catches up in bulk (migration m013): rows at or below
`search_marks` are kept in sync by the triggers, rows above it are indexed by `catch_up_search`,
which every search runs first and `--auto` runs at its end. Real SQLite files throughout."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from click.testing import CliRunner
from db_lock import database_held
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loop_helpers import solution

from rel_core import migrations
from rel_core.models import Attempt, AttemptKind, Critique, CritiqueSource, Problem
from rel_core.store import Store
from rel_tui.cli import main

WORDS = ["alpha", "beta", "gamma", "delta"]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), texts),
        st.tuples(st.just("critique"), st.integers(0, 20), texts),
        st.tuples(st.just("edit"), st.integers(0, 20), texts),
        st.tuples(st.just("edit_critique"), st.integers(0, 20), texts),
        st.tuples(st.just("delete"), st.integers(0, 20)),
        st.tuples(st.just("catch_up"), st.integers(1, 3)),
    ),
    max_size=25,
)


def fts_rows(store: Store, table: str, word: str) -> set[int]:
    return {r[0] for r in store.conn.execute(f"select rowid from {table}_fts where {table}_fts match ?", [word])}


def mark(store: Store, table: str) -> int:
    return store.conn.execute("select indexed_upto from search_marks where name = ?", [table]).fetchone()[0]


class Model:
    """What the index must say: each row's current words, by table and rowid."""

    def __init__(self, store: Store):
        self.store = store
        self.problem_id, _ = store.add_problem(Problem(text="a problem in other words", reference_answer="1"))
        self.attempts: dict[int, str] = {}
        self.critiques: dict[int, tuple[int, str]] = {}

    def apply(self, op: tuple) -> None:
        store, name = self.store, op[0]
        attempt_ids, critique_ids = sorted(self.attempts), sorted(self.critiques)
        if name == "add":
            attempt_id = store.add_attempt(Attempt(problem_id=self.problem_id, kind=AttemptKind.GENERATED, text=op[1]))
            self.attempts[attempt_id] = op[1]
        elif name == "critique" and attempt_ids:
            attempt_id = attempt_ids[op[1] % len(attempt_ids)]
            critique_id = store.add_critique(
                Critique(attempt_id=attempt_id, source=CritiqueSource.LLM, error_description=op[2], raw="{}")
            )
            self.critiques[critique_id] = (attempt_id, op[2])
        elif name == "edit" and attempt_ids:
            attempt_id = attempt_ids[op[1] % len(attempt_ids)]
            store.conn.execute("update attempts set text = ? where id = ?", [op[2], attempt_id])
            self.attempts[attempt_id] = op[2]
        elif name == "edit_critique" and critique_ids:
            critique_id = critique_ids[op[1] % len(critique_ids)]
            store.conn.execute("update critiques set error_description = ? where id = ?", [op[2], critique_id])
            self.critiques[critique_id] = (self.critiques[critique_id][0], op[2])
        elif name == "delete" and attempt_ids:  # the newest rowid goes too sometimes: SQLite may reuse it
            attempt_id = attempt_ids[op[1] % len(attempt_ids)]
            store.conn.execute("delete from critiques where attempt_id = ?", [attempt_id])
            store.conn.execute("delete from attempts where id = ?", [attempt_id])
            del self.attempts[attempt_id]
            self.critiques = {c: v for c, v in self.critiques.items() if v[0] != attempt_id}
        elif name == "catch_up":
            store.catch_up_search(chunk=op[1])

    def check_index(self) -> None:
        """Every row at or below the mark is indexed with its current text; nothing else is."""
        attempts_mark, critiques_mark = mark(self.store, "attempts"), mark(self.store, "critiques")
        for word in WORDS:
            expected = {i for i, text in self.attempts.items() if word in text.split() and i <= attempts_mark}
            assert fts_rows(self.store, "attempts", word) == expected, word
            expected = {i for i, (_, t) in self.critiques.items() if word in t.split() and i <= critiques_mark}
            assert fts_rows(self.store, "critiques", word) == expected, word

    def check_search(self) -> None:
        for word in WORDS:
            found = any(word in t.split() for t in self.attempts.values()) or any(
                word in t.split() for _, t in self.critiques.values()
            )
            assert self.store.search(word) == ([self.problem_id] if found else []), word
        assert mark(self.store, "attempts") >= max(self.attempts, default=0)


@settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_the_index_holds_exactly_the_rows_up_to_its_mark_through_adds_edits_deletes_and_catch_ups(ops):
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "rel.db") as store:
        model = Model(store)
        for op in ops:
            model.apply(op)
            model.check_index()
        model.check_search()  # a search catches up first: then it finds every row
        model.check_index()


def test_a_step_commit_leaves_the_index_alone_and_the_first_search_catches_up(tmp_path):
    with Store(tmp_path / "rel.db") as store:
        problem_id, _ = store.add_problem(Problem(text="Add two numbers", reference_answer="3"))
        attempt_id = store.add_attempt(Attempt(problem_id=problem_id, kind=AttemptKind.GENERATED, text="zebra crossing"))
        store.add_critique(Critique(attempt_id=attempt_id, source=CritiqueSource.LLM, error_description="quagga"))
        assert fts_rows(store, "attempts", "zebra") == set() and fts_rows(store, "critiques", "quagga") == set()
        assert [item.id for item in store.queue(states=(), search="zebra")] == [problem_id]
        assert store.search("quagga") == [problem_id]
        assert store.catch_up_search() == 0  # nothing left


def test_a_search_while_another_process_writes_runs_on_the_index_as_it_is(tmp_path):
    db = tmp_path / "rel.db"
    with Store(db) as store:
        problem_id, _ = store.add_problem(Problem(text="Add two numbers", reference_answer="3"))
        store.add_attempt(Attempt(problem_id=problem_id, kind=AttemptKind.GENERATED, text="old words"))
        store.catch_up_search()
        store.add_attempt(Attempt(problem_id=problem_id, kind=AttemptKind.GENERATED, text="new words"))
        with database_held(db):  # e.g. an import in another process: the search does not wait 30 s for it
            assert store.search("old") == [problem_id]
            assert store.search("new") == []
        assert store.conn.execute("pragma busy_timeout").fetchone()[0] == 30_000  # restored
        assert store.search("new") == [problem_id]


def test_a_read_only_store_searches_without_writing(tmp_path):
    db = tmp_path / "rel.db"
    with Store(db) as store:
        problem_id, _ = store.add_problem(Problem(text="Add two numbers", reference_answer="3"))
        store.add_attempt(Attempt(problem_id=problem_id, kind=AttemptKind.GENERATED, text="unindexed words"))
    with Store(db, read_only=True) as store:
        assert store.catch_up_search() == 0 and store.search("unindexed") == []


def test_m013_keeps_the_index_a_database_already_had(tmp_path):
    db = tmp_path / "old.db"
    with Store(db) as store:
        problem_id, _ = store.add_problem(Problem(text="Add two numbers", reference_answer="3"))
        for text in ("first draft", "second draft"):
            store.add_attempt(Attempt(problem_id=problem_id, kind=AttemptKind.GENERATED, text=text))
        store.catch_up_search()
    undo_m013(db)
    with Store(db) as store:
        assert "m013_search_index_catches_up" in migrations.applied(store.db)
        assert mark(store, "attempts") == 2 and mark(store, "critiques") == 0
        assert fts_rows(store, "attempts", "second") == {2}
        store.conn.execute("update attempts set text = 'third draft' where id = 2")  # an indexed row: the trigger
        assert fts_rows(store, "attempts", "second") == set() and fts_rows(store, "attempts", "third") == {2}


def undo_m013(db: Path) -> None:
    """The file as m012 left it: an index kept by plain triggers, each row indexed as it is written."""
    conn = sqlite3.connect(db)
    conn.execute("drop table search_marks")
    for table, columns in migrations.SEARCHED_TABLES.items():
        names = ", ".join(columns)
        new, old = ", ".join(f"new.{c}" for c in columns), ", ".join(f"old.{c}" for c in columns)
        for trigger in ("ai", "ad", "au"):
            conn.execute(f"drop trigger {table}_{trigger}")
        conn.execute(
            f"create trigger {table}_ai after insert on {table} begin insert into {table}_fts (rowid, {names}) values (new.rowid, {new}); end"
        )
        conn.execute(
            f"create trigger {table}_ad after delete on {table} begin insert into {table}_fts ({table}_fts, rowid, {names}) values ('delete', old.rowid, {old}); end"
        )
        conn.execute(
            f"create trigger {table}_au after update of {names} on {table} begin insert into {table}_fts ({table}_fts, rowid, {names}) values ('delete', old.rowid, {old}); insert into {table}_fts (rowid, {names}) values (new.rowid, {new}); end"
        )
        conn.execute(f"insert into {table}_fts ({table}_fts) values ('rebuild')")
    conn.execute("delete from _migrations where name = 'm013_search_index_catches_up'")
    conn.commit()
    conn.close()


def test_auto_indexes_what_it_wrote_at_its_end(tmp_path, llm_env):
    db = tmp_path / "rel.db"
    with Store(db) as store:
        for n in range(3):
            store.add_problem(Problem(text=f"[{n}] What is 6 x 7?", reference_answer="42"))
    (tmp_path / "rel.toml").write_text(
        'generator = "openai:gen"\ncritic = "openai:critic"\n[openai]\nmax_retries = 0\n[loop]\nconcurrency = 2\n'
    )
    llm_env.default = solution("42", note="Multiply: six sevens make forty-two, pelican.")
    result = CliRunner().invoke(main, ["--db", str(db), "--auto"])
    assert result.exit_code == 0, result.output
    with Store(db) as store:
        written = store.conn.execute("select max(id) from attempts").fetchone()[0]
        assert written == 3 and mark(store, "attempts") == written
        assert len(fts_rows(store, "attempts", "pelican")) == 3
