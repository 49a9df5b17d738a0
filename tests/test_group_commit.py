"""`Store.group_commits` (used by `--auto`): the writes that arrive in one turn of the event loop share
one COMMIT, each is still all there or not at all, and each caller resumes only once it is committed.
Real SQLite files; a second connection looks at what is on disk."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from db_lock import database_held

from rel_core.models import Problem
from rel_core.store import Store


def problem(n: int) -> Problem:
    return Problem(text=f"Problem {n}", reference_answer=str(n))


def on_disk(db) -> set[str]:
    """The problems another process would see now."""
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("select text from problems")}
    finally:
        conn.close()


def traced_commits(store: Store) -> list[str]:
    statements: list[str] = []
    store.conn.set_trace_callback(lambda sql: statements.append(sql.strip().lower()))
    return statements


def test_writes_of_one_turn_share_one_commit_and_each_caller_resumes_after_it(tmp_path):
    db = tmp_path / "rel.db"

    async def main():
        with Store(db) as store:
            statements = traced_commits(store)
            seen_after_write: list[bool] = []

            async def add(n: int) -> None:
                await store.write(lambda: store.add_problem(problem(n)))
                seen_after_write.append(f"Problem {n}" in on_disk(db))

            with store.group_commits():
                await asyncio.gather(*(add(n) for n in range(5)))
            assert statements.count("commit") == 1 and statements.count("begin immediate") == 1
            assert statements.count("savepoint step") == 5
            assert seen_after_write == [True] * 5

    asyncio.run(main())
    assert on_disk(db) == {f"Problem {n}" for n in range(5)}


def test_a_failing_write_takes_back_only_its_own_rows(tmp_path):
    db = tmp_path / "rel.db"

    def half_then_fail(store: Store) -> None:
        store.add_problem(problem(100))  # written, then taken back with the rest of this write
        raise ValueError("the step went wrong")

    async def main():
        with Store(db) as store, store.group_commits():
            results = await asyncio.gather(
                store.write(lambda: store.add_problem(problem(1))),
                store.write(lambda: half_then_fail(store)),
                store.write(lambda: store.add_problem(problem(2))),
                return_exceptions=True,
            )
        assert isinstance(results[1], ValueError) and results[0][1] and results[2][1]

    asyncio.run(main())
    assert on_disk(db) == {"Problem 1", "Problem 2"}


def test_a_caller_cancelled_before_the_commit_writes_nothing(tmp_path):
    db = tmp_path / "rel.db"

    async def main():
        with Store(db) as store, store.group_commits():
            doomed = asyncio.ensure_future(store.write(lambda: store.add_problem(problem(1))))
            kept = asyncio.ensure_future(store.write(lambda: store.add_problem(problem(2))))
            doomed.cancel()
            await asyncio.gather(doomed, kept, return_exceptions=True)
            assert doomed.cancelled() and kept.result()[1]

    asyncio.run(main())
    assert on_disk(db) == {"Problem 2"}


def test_when_the_transaction_cannot_start_every_caller_gets_the_error_and_nothing_is_written(tmp_path):
    db = tmp_path / "rel.db"
    Store(db).close()

    async def main():
        with Store(db, busy_timeout=0.05) as store, store.group_commits(), database_held(db):
            results = await asyncio.gather(
                *(store.write(lambda n=n: store.add_problem(problem(n))) for n in range(3)), return_exceptions=True
            )
        assert all(isinstance(r, sqlite3.OperationalError) and "locked" in str(r) for r in results), results

    asyncio.run(main())
    assert on_disk(db) == set()


def test_outside_a_group_a_write_commits_at_once(tmp_path):
    db = tmp_path / "rel.db"

    async def main():
        with Store(db) as store:
            statements = traced_commits(store)
            for n in range(3):
                await store.write(lambda n=n: store.add_problem(problem(n)))
            assert statements.count("commit") == 3 and "savepoint step" not in statements

    asyncio.run(main())
    assert len(on_disk(db)) == 3


def test_what_was_submitted_in_the_last_turn_is_committed_when_the_group_ends(tmp_path):
    db = tmp_path / "rel.db"

    async def main():
        with Store(db) as store:
            with store.group_commits():
                pending = asyncio.ensure_future(store.write(lambda: store.add_problem(problem(7))))
                await asyncio.sleep(0)  # it submits; the flush would come in the next turn
                assert on_disk(db) == set()
            assert on_disk(db) == {"Problem 7"}  # flushed by the group's end
            assert (await pending)[1]

    asyncio.run(main())
    assert on_disk(db) == {"Problem 7"}


def test_a_write_that_fails_the_whole_transaction_fails_every_caller_of_its_turn(tmp_path):
    """SQLite can roll the whole transaction back itself (a full disk does); then no step's rows are
    there, so no caller may be told its write was committed."""
    db = tmp_path / "rel.db"

    def ends_the_transaction(store: Store) -> None:
        store.conn.execute("rollback")  # what SQLite does on SQLITE_FULL
        raise sqlite3.OperationalError("database or disk is full")

    async def main():
        with Store(db) as store, store.group_commits():
            results = await asyncio.gather(
                store.write(lambda: store.add_problem(problem(1))),
                store.write(lambda: ends_the_transaction(store)),
                store.write(lambda: store.add_problem(problem(3))),
                return_exceptions=True,
            )
        assert all(isinstance(r, sqlite3.OperationalError) for r in results), results

    asyncio.run(main())
    assert on_disk(db) == set()


@pytest.mark.parametrize("steps", [1, 40])
def test_the_loop_ends_problems_in_the_same_states_with_group_commits(tmp_path, steps):
    """Many writes per turn or one: the rows are the same."""
    db = tmp_path / "rel.db"

    async def main():
        with Store(db) as store, store.group_commits():
            for start in range(0, 40, steps):
                await asyncio.gather(
                    *(store.write(lambda n=n: store.add_problem(problem(n))) for n in range(start, start + steps))
                )

    asyncio.run(main())
    assert on_disk(db) == {f"Problem {n}" for n in range(40)}
