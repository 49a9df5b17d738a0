"""SQLite store for everything rel-tui knows: problems, attempts, critiques, reviews, LLM calls.

One file shared by the TUI and headless runs: WAL, a busy timeout and short `BEGIN IMMEDIATE`
write transactions let several processes write without "database is locked".
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from . import migrations, problem_marks, verdicts
from .claims import ClaimHolder, HeldClaims, holder_is_dead, this_host
from .models import (
    Attempt,
    AttemptKind,
    Critique,
    Decision,
    ImportRecord,
    LLMCall,
    Problem,
    ProblemHistory,
    ProblemState,
    QueueItem,
    Review,
    content_hash,
    utcnow,
)
from .terminal_text import one_line

Owner = str | ClaimHolder  # who claims: a ClaimHolder (a process) or a bare owner id (lease only)

BUSY_TIMEOUT_SECONDS = 30.0  # how long a write waits for another process's lock
T = TypeVar("T")
CHECKPOINT_SECONDS = 0.5  # how often the background checkpointer copies the WAL into the database
WAL_AUTOCHECKPOINT_PAGES = 1000  # SQLite's default
SEARCH_WAIT_SECONDS = 0.2  # how long a search waits to index new rows while another process writes

# Which state a review decision moves a problem to.
DECISION_STATE = {
    Decision.ACCEPTED: ProblemState.ACCEPTED,
    Decision.REJECTED: ProblemState.REJECTED,
}


class StoreError(Exception):
    """A problem with the database file itself, said in one line."""


class ImportSummary:
    def __init__(self) -> None:
        self.problems_added = 0
        self.problems_existing = 0
        self.attempts_added = 0

    def __repr__(self) -> str:
        return (
            f"ImportSummary(problems_added={self.problems_added}, "
            f"problems_existing={self.problems_existing}, attempts_added={self.attempts_added})"
        )


def expires_in(seconds: float) -> str:
    """The ISO time `seconds` from now (a claim's or lease's expiry)."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only, before SQLite opens it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)


def _connect(uri: str, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
    conn.execute(f"pragma busy_timeout = {int(busy_timeout * 1000)}")
    return conn


class _CommitGroup:
    """The writes submitted during one turn of the event loop, flushed together at the start of the
    next (`loop.call_soon`): the lock is held only while they run, not while the turn goes on."""

    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop):
        self.store, self.loop = store, loop
        self.pending: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []

    def submit(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        future = self.loop.create_future()
        self.pending.append((fn, future))
        if len(self.pending) == 1:
            self.loop.call_soon(self.flush)
        return future

    def flush(self) -> None:
        batch = [(fn, future) for fn, future in self.pending if not future.cancelled()]  # a cancelled step never writes
        self.pending = []
        if not batch:
            return
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
        try:
            with self.store.transaction():
                for fn, future in batch:
                    outcomes.append((future, *self._run(fn)))
        except Exception as exc:  # BEGIN or COMMIT failed, or SQLite rolled it all back (a full disk): none is written
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, ok, value in outcomes:
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _run(self, fn: Callable[[], Any]) -> tuple[bool, Any]:
        conn = self.store.conn
        conn.execute("savepoint step")
        try:
            value = fn()
        except Exception as exc:
            if not conn.in_transaction:
                raise  # the whole transaction is gone, the other steps' rows with it
            conn.execute("rollback to step")
            conn.execute("release step")
            return False, exc
        conn.execute("release step")
        return True, value


class _Checkpointer(threading.Thread):
    """PASSIVE checkpoints on a connection of its own: they never wait for a reader or a writer, and
    SQLite releases the GIL while one runs, so the event loop goes on meanwhile."""

    def __init__(self, path: Path, interval: float):
        super().__init__(name="sqlite-checkpointer", daemon=True)
        self._path, self._interval = path, interval
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            conn = _connect(self._path.resolve().as_uri(), 0)
        except sqlite3.Error:
            return  # the writer's own commits still work; the WAL is checkpointed when the run ends
        try:
            while not self._stopped.wait(self._interval):
                self._checkpoint(conn)
            self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        with suppress(sqlite3.Error):  # e.g. a full disk: the data is in the WAL, and the next checkpoint tries again
            conn.execute("pragma wal_checkpoint(PASSIVE)").fetchone()

    def stop(self) -> None:
        self._stopped.set()
        self.join()


def database_error(path: Path, exc: sqlite3.DatabaseError) -> str:
    """One line for an error SQLite raised on the file: a damaged file gets integrity_check's verdict."""
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_NOTADB":
        return f"{path}: not a usable SQLite database ({exc})"
    if name.startswith("SQLITE_CORRUPT") or "malformed" in str(exc):
        return damage_report(path, exc)
    if name.startswith("SQLITE_READONLY"):
        return f"{path}: {exc}; it cannot be written here (`status` and `export` can still read it)"
    hint = "; another process held it too long, try again" if "locked" in str(exc) else ""
    return f"{path}: {one_line(str(exc)[:300])}{hint}"  # SQLite may quote the data it could not read


def damage_report(path: Path, exc: sqlite3.DatabaseError) -> str:
    """What SQLite said and, where it can run, integrity_check's verdict (its first five findings)."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            rows = conn.execute("pragma integrity_check(5)").fetchall()
        verdict = "; ".join(" ".join(str(row[0]).split()) for row in rows)
    except sqlite3.Error as check_exc:
        verdict = f"could not run ({check_exc})"
    return (
        f"{path}: the database is damaged ({exc}); integrity_check: {verdict[:300]}; "
        f'restore a backup, or salvage what is left with: sqlite3 {path} ".recover" | sqlite3 recovered.db'
    )


def _needs_shm_it_cannot_create(exc: sqlite3.OperationalError) -> bool:
    """A reader of a WAL database needs its -shm file; SQLite says so with these codes when the
    directory (or the -shm file) cannot be written."""
    return getattr(exc, "sqlite_errorname", "") in {"SQLITE_READONLY_DIRECTORY", "SQLITE_READONLY_CANTINIT", "SQLITE_CANTOPEN"}


class Store:
    def __init__(self, path: str | Path, busy_timeout: float = BUSY_TIMEOUT_SECONDS, read_only: bool = False):
        """`read_only`: open an existing file without writing anything (no migrations, no WAL switch),
        so `status` and `export` work on a read-only file or directory and never create a database."""
        self.path = Path(path)
        self.read_only = read_only
        if self.path.exists() and not self.path.is_file():  # a directory, a FIFO SQLite would wait on
            raise StoreError(f"{self.path}: not a usable SQLite database (not a regular file)")
        try:
            conn = self._open_read_only(busy_timeout) if read_only else self._open(busy_timeout)
        except sqlite3.DatabaseError as exc:
            raise StoreError(database_error(self.path, exc)) from None
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self._in_transaction = False
        self._group: _CommitGroup | None = None
        if not read_only:
            self._migrate()

    # -- plumbing -----------------------------------------------------------------

    def _open(self, busy_timeout: float) -> sqlite3.Connection:
        try:
            if not self.path.exists():
                _create_private(self.path)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot create the database ({exc.strerror or exc})") from None
        conn = _connect(f"{self.path.resolve().as_uri()}", busy_timeout)
        try:
            self._refuse_foreign_schema(conn)  # before WAL: a file that is not ours is left exactly as it was
            conn.execute("pragma journal_mode = wal")
            conn.execute("pragma synchronous = normal")
            conn.execute("pragma foreign_keys = on")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_read_only(self, busy_timeout: float) -> sqlite3.Connection:
        if not self.path.exists():
            raise StoreError(f"no database at {self.path}")
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        conn = _connect(uri, busy_timeout)
        try:
            self._refuse_foreign_schema(conn)
        except sqlite3.OperationalError as exc:
            conn.close()
            if not _needs_shm_it_cannot_create(exc):
                raise
            conn = self._open_immutable(uri, busy_timeout)
        except BaseException:
            conn.close()
            raise
        conn.execute("pragma foreign_keys = on")
        return conn

    def _open_immutable(self, uri: str, busy_timeout: float) -> sqlite3.Connection:
        """A WAL database in a directory we cannot write to has no -shm to coordinate readers. With no
        -wal file beside it every committed row is in the main file, and reading it as immutable is
        exact; with a -wal file it is not, so say what to do instead."""
        wal = Path(f"{self.path}-wal")
        if wal.exists() and wal.stat().st_size:
            raise StoreError(
                f"{self.path}: in WAL mode with a {wal.name} file, and its -shm file cannot be created in this "
                "read-only directory; open it once where it is writable, or copy the database files elsewhere"
            )
        conn = _connect(uri + "&immutable=1", busy_timeout)
        try:
            self._refuse_foreign_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _refuse_foreign_schema(self, conn: sqlite3.Connection) -> None:
        try:
            migrations.check_schema(sqlite_utils.Database(conn))
        except migrations.SchemaError as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    def _migrate(self) -> None:
        try:
            if not migrations.pending(self.db):
                return
            # Two processes opening a new file at once must not both migrate it. SQLite's own
            # locks are fcntl byte-range locks; flock on the same file is independent of them.
            with open(self.path, "rb") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    migrations.migrate(self.db)
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
        except migrations.SchemaError as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(database_error(self.path, exc)) from None

    def damage(self) -> str | None:
        """None when `pragma quick_check` finds the file sound, else its findings in one line. SQLite
        can skip a damaged page's rows without an error, so an export checks first (~10 ms per MB)."""
        try:
            rows = self.conn.execute("pragma quick_check(5)").fetchall()
        except sqlite3.DatabaseError as exc:
            return one_line(exc)
        verdict = "; ".join(" ".join(str(row[0]).split()) for row in rows)
        return None if verdict == "ok" else verdict[:300]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def write(self, fn: Callable[[], T]) -> T:
        """`fn()` in a write transaction, committed when this returns. Inside `group_commits`, the
        writes that arrive in one turn of the event loop share a transaction: each in a savepoint of
        its own (all there or not at all), one COMMIT for them all, and each caller resumes only
        after that COMMIT. Outside it, `fn` runs and commits at once."""
        if self._group is None:
            with self.transaction():
                return fn()
        return await self._group.submit(fn)

    @contextmanager
    def group_commits(self) -> Iterator[None]:
        """While `--auto` runs: one COMMIT per turn of the event loop rather than one per step. At 64
        calls in flight the steps that finish together are many, and each COMMIT (a WAL write, the
        lock taken and given back) cost the event loop about as much as its inserts."""
        group = self._group = _CommitGroup(self, asyncio.get_running_loop())
        try:
            yield
        finally:
            self._group = None
            group.flush()  # what was submitted in the very last turn

    @contextmanager
    def checkpoints_in_background(self, interval: float = CHECKPOINT_SECONDS) -> Iterator[None]:
        """While the block runs, WAL checkpoints are made by a thread of their own, not by the commit
        that crosses SQLite's 1,000-page mark. A checkpoint fsyncs the database; on a busy disk that
        stalled the runner's event loop, and every call in flight with it, for up to a second.
        Durability is unchanged: a commit is in the WAL either way, and a kill -9 loses nothing."""
        if self.read_only:
            yield
            return
        self.conn.execute("pragma wal_autocheckpoint = 0")
        checkpointer = _Checkpointer(self.path, interval)
        checkpointer.start()
        try:
            yield
        finally:
            checkpointer.stop()
            self.conn.execute(f"pragma wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction; nested calls join the outer one."""
        if self._in_transaction:
            yield
            return
        self.conn.execute("begin immediate")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:  # SQLite has already rolled back after some errors (a full disk)
                self.conn.execute("rollback")
            raise
        else:
            self.conn.execute("commit")
        finally:
            self._in_transaction = False

    def insert(self, table: str, row: dict[str, Any]) -> int:
        """Write one row ({column: value}) into `table`; returns its id."""
        columns = ", ".join(f"[{c}]" for c in row)
        marks = ", ".join("?" for _ in row)
        cursor = self.conn.execute(f"insert into [{table}] ({columns}) values ({marks})", list(row.values()))
        return inserted_id(cursor)

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """The rows a query returns, each as {column: value}."""
        cursor = self.conn.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    # -- problems -----------------------------------------------------------------

    @staticmethod
    def _problem_from_row(row: dict[str, Any]) -> Problem:
        row = dict(row)
        row["tags"] = json.loads(row.get("tags") or "[]")
        return Problem.model_validate(row)

    def _problem_row(self, problem: Problem, problem_hash: str | None = None) -> dict[str, Any]:
        row = problem.model_dump(exclude={"id"})
        row["tags"] = json.dumps(row["tags"])
        row["state"] = str(problem.state)
        row["hash"] = problem_hash or problem.hash
        return row

    def add_problem(self, problem: Problem) -> tuple[int, bool]:
        """Insert a problem unless one with the same text exists; returns (id, created)."""
        with self.transaction():
            existing = self.conn.execute("select id from problems where hash = ?", [problem.hash]).fetchone()
            if existing:
                return int(existing[0]), False
            return self.insert("problems", self._problem_row(problem)), True

    def get_problem(self, problem_id: int) -> Problem | None:
        rows = self.rows("select * from problems where id = ?", [problem_id])
        return self._problem_from_row(rows[0]) if rows else None

    def count_problems(self) -> int:
        return int(self.conn.execute("select count(*) from problems").fetchone()[0])

    def counts(self, unmarked: bool = False) -> dict[ProblemState, int]:
        """Problems per state, every state present (zero where none); `unmarked`: none marked broken."""
        where = f" where not {_MARKED}" if unmarked and self.db["problem_marks"].exists() else ""
        found = dict(self.conn.execute(f"select state, count(*) from problems{where} group by state").fetchall())
        return {state: int(found.get(str(state), 0)) for state in ProblemState}

    def set_state(self, problem_id: int, state: ProblemState, detail: str | None = None, release: bool = False) -> None:
        sql = "update problems set state = ?, state_detail = ?, updated_at = ?"
        if release:
            sql += ", claimed_by = null, claim_expires = null"
        self.conn.execute(sql + " where id = ?", [str(state), detail, utcnow(), problem_id])

    # -- attempts and critiques -------------------------------------------------------

    def add_attempt(self, attempt: Attempt) -> int:
        row = attempt.model_dump(exclude={"id"})
        row["kind"] = str(attempt.kind)
        row["hash"] = content_hash(attempt.text)
        with self.transaction():
            return self.insert("attempts", row)

    def add_critique(self, critique: Critique) -> int:
        row = critique.model_dump(exclude={"id"})
        row["verdict"] = str(critique.verdict)
        row["source"] = str(critique.source)
        with self.transaction():
            return self.insert("critiques", row)

    def get_attempt(self, attempt_id: int) -> Attempt | None:
        rows = self.rows("select * from attempts where id = ?", [attempt_id])
        return Attempt.model_validate(rows[0]) if rows else None

    def count_attempts(self, problem_id: int) -> int:
        return int(self.conn.execute("select count(*) from attempts where problem_id = ?", [problem_id]).fetchone()[0])

    def history(self, problem_id: int) -> ProblemHistory | None:
        problem = self.get_problem(problem_id)
        if problem is None:
            return None
        attempts = self.rows("select * from attempts where problem_id = ? order by id", [problem_id])
        critiques = self.rows(
            "select c.* from critiques c join attempts a on a.id = c.attempt_id where a.problem_id = ? order by c.id",
            [problem_id],
        )
        reviews = self.rows("select * from reviews where problem_id = ? order by id", [problem_id])
        return ProblemHistory(
            problem=problem,
            attempts=[Attempt.model_validate(r) for r in attempts],
            critiques=[Critique.model_validate(r) for r in critiques],
            reviews=[Review.model_validate(r) for r in reviews],
        )

    # -- import -------------------------------------------------------------------------

    def import_records(self, records: Iterable[ImportRecord]) -> ImportSummary:
        """Add problems and their drafts in one transaction; content already present is skipped."""
        summary = ImportSummary()
        with self.transaction():
            for record in records:
                self._import_one(record, summary)
        return summary

    def _import_one(self, record: ImportRecord, summary: ImportSummary) -> None:
        problem = record.problem
        problem_row = self._problem_row(problem, record.problem_hash)  # one hash for the lookup and the insert
        existing = self.conn.execute("select id, state from problems where hash = ?", [problem_row["hash"]]).fetchone()
        known: set[str] = set()
        if existing:
            problem_id, state = int(existing[0]), existing[1]
            summary.problems_existing += 1
            known = {row[0] for row in self.conn.execute("select hash from attempts where problem_id = ?", [problem_id])}
        else:
            problem_id, state = self.insert("problems", problem_row), str(problem.state)
            summary.problems_added += 1
        added = 0
        for index, attempt in enumerate(record.attempts):
            attempt_hash = record.attempt_hashes[index] if record.attempt_hashes else content_hash(attempt.text)
            if attempt_hash in known:
                continue
            known.add(attempt_hash)
            row = attempt.model_dump(exclude={"id"})
            row.update(problem_id=problem_id, kind=str(attempt.kind), hash=attempt_hash)
            attempt_id = self.insert("attempts", row)
            added += 1
            if index < len(record.critiques):
                critique = record.critiques[index]
                crow = critique.model_dump(exclude={"id"})
                crow.update(attempt_id=attempt_id, verdict=str(critique.verdict), source=str(critique.source))
                self.insert("critiques", crow)
        summary.attempts_added += added
        if added and state == ProblemState.PENDING:
            self.set_state(problem_id, ProblemState.AWAITING_REVIEW)

    # -- queue, search -------------------------------------------------------------------

    _QUEUE_COLUMNS = """
        p.id, p.text, p.state, p.source, p.subject,
        (select count(*) from attempts a where a.problem_id = p.id) as attempts,
        coalesce(
            -- the accepted attempt only once the item is accepted: on an overlap item still open,
            -- one expert's accept must not show in another's queue
            (select r.attempt_id from reviews r where p.state = 'accepted' and r.problem_id = p.id
                and r.undone_at is null and r.decision = 'accepted' and r.attempt_id is not null
                order by r.id desc limit 1),
            (select max(a.id) from attempts a where a.problem_id = p.id)
        ) as record_attempt
    """

    def queue(
        self,
        states: Iterable[ProblemState] | None = (ProblemState.AWAITING_REVIEW,),
        source: str | None = None,
        search: str | None = None,
        after_id: int = 0,
        limit: int = 100,
        condition: tuple[str, list[Any]] | None = None,
    ) -> list[QueueItem]:
        """A page of the queue in id order (stable across sessions), after `after_id`; `condition`:
        one more SQL condition on `p` and its parameters (rel_core.overlap's, for one annotator)."""
        where: list[str] = ["p.id > ?"]
        params: list[Any] = [after_id]
        if condition:
            where.append(f"({condition[0]})")
            params += condition[1]
        if states:
            marks, values = _one_of(states)
            where.append(f"p.state in {marks}")
            params += values
        if source:
            where.append("p.source = ?")
            params.append(source)
        if search:
            self.catch_up_search(wait_seconds=SEARCH_WAIT_SECONDS)
            where.append(f"p.id in ({_SEARCH_PROBLEMS})")
            params += [fts_query(search)] * 3
        sql = f"select {self._QUEUE_COLUMNS} from problems p where {' and '.join(where)} order by p.id limit ?"
        rows = self.rows(sql, [*params, limit])
        summaries = self.verdict_summaries(r["record_attempt"] for r in rows)
        return [QueueItem.model_validate({**r, **queue_verdict(summaries.get(r["record_attempt"]))}) for r in rows]

    def verdict_summaries(self, attempt_ids: Iterable[int | None]) -> dict[int, verdicts.VerdictSummary]:
        """The verdict summary of each attempt, from its critiques, in one query."""
        ids = [i for i in attempt_ids if i is not None]
        if not ids:
            return {}
        marks, values = _one_of(ids)
        by_attempt: dict[int, list[Critique]] = {}
        for row in self.rows(f"select * from critiques where attempt_id in {marks} order by id", values):
            by_attempt.setdefault(row["attempt_id"], []).append(Critique.model_validate(row))
        return {attempt_id: verdicts.summarise(by_attempt.get(attempt_id, [])) for attempt_id in ids}

    def next_in_queue(self, after_id: int, states: Iterable[ProblemState] = (ProblemState.AWAITING_REVIEW,)) -> int | None:
        items = self.queue(states=states, after_id=after_id, limit=1)
        return items[0].id if items else None

    def previous_in_queue(self, before_id: int, states: Iterable[ProblemState] = (ProblemState.AWAITING_REVIEW,)) -> int | None:
        marks, values = _one_of(states)
        row = self.conn.execute(
            f"select id from problems where id < ? and state in {marks} order by id desc limit 1",
            [before_id, *values],
        ).fetchone()
        return int(row[0]) if row else None

    def search(self, text: str, limit: int = 50) -> list[int]:
        """Ids of the problems whose text, drafts or critiques hold every word of `text`, in id order."""
        self.catch_up_search(wait_seconds=SEARCH_WAIT_SECONDS)
        rows = self.conn.execute(f"{_SEARCH_PROBLEMS} order by 1 limit ?", [*[fts_query(text)] * 3, limit])
        return [int(r[0]) for r in rows]

    def catch_up_search(self, wait_seconds: float | None = None, chunk: int = 2000) -> int:
        """Index for search the drafts and critiques written since the last catch-up (migration m013
        says why they wait); returns how many rows were indexed. Each chunk of rows is one short
        transaction. With `wait_seconds`, a database another process is writing to is given only
        that long: the search then runs on the index as it is, and the next one catches up."""
        if self.read_only:
            return 0
        indexed = 0
        with self._busy_timeout(wait_seconds):
            try:
                for table, columns in migrations.SEARCHED_TABLES.items():
                    while (count := self._index_chunk(table, columns, chunk)) > 0:
                        indexed += count
            except sqlite3.OperationalError as exc:
                if wait_seconds is None or getattr(exc, "sqlite_errorname", "") not in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                    raise
        return indexed

    def _index_chunk(self, table: str, columns: tuple[str, ...], chunk: int) -> int:
        names = ", ".join(columns)
        with self.transaction():
            mark = self.conn.execute("select indexed_upto from search_marks where name = ?", [table]).fetchone()[0]
            top = self.conn.execute(
                f"select max(rowid) from (select rowid from [{table}] where rowid > ? order by rowid limit ?)", [mark, chunk]
            ).fetchone()[0]
            if top is None:
                return 0
            cursor = self.conn.execute(
                f"insert into [{table}_fts] (rowid, {names}) select rowid, {names} from [{table}] where rowid > ? and rowid <= ?",
                [mark, top],
            )
            self.conn.execute("update search_marks set indexed_upto = ? where name = ?", [top, table])
            return max(cursor.rowcount, 1)

    @contextmanager
    def _busy_timeout(self, seconds: float | None) -> Iterator[None]:
        if seconds is None:
            yield
            return
        before = self.conn.execute("pragma busy_timeout").fetchone()[0]
        self.conn.execute(f"pragma busy_timeout = {int(seconds * 1000)}")
        try:
            yield
        finally:
            self.conn.execute(f"pragma busy_timeout = {int(before)}")

    def sources(self) -> list[str]:
        return [r[0] for r in self.conn.execute("select distinct source from problems where source is not null")]

    def skip_counts(self, problem_ids: Iterable[int]) -> dict[int, int]:
        """How often each of these problems was skipped (skips are reviews with decision skipped, not undone)."""
        ids = list(problem_ids)
        if not ids:
            return {}
        marks, values = _one_of(ids)
        rows = self.conn.execute(
            f"select problem_id, count(*) from reviews where problem_id in {marks} "
            "and decision = 'skipped' and undone_at is null group by problem_id",
            values,
        )
        return {int(problem_id): count for problem_id, count in rows}

    # -- reviews -------------------------------------------------------------------------

    def record_review(self, review: Review, move_state: bool = True) -> int:
        """Write an expert decision and move the problem to the state it implies, atomically.

        `move_state=False`: only the write (an overlap item's state follows all its decisions: rel_core.overlap)."""
        with self.transaction():
            previous = self.conn.execute("select state from problems where id = ?", [review.problem_id]).fetchone()
            if previous is None:
                raise KeyError(f"no problem {review.problem_id}")
            row = review.model_dump(exclude={"id"})
            row.update(decision=str(review.decision), previous_state=previous[0])
            review_id = self.insert("reviews", row)
            new_state = DECISION_STATE.get(review.decision)
            if new_state is not None and move_state:
                self.set_state(review.problem_id, new_state, review.note)
            return review_id

    def undo_last_review(self, annotator: str) -> Review | None:
        """Take back this annotator's latest live decision and restore the problem's state."""
        with self.transaction():
            rows = self.rows(
                "select * from reviews where annotator = ? and undone_at is null order by id desc limit 1",
                [annotator],
            )
            if not rows:
                return None
            review = Review.model_validate(rows[0])
            self.conn.execute("update reviews set undone_at = ? where id = ?", [utcnow(), review.id])
            if review.decision in DECISION_STATE and review.previous_state is not None and not self._later_live_decision(review):
                self.set_state(review.problem_id, review.previous_state)
            return review

    def _later_live_decision(self, review: Review) -> bool:
        """Whether someone decided on the problem after `review`: their decision keeps the state."""
        marks, decisions = _one_of(DECISION_STATE)
        row = self.conn.execute(
            f"select 1 from reviews where problem_id = ? and id > ? and undone_at is null and decision in {marks} limit 1",
            [review.problem_id, review.id, *decisions],
        ).fetchone()
        return row is not None

    # -- LLM calls -----------------------------------------------------------------------

    def log_call(self, call: LLMCall) -> int:
        row = call.model_dump(exclude={"id"})
        row["tokens_estimated"] = int(call.tokens_estimated)
        return self.log_call_row(row)

    _CALL_COLUMNS = tuple(name for name in LLMCall.model_fields if name != "id")
    _CALL_INSERT = f"insert into llm_calls ({', '.join(_CALL_COLUMNS)}) values ({', '.join('?' for _ in _CALL_COLUMNS)})"

    def log_call_row(self, row: dict[str, Any]) -> int:
        """Record one LLM call from its llm_calls columns (as LLMCall names them; missing ones are
        null, `created_at` now), without building an LLMCall: this runs once per call on the hot path.

        One INSERT statement: outside a transaction SQLite commits it on its own, atomically, so it
        costs one round trip instead of three (begin, insert, commit)."""
        if row.get("created_at") is None:
            row = {**row, "created_at": utcnow()}
        row["tokens_estimated"] = int(bool(row.get("tokens_estimated")))
        cursor = self.conn.execute(self._CALL_INSERT, [row.get(name) for name in self._CALL_COLUMNS])
        return inserted_id(cursor)

    def call_finish_reason(self, call_id: int | None) -> str | None:
        """Why the model stopped on a recorded call (stop, length, max_tokens, ...)."""
        if call_id is None:
            return None
        row = self.conn.execute("select finish_reason from llm_calls where id = ?", [call_id]).fetchone()
        return row[0] if row else None

    def total_cost(self) -> float:
        return float(self.conn.execute("select coalesce(sum(cost_usd), 0) from llm_calls").fetchone()[0])

    # -- claims (leases) ---------------------------------------------------------------------
    # A claim is `claimed_by` (the holder's unique owner id) plus `claim_expires`; the holder's
    # label, host, pid and start time (rel_core/claims.py) ride along when the owner is a
    # ClaimHolder, so a dead holder on this host can be told apart from a live one.

    _CLAIM_SET = "claimed_by = ?, claim_expires = ?, claim_label = ?, claim_host = ?, claim_pid = ?, claim_started = ?"

    def claim(self, problem_id: int, owner: Owner, ttl_seconds: float) -> bool:
        """Lease one problem to `owner`, unless someone else holds a live lease on it."""
        now = utcnow()
        with self.transaction():
            cursor = self.conn.execute(
                f"update problems set {self._CLAIM_SET} where id = ? and "
                "(claimed_by is null or claimed_by = ? or claim_expires < ?)",
                [*claim_values(owner, ttl_seconds), problem_id, _owner_id(owner), now],
            )
            return cursor.rowcount == 1

    def hand_over_claim(self, problem_id: int, holder: Owner, to: Owner, ttl_seconds: float) -> bool:
        """Pass the problem's claim from `holder` to `to`; False (nothing changed) unless `holder` has it."""
        with self.transaction():
            cursor = self.conn.execute(
                f"update problems set {self._CLAIM_SET} where id = ? and claimed_by = ?",
                [*claim_values(to, ttl_seconds), problem_id, _owner_id(holder)],
            )
            return cursor.rowcount == 1

    def claim_next(self, owner: Owner, ttl_seconds: float, states: Iterable[ProblemState]) -> Problem | None:
        """Lease the first unleased problem in one of `states`, in id order."""
        problem_id = self.claim_next_id(owner, ttl_seconds, states)
        return None if problem_id is None else self.get_problem(problem_id)

    def claim_next_id(self, owner: Owner, ttl_seconds: float, states: Iterable[ProblemState]) -> int | None:
        """`claim_next`, returning only the id: one statement (find and lease, atomically), no row read."""
        marks, state_values = _one_of(states)
        now = utcnow()
        sql = (
            f"update problems set {self._CLAIM_SET} where id = ("
            f"select id from problems where state in {marks} and not {_MARKED} "
            "and (claimed_by is null or claim_expires < ?) order by id limit 1) returning id"
        )
        params = [*claim_values(owner, ttl_seconds), *state_values, now]
        if self._in_transaction:
            row = self.conn.execute(sql, params).fetchone()
        else:
            with self.transaction():  # `returning` rows are read inside the statement's transaction
                row = self.conn.execute(sql, params).fetchone()
        return None if row is None else int(row[0])

    def renew(self, problem_ids: Iterable[int], owner: Owner, ttl_seconds: float) -> list[int]:
        """The heartbeat: extend `owner`'s claims on `problem_ids` in one transaction; returns the
        ids whose claim someone else has taken over (an expired claim nobody took is still ours)."""
        marks, ids = _one_of(problem_ids)
        if not ids:
            return []
        owner_id = _owner_id(owner)
        with self.transaction():
            self.conn.execute(
                f"update problems set claim_expires = ? where claimed_by = ? and id in {marks}",
                [expires_in(ttl_seconds), owner_id, *ids],
            )
            held = {
                int(r[0])
                for r in self.conn.execute(f"select id from problems where claimed_by = ? and id in {marks}", [owner_id, *ids])
            }
        return [int(i) for i in ids if int(i) not in held]

    def reclaim_dead_local(self) -> dict[str, int]:
        """Free at once every claim whose holder ran on this host and is gone (or whose pid now
        belongs to another process); returns how many were freed per holder label."""
        host = this_host()
        holders = self.conn.execute(
            "select claim_pid, claim_started, coalesce(claim_label, claimed_by), count(*) from problems "
            "where claimed_by is not null and claim_host = ? and claim_pid is not null "
            "group by claim_pid, claim_started",
            [host],
        ).fetchall()
        dead = [(pid, started, label, count) for pid, started, label, count in holders if holder_is_dead(pid, started)]
        if not dead:
            return {}
        freed: dict[str, int] = {}
        with self.transaction():
            for pid, started, label, _ in dead:
                cursor = self.conn.execute(
                    "update problems set claimed_by = null, claim_expires = null "
                    "where claimed_by is not null and claim_host = ? and claim_pid = ? and claim_started is ?",
                    [host, pid, started],
                )
                if cursor.rowcount:
                    freed[label] = freed.get(label, 0) + cursor.rowcount
        return freed

    def outcome(self, problem_id: int) -> tuple[str | None, int] | None:
        """(state_detail, number of attempts) of a problem, in one query; None if there is none."""
        row = self.conn.execute(
            "select state_detail, (select count(*) from attempts where problem_id = ?) from problems where id = ?",
            [problem_id, problem_id],
        ).fetchone()
        return None if row is None else (row[0], int(row[1]))

    def holds_claim(self, problem_id: int, owner: Owner) -> bool:
        """Whether `owner` still holds the claim (expired but not yet taken over counts as held)."""
        row = self.conn.execute("select claimed_by from problems where id = ?", [problem_id]).fetchone()
        return row is not None and row[0] == _owner_id(owner)

    def count_claimable(self, states: Iterable[ProblemState]) -> int:
        """Problems in `states` that claim_next could hand out now."""
        marks, state_values = _one_of(states)
        return int(
            self.conn.execute(
                f"select count(*) from problems where state in {marks} and not {_MARKED} "
                "and (claimed_by is null or claim_expires < ?)",
                [*state_values, utcnow()],
            ).fetchone()[0]
        )

    def count_leased_by_others(self, states: Iterable[ProblemState], owner: Owner) -> int:
        """Problems in `states` under someone else's live claim: work that may yet come back."""
        marks, state_values = _one_of(states)
        return int(
            self.conn.execute(
                f"select count(*) from problems where state in {marks} and not {_MARKED} "
                "and claimed_by is not null and claimed_by != ? and claim_expires >= ?",
                [*state_values, _owner_id(owner), utcnow()],
            ).fetchone()[0]
        )

    def claims_held_by_others(self, states: Iterable[ProblemState], owner: Owner) -> list[HeldClaims]:
        """Who else holds live claims on problems in `states`: per holder, how many and until when."""
        marks, values = _one_of(states)
        rows = self.conn.execute(
            "select coalesce(claim_label, claimed_by), count(*), max(claim_expires) from problems "
            f"where claimed_by is not null and claimed_by != ? and claim_expires >= ? and state in {marks} and not {_MARKED} "
            "group by 1 order by 2 desc, 1",
            [_owner_id(owner), utcnow(), *values],
        ).fetchall()
        return [HeldClaims(holder=label, count=int(count), until=until) for label, count, until in rows]

    def requeue_errored(self, first: int | None = None) -> int:
        """Put unclaimed errored problems back in the queue (`--retry-errored`); returns how many.
        With `first`, only those among the first `first` problems a run would claim (a `--limit`):
        the others keep their state and its detail."""
        where = "state = ? and (claimed_by is null or claim_expires < ?)"
        params: list[object] = [str(ProblemState.PENDING), utcnow(), str(ProblemState.ERRORED), utcnow()]
        if first is not None:
            marks, states = _one_of([ProblemState.PENDING, ProblemState.IN_PROGRESS, ProblemState.ERRORED])
            where += (
                f" and id in (select id from problems where state in {marks} and not {_MARKED} "
                "and (claimed_by is null or claim_expires < ?) order by id limit ?)"
            )
            params += [*states, utcnow(), first]
        with self.transaction():
            cursor = self.conn.execute(
                f"update problems set state = ?, state_detail = null, updated_at = ? where {where}", params
            )
            return cursor.rowcount

    def release(self, problem_id: int, owner: Owner) -> None:
        with self.transaction():
            self.conn.execute(
                "update problems set claimed_by = null, claim_expires = null where id = ? and claimed_by = ?",
                [problem_id, _owner_id(owner)],
            )

    def release_all(self, owner: Owner) -> int:
        """Give up every claim `owner` holds (a run's end); returns how many."""
        with self.transaction():
            cursor = self.conn.execute(
                "update problems set claimed_by = null, claim_expires = null where claimed_by = ?", [_owner_id(owner)]
            )
            return cursor.rowcount

    def claimed_by(self, problem_id: int) -> str | None:
        row = self.conn.execute(
            "select claimed_by from problems where id = ? and claim_expires >= ?", [problem_id, utcnow()]
        ).fetchone()
        return row[0] if row else None

    def claim_label(self, problem_id: int) -> str | None:
        """Who holds a live claim on the problem, as people read it ("auto alice@box pid 123")."""
        row = self.conn.execute(
            "select coalesce(claim_label, claimed_by) from problems where id = ? and claim_expires >= ?",
            [problem_id, utcnow()],
        ).fetchone()
        return row[0] if row else None

    # -- unsaved edits --------------------------------------------------------------------

    def save_edit_draft(self, problem_id: int, annotator: str, attempt_id: int | None, text: str) -> None:
        with self.transaction():
            self.conn.execute(
                "insert into edit_drafts (problem_id, annotator, attempt_id, text, updated_at) "
                "values (?, ?, ?, ?, ?) on conflict (problem_id, annotator) do update set "
                "attempt_id = excluded.attempt_id, text = excluded.text, updated_at = excluded.updated_at",
                [problem_id, annotator, attempt_id, text, utcnow()],
            )

    def load_edit_draft(self, problem_id: int, annotator: str) -> dict[str, Any] | None:
        rows = self.rows("select * from edit_drafts where problem_id = ? and annotator = ?", [problem_id, annotator])
        return rows[0] if rows else None

    def discard_edit_draft(self, problem_id: int, annotator: str) -> None:
        with self.transaction():
            self.conn.execute("delete from edit_drafts where problem_id = ? and annotator = ?", [problem_id, annotator])

    def save_human_edit(self, problem_id: int, annotator: str, parent_id: int | None, text: str) -> int:
        """Store an expert's edit as a new attempt and drop the autosaved draft, together."""
        with self.transaction():
            attempt_id = self.add_attempt(
                Attempt(
                    problem_id=problem_id,
                    parent_id=parent_id,
                    kind=AttemptKind.HUMAN_EDIT,
                    text=text,
                    model=f"expert:{annotator}",
                )
            )
            self.discard_edit_draft(problem_id, annotator)
            return attempt_id

    # -- export helpers ---------------------------------------------------------------------

    def iter_problem_ids(
        self, states: Iterable[ProblemState] | None = None, batch: int = 500, unmarked: bool = False
    ) -> Iterator[int]:
        """All problem ids (optionally in some states; `unmarked`: none marked broken), a page at a time."""
        after = 0
        where = "id > ?"
        params: list[str] = []
        if states:
            marks, params = _one_of(states)
            where += f" and state in {marks}"
        if unmarked and self.db["problem_marks"].exists():  # a read-only database from before m012 has none
            where += f" and not {_MARKED}"
        while True:
            ids = [
                r[0]
                for r in self.conn.execute(f"select id from problems where {where} order by id limit ?", [after, *params, batch])
            ]
            if not ids:
                return
            yield from ids
            after = ids[-1]


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row an `insert` just wrote (sqlite3 leaves `lastrowid` None only before any insert)."""
    if cursor.lastrowid is None:
        raise StoreError("insert returned no row id")
    return cursor.lastrowid


def _owner_id(owner: Owner) -> str:
    return owner.owner if isinstance(owner, ClaimHolder) else owner


def claim_values(owner: Owner, ttl_seconds: float) -> list[Any]:
    """The values of `_CLAIM_SET`: a plain-string owner has no label, host or pid (leases only)."""
    if isinstance(owner, ClaimHolder):
        return [owner.owner, expires_in(ttl_seconds), owner.label, owner.host, owner.pid, owner.started]
    return [owner, expires_in(ttl_seconds), None, None, None, None]


def _one_of(values: Iterable[object]) -> tuple[str, list[str]]:
    """`(?, ?, ?)` and its parameters, for `column in (...)`."""
    texts = [str(v) for v in values]
    return f"({', '.join('?' for _ in texts)})", texts


# Problems whose text, or one of whose drafts, or one of whose critiques (explanation or full reply)
# holds every word: three FTS matches (one parameter each).
_SEARCH_PROBLEMS = """
    select rowid from problems_fts where problems_fts match ?
    union select a.problem_id from attempts a
        where a.id in (select rowid from attempts_fts where attempts_fts match ?)
    union select a.problem_id from critiques c join attempts a on a.id = c.attempt_id
        where c.id in (select rowid from critiques_fts where critiques_fts match ?)
"""


# A problem marked broken (rel_core.problem_marks) is never handed to `--auto`, nor counted as its work.
_MARKED = problem_marks.live_sql("problems")


def fts_query(text: str) -> str:
    """Quote each word so user input is never parsed as FTS syntax."""
    words = [w.replace('"', '""') for w in text.split()]
    return " ".join(f'"{w}"' for w in words) or '""'


def queue_verdict(summary: verdicts.VerdictSummary | None) -> dict[str, Any]:
    if summary is None:
        return {"verdict": None, "verdict_label": None}
    return {"verdict": summary.standing, "verdict_label": summary.label}


def verified(critiques: list[Critique]) -> bool | None:
    """Whether the attempt with these critiques is verified, as rel_core.verdicts defines it."""
    return verdicts.verified(critiques)
