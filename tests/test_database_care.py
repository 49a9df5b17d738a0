"""The database file treated with care, through the real CLI on real files: newer schemas, damaged
files and other programs' databases are one line each and left untouched; read-only commands work
on read-only files and directories and never create a database; exports keep the target's mode,
clean up after themselves when interrupted or killed, and refuse FIFOs and devices."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import pytest

from rel_core import migrations
from rel_core.exporters import TEMP_MARK, remove_stale_temporaries
from rel_core.models import Problem, ProblemState
from rel_core.store import Store, StoreError

running_as_root = os.geteuid() == 0


def rel_tui(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir()}
    return subprocess.run(
        [sys.executable, "-m", "rel_tui", *args], check=False, capture_output=True, text=True, env=env, timeout=timeout
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_db(path: Path, count: int = 3) -> Path:
    with Store(path) as store, store.transaction():
        for i in range(count):
            store.add_problem(Problem(text=f"Problem {i}: what is {i} + 1?", reference_answer=str(i + 1)))
    return path


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name and p.name.startswith(path.name))


# -- schema versions and other programs' files --------------------------------------------------------


def test_a_database_from_a_newer_rel_tui_is_refused_naming_both_versions(tmp_path):
    db = make_db(tmp_path / "rel.db")
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("insert into _migrations (name, applied_at) values ('m999_from_the_future', 'x')")
    conn.close()  # the last connection to close folds the WAL into the file
    before = digest(db)
    known = len(migrations.MIGRATIONS)
    for command in (["status"], ["import", str(tmp_path / "nothing.jsonl")], ["export", str(tmp_path / "out.jsonl")]):
        line = one_error_line(rel_tui("--db", str(db), *command))
        assert f"{db}: made by a newer rel-tui: schema version {known + 1}, this rel-tui knows up to version {known}" in line, (
            line
        )
    assert digest(db) == before and not (tmp_path / "out.jsonl").exists()


def test_a_sqlite_file_that_is_not_rel_tuis_gets_no_tables_and_no_wal(tmp_path):
    db = tmp_path / "customers.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table customers (id integer primary key, name text)")
        conn.execute("insert into customers (name) values ('Ada')")
    conn.close()
    before = digest(db)
    (tmp_path / "p.jsonl").write_text('{"problem": "1+1?", "answer": "2"}\n')
    for command in (["import", str(tmp_path / "p.jsonl")], ["status"], ["export", "-"]):
        line = one_error_line(rel_tui("--db", str(db), *command))
        assert f"{db}: not a rel-tui database (it has tables customers and no rel-tui migrations)" in line, line
    assert digest(db) == before and siblings(db) == []
    with pytest.raises(StoreError, match="not a rel-tui database"):
        Store(db)


def test_another_programs_migrations_table_is_not_mistaken_for_ours(tmp_path):
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table _migrations (name text, applied_at text)")
        conn.execute("insert into _migrations values ('0001_users', 'x')")
        conn.execute("create table users (id integer)")
    conn.close()
    assert "its _migrations table is another program's" in one_error_line(rel_tui("--db", str(db), "status"))


def test_an_empty_file_becomes_a_database(tmp_path):
    db = tmp_path / "new.db"
    db.touch()
    with Store(db) as store:
        assert store.count_problems() == 0 and not migrations.pending(store.db)


# -- damaged files --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def healthy_db(tmp_path_factory) -> Path:
    db = make_db(tmp_path_factory.mktemp("healthy") / "rel.db", count=3000)
    assert siblings(db) == []  # closed cleanly: everything is in the main file
    return db


def test_a_truncated_database_is_one_line_with_the_integrity_check_verdict(tmp_path, healthy_db):
    db = tmp_path / "truncated.db"
    db.write_bytes(healthy_db.read_bytes()[: healthy_db.stat().st_size // 2])
    before = digest(db)
    for command in (["status"], ["export", str(tmp_path / "out.jsonl")], ["import", str(tmp_path)]):
        line = one_error_line(rel_tui("--db", str(db), *command))
        assert f"{db}: the database is damaged (database disk image is malformed); integrity_check: " in line, line
        assert ".recover" in line
    assert digest(db) == before


def test_export_checks_first_so_a_damaged_page_is_not_silently_skipped(tmp_path, healthy_db):
    with closing(sqlite3.connect(healthy_db)) as conn:
        leaves = [row[0] for row in conn.execute("select pageno from dbstat where name = 'problems' and pagetype = 'leaf'")]
    data = bytearray(healthy_db.read_bytes())
    for page in leaves:  # the first cell pointer of every page of the problems table points off the page
        data[(page - 1) * 4096 + 8] ^= 0xFF
        data[(page - 1) * 4096 + 9] ^= 0x55
    db = tmp_path / "damaged.db"
    db.write_bytes(bytes(data))
    line = one_error_line(rel_tui("--db", str(db), "export", str(tmp_path / "out.jsonl"), "--status", "all"))
    assert f"{db}: the database is damaged (quick_check: *** in database main *** On tree page " in line, line
    assert any(f"On tree page {page} cell 0: Offset" in line for page in leaves), line
    assert "nothing was exported" in line
    assert not (tmp_path / "out.jsonl").exists() and not [p for p in tmp_path.iterdir() if TEMP_MARK in p.name]


@pytest.mark.parametrize(
    "content", [os.urandom(8192), b"SQLite format 3\x00" + os.urandom(4000)], ids=["random", "header-then-noise"]
)
def test_random_bytes_are_one_line_and_left_alone(tmp_path, content):
    db = tmp_path / "noise.db"
    db.write_bytes(content)
    for command in (["status"], ["import", str(tmp_path)]):
        line = one_error_line(rel_tui("--db", str(db), *command))
        assert line.startswith(f"Error: {db}: ") and ("not a usable SQLite database" in line or "damaged" in line), line
    assert db.read_bytes() == content


# -- read-only files and directories -------------------------------------------------------------------


@pytest.fixture
def shared_dir(tmp_path):
    yield tmp_path
    for path in (tmp_path, *tmp_path.rglob("*")):  # let pytest clean up
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


# Root ignores file modes; without these capabilities it is held to them, like any other user.
DROP_ROOTS_OVERRIDES = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def as_reader(*args: str) -> subprocess.CompletedProcess:
    """Run as a user who may read but not write the read-only files."""
    prefix = DROP_ROOTS_OVERRIDES if running_as_root else []
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir()}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "rel_tui", *args], check=False, capture_output=True, text=True, env=env, timeout=120
    )


def read_only(path: Path) -> None:
    path.chmod(0o555 if path.is_dir() else 0o444)


def writable_out_dir(shared_dir: Path) -> Path:
    out = shared_dir / "out"
    out.mkdir()
    return out


def test_status_and_export_work_in_a_read_only_directory(shared_dir):
    data = shared_dir / "data"
    data.mkdir()
    db = make_db(data / "rel.db")
    db.chmod(0o644)
    out = writable_out_dir(shared_dir)
    read_only(data)
    status = as_reader("--db", str(db), "status")
    assert status.returncode == 0, status.stderr
    assert "│     3 │" in status.stdout or " 3 " in status.stdout.split("total")[1].splitlines()[0]
    export = as_reader("--db", str(db), "export", str(out / "all.jsonl"), "--status", "all")
    assert export.returncode == 0, export.stderr
    assert len((out / "all.jsonl").read_text().splitlines()) == 3
    assert sorted(p.name for p in data.iterdir()) == ["rel.db"]  # no -wal, no -shm, nothing created


def test_status_works_on_a_read_only_file_in_a_writable_directory(shared_dir):
    db = make_db(shared_dir / "rel.db")
    read_only(db)
    result = as_reader("--db", str(db), "status")
    assert result.returncode == 0, result.stderr
    assert "total" in result.stdout


def test_a_read_only_database_still_being_written_is_read_with_what_its_writer_committed(shared_dir):
    """A writer has the file open (its -wal and -shm exist): a reader without write access uses them."""
    db = make_db(shared_dir / "rel.db")
    with Store(db) as writer:
        writer.add_problem(Problem(text="only in the WAL so far"))
        for path in shared_dir.iterdir():
            path.chmod(0o644)
        read_only(shared_dir)
        result = as_reader("--db", str(db), "export", "-", "--status", "all")
    assert result.returncode == 0, result.stderr
    assert "only in the WAL so far" in result.stdout


def test_a_wal_without_its_shm_in_a_read_only_directory_is_one_line_saying_what_to_do(shared_dir):
    db = make_db(shared_dir / "rel.db")
    crash = (
        "import os, sys; from rel_core.store import Store; from rel_core.models import Problem; "
        "s = Store(sys.argv[1]); s.add_problem(Problem(text='committed, then the writer died')); os._exit(9)"
    )
    subprocess.run([sys.executable, "-c", crash, str(db)], check=False)
    Path(f"{db}-shm").unlink()
    assert Path(f"{db}-wal").stat().st_size > 0
    read_only(shared_dir)
    line = one_error_line(as_reader("--db", str(db), "status"))
    assert f"{db}: in WAL mode with a rel.db-wal file, and its -shm file cannot be created" in line, line


def test_a_mistyped_path_is_no_database_and_nothing_is_created(tmp_path):
    missing = tmp_path / "no such dir" / "rel.db"
    for command in (["status"], ["export", str(tmp_path / "out.jsonl")]):
        assert one_error_line(rel_tui("--db", str(missing), *command)) == f"Error: no database at {missing}"
    assert rel_tui("--db", str(missing), "config").returncode == 0  # needs no database at all
    assert not missing.parent.exists() and not (tmp_path / "out.jsonl").exists()


def test_writing_commands_on_a_read_only_database_say_so_in_one_line(shared_dir):
    db = make_db(shared_dir / "rel.db")
    read_only(db)
    (shared_dir / "p.jsonl").write_text('{"problem": "2+2?", "answer": "4"}\n')
    (shared_dir / "p.jsonl").chmod(0o644)
    line = one_error_line(as_reader("--db", str(db), "import", str(shared_dir / "p.jsonl")))
    assert str(db) in line and "readonly" in line


# -- export: the target's mode, interruptions, leftovers, FIFOs --------------------------------------


def test_export_keeps_an_existing_targets_mode_and_a_new_one_gets_the_usual(tmp_path, healthy_db):
    target = tmp_path / "dataset.jsonl"
    target.write_text("old\n")
    target.chmod(0o640)
    assert rel_tui("--db", str(healthy_db), "export", str(target), "--status", "all").returncode == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_text() != "old\n"
    fresh = tmp_path / "fresh.jsonl"
    assert rel_tui("--db", str(healthy_db), "export", str(fresh)).returncode == 0
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~current_umask()


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_export_through_a_symlink_writes_the_file_and_keeps_the_link(tmp_path, healthy_db):
    real = tmp_path / "real.jsonl"
    real.write_text("")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    assert rel_tui("--db", str(healthy_db), "export", str(link), "--status", "all").returncode == 0
    assert link.is_symlink() and len(real.read_text().splitlines()) == 3000


@pytest.fixture(scope="module")
def big_db(tmp_path_factory) -> Path:
    return make_db(tmp_path_factory.mktemp("big") / "rel.db", count=20000)


def start_export(db: Path, target: Path) -> tuple[subprocess.Popen, Path]:
    """An export under way: returns once its temporary file exists."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rel_tui", "--db", str(db), "export", str(target), "--status", "all"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        temps = [p for p in target.parent.iterdir() if TEMP_MARK in p.name]
        if temps and temps[0].stat().st_size:
            return process, temps[0]
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    process.kill()
    raise AssertionError("the export never started writing")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_an_interrupted_export_removes_its_temporary_file_and_leaves_the_target(tmp_path, big_db, signum):
    target = tmp_path / "dataset.jsonl"
    target.write_text("the previous export\n")
    process, temp = start_export(big_db, target)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, err
    lines = err.strip().splitlines()
    assert lines == [f"Error: export interrupted by {signal.Signals(signum).name}; {target} was left as it was"], err
    assert not temp.exists() and target.read_text() == "the previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset.jsonl"]


def test_a_killed_exports_leftover_is_removed_by_the_next_export(tmp_path, big_db):
    target = tmp_path / "dataset.jsonl"
    process, temp = start_export(big_db, target)
    process.kill()
    process.communicate(timeout=60)
    assert temp.exists()  # kill -9 runs no cleanup
    result = rel_tui("--db", str(big_db), "export", str(target), "--status", "all")
    assert result.returncode == 0, result.stderr
    assert not temp.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["dataset.jsonl"]
    assert len(target.read_text().splitlines()) == 20000


def test_only_leftovers_of_dead_unlocked_exports_are_removed(tmp_path):
    target = tmp_path / "out.jsonl"
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    dead = tmp_path / f".out.jsonl{TEMP_MARK}{dead_pid}-abc.tmp"
    alive = tmp_path / f".out.jsonl{TEMP_MARK}{os.getpid()}-def.tmp"
    other_target = tmp_path / f".other.jsonl{TEMP_MARK}{dead_pid}-ghi.tmp"
    unrelated = tmp_path / ".out.jsonl.backup"
    for path in (dead, alive, other_target, unrelated):
        path.write_text("partial")
    planted_fifo = tmp_path / f".out.jsonl{TEMP_MARK}{dead_pid}-fifo.tmp"
    os.mkfifo(planted_fifo)
    assert remove_stale_temporaries(target) == [dead]
    assert not dead.exists() and alive.exists() and other_target.exists() and unrelated.exists() and planted_fifo.exists()


def test_a_locked_leftover_is_kept_even_if_its_pid_looks_dead(tmp_path):
    """An export from another host on a shared filesystem: its pid means nothing here, its lock does."""
    import fcntl

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True, text=True)
    remote = tmp_path / f".out.jsonl{TEMP_MARK}{int(finished.stdout)}-xyz.tmp"
    remote.write_text("partial")
    with open(remote, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert remove_stale_temporaries(tmp_path / "out.jsonl") == []
    assert remote.exists()


def test_export_refuses_a_fifo_instead_of_waiting_on_it(tmp_path, healthy_db):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    line = one_error_line(rel_tui("--db", str(healthy_db), "export", str(fifo), timeout=30))
    assert line == f"Error: {fifo}: is a FIFO, not a regular file; export writes files (use - for standard output)"
    assert stat.S_ISFIFO(fifo.stat().st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_export_refuses_a_device(healthy_db):
    line = one_error_line(rel_tui("--db", str(healthy_db), "export", "/dev/null", timeout=30))
    assert "is a device or socket, not a regular file" in line


def test_export_to_standard_output_is_still_fine(healthy_db):
    result = rel_tui("--db", str(healthy_db), "export", "-", "--status", "all")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 3000


def test_counts_survive_a_read_only_open(tmp_path):
    db = make_db(tmp_path / "rel.db")
    with Store(db, read_only=True) as store:
        assert store.counts()[ProblemState.PENDING] == 3
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.add_problem(Problem(text="new"))
