"""Another writer on the same SQLite file, for the tests of what a busy database does."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class WriteLock:
    """A second connection holding the write lock (BEGIN IMMEDIATE, which in WAL mode is as strong as
    EXCLUSIVE), as a long import in another process would: taken at once, held until `release()` or
    the end of the `with` block."""

    def __init__(self, db: Path | str):
        self._conn: sqlite3.Connection | None = sqlite3.connect(db, isolation_level=None)
        self._conn.execute("begin immediate")

    def release(self) -> None:
        if self._conn is not None:
            self._conn.execute("rollback")
            self._conn.close()
            self._conn = None

    def __enter__(self) -> WriteLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def database_held(db: Path | str) -> WriteLock:
    """`with database_held(db): ...`, or `held = database_held(db)` ... `held.release()`."""
    return WriteLock(db)
