"""`Store.checkpoints_in_background`: during `--auto`, WAL checkpoints (and their fsync) run on a
thread of their own instead of inside the commit that crosses SQLite's page mark. Real files, a
real second process killed with SIGKILL."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from rel_core.models import Problem
from rel_core.store import WAL_AUTOCHECKPOINT_PAGES, Store

ROOT = Path(__file__).resolve().parent.parent


def rows_in_main_file(db: Path, scratch: Path) -> int:
    """How many problems the database file holds on its own, without its WAL: what checkpoints copied.
    A copy taken while a checkpoint writes pages can be torn: then it counts as nothing copied yet."""
    shutil.copyfile(db, scratch)
    conn = sqlite3.connect(scratch)
    try:
        return conn.execute("select count(*) from problems").fetchone()[0]
    except sqlite3.DatabaseError:
        return -1
    finally:
        conn.close()


def add_problems(store: Store, start: int, count: int) -> None:
    for n in range(start, start + count):
        store.add_problem(Problem(text=f"Problem {n}: " + "words " * 200, reference_answer=str(n)))


def test_commits_leave_checkpoints_to_the_background_thread(tmp_path):
    db = tmp_path / "rel.db"
    with Store(db) as store:
        store.conn.execute("pragma wal_checkpoint(truncate)")  # the schema, into the main file
        base = rows_in_main_file(db, tmp_path / "copy.db")
        with store.checkpoints_in_background(interval=0.05):
            assert store.conn.execute("pragma wal_autocheckpoint").fetchone()[0] == 0
            add_problems(store, 0, 300)  # about 150 pages: far below the commit's own 1,000-page mark
            deadline = time.monotonic() + 30
            while rows_in_main_file(db, tmp_path / "copy.db") < base + 300 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert rows_in_main_file(db, tmp_path / "copy.db") == base + 300  # while the block still runs
        assert store.conn.execute("pragma wal_autocheckpoint").fetchone()[0] == WAL_AUTOCHECKPOINT_PAGES
        assert rows_in_main_file(db, tmp_path / "copy.db") == base + 300  # the thread has stopped: no torn copy


def test_without_the_thread_the_same_commits_stay_in_the_wal(tmp_path):
    """The check above can fail: with checkpoints off and no thread, the main file does not change."""
    db = tmp_path / "rel.db"
    with Store(db) as store:
        store.conn.execute("pragma wal_checkpoint(truncate)")  # the schema, into the main file
        base = rows_in_main_file(db, tmp_path / "copy.db")
        store.conn.execute("pragma wal_autocheckpoint = 0")
        add_problems(store, 0, 300)
        time.sleep(0.3)
        assert rows_in_main_file(db, tmp_path / "copy.db") == base


def test_a_read_only_store_starts_no_checkpointer(tmp_path):
    db = tmp_path / "rel.db"
    Store(db).close()
    with Store(db, read_only=True) as store, store.checkpoints_in_background():
        assert store.count_problems() >= 0


WRITER = """
import sys
from rel_core.models import Problem
from rel_core.store import Store
with Store(sys.argv[1]) as store, store.checkpoints_in_background(interval=0.01):
    n = 0
    while True:
        store.add_problem(Problem(text=f"Problem {n}: " + "words " * 300, reference_answer=str(n)))
        n += 1
        print(n, flush=True)
"""


def test_kill_9_while_the_thread_checkpoints_loses_no_committed_row(tmp_path):
    db = tmp_path / "rel.db"
    Store(db).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True, env=env)
    committed = 0
    assert writer.stdout is not None
    for line in writer.stdout:
        committed = int(line)
        if committed >= 400:  # a few checkpoints in, one perhaps under way
            break
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(30)
    with Store(db) as store:
        assert store.damage() is None
        assert store.count_problems() >= committed
        numbers = {int(r[0]) for r in store.conn.execute("select reference_answer from problems")}
        assert set(range(committed)) <= numbers
