"""Writes from the UI that must not take the app down when the database is busy.

SQLite waits `busy_timeout` for another process's lock (a long import, a full disk); if it is
still busy, the write fails. In the TUI that must cost nothing: the expert's text stays on
screen, a notification says what was not saved, and the same key tries again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from textual.message_pump import MessagePump


@dataclass
class WriteOutcome:
    failed: bool = False


@contextmanager
def database_write(node: MessagePump, what_was_not_saved: str) -> Iterator[WriteOutcome]:
    outcome = WriteOutcome()
    try:
        yield outcome
    except sqlite3.OperationalError as exc:
        outcome.failed = True
        node.notify(
            f"{what_was_not_saved} ({exc}). Nothing on screen is lost: try again.",
            title="Database busy",
            severity="error",
            timeout=10,
            markup=False,
        )
