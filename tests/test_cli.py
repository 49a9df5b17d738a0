"""The `rel-tui` entry point, run as a real process."""

from __future__ import annotations

import subprocess
import sys

from rel_core.models import Problem, ProblemState
from rel_core.store import Store


def rel_tui(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rel_tui", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_help_on_every_command():
    top = rel_tui("--help")
    assert top.returncode == 0
    for command in ("status", "import", "export", "config"):
        assert command in top.stdout
        result = rel_tui(command, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage:" in result.stdout


def test_status_counts_per_state(tmp_path):
    db = tmp_path / "rel.db"
    with Store(db) as store:
        store.add_problem(Problem(text="one"))
        store.add_problem(Problem(text="two", state=ProblemState.AWAITING_REVIEW))
        store.add_problem(Problem(text="three", state=ProblemState.AWAITING_REVIEW))
    result = rel_tui("--db", str(db), "status")
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in result.stdout.splitlines() if line.count("│") == 3}
    assert rows["awaiting_review"] == "2"
    assert rows["pending"] == "1"
    assert rows["total"] == "3"


def test_db_from_environment(tmp_path):
    db = tmp_path / "env.db"
    with Store(db) as store:
        store.add_problem(Problem(text="only"))
    env = {"REL_DB": str(db), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = rel_tui("status", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "total" in result.stdout and "│        1 │" in result.stdout


def test_unusable_database_is_one_line_error(tmp_path):
    db = tmp_path / "broken.db"
    db.write_text("not a database")
    result = rel_tui("--db", str(db), "status")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"Error: {db}: not a usable SQLite database (file is not a database)"]
    assert "Traceback" not in result.stderr
    assert db.read_text() == "not a database"


def test_export_never_overwrites_a_database(tmp_path):
    db = tmp_path / "rel.db"
    other = tmp_path / "other.db"
    for path in (db, other):
        with Store(path) as store:
            store.add_problem(Problem(text="keep me", state=ProblemState.AWAITING_REVIEW))
    for target in (db, other, tmp_path / "rel.db-wal"):
        result = rel_tui("--db", str(db), "export", str(target), "--status", "all")
        assert result.returncode == 1
        assert len(result.stderr.strip().splitlines()) == 1
    for path in (db, other):
        with Store(path) as store:
            assert store.get_problem(1).text == "keep me"


def test_database_locked_past_the_timeout_is_one_line(tmp_path):
    db = tmp_path / "rel.db"
    Store(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('begin exclusive'); print('locked', flush=True); time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        source = tmp_path / "p.jsonl"
        source.write_text('{"problem": "What is 2+2?", "answer": "4"}\n')
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REL_BUSY_TIMEOUT": "0.3"}
        result = rel_tui("--db", str(db), "import", str(source), env=env)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"Error: {db}: database is locked")
