"""The one path for the TUI's database writes: a busy database is a notification, never a crash.

SQLite waits `busy_timeout` for another process's lock (a long import, a full disk); if it is
still busy, the write fails. In the TUI that must cost nothing: the expert's text stays on
screen, a notification says what was not saved, and the same key tries again. Every write the
review app makes (claims, decisions, undo, edits, answer checks, worker results) runs inside
`database_write`, or, in a worker, reaches `report_not_saved` through the screen's failure handler.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from textual.message_pump import MessagePump

from rel_core.terminal_text import one_line

BUSY_TITLE = "Database busy"
NOT_SAVED_ERRORS = (sqlite3.OperationalError,)
"""What a write raises when the database is locked past the busy timeout, full, or unwritable."""
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class WriteOutcome:
    failed: bool = False


@contextmanager
def database_write(node: MessagePump, what_was_not_saved: str) -> Iterator[WriteOutcome]:
    """Run the block's writes; if the database refuses them, say so and set `failed`."""
    outcome = WriteOutcome()
    try:
        yield outcome
    except NOT_SAVED_ERRORS as exc:
        outcome.failed = True
        report_not_saved(node, what_was_not_saved, exc)


def report_not_saved(node: MessagePump, what_was_not_saved: str, error: BaseException) -> None:
    node.notify(
        one_line(f"{what_was_not_saved} ({error}). Nothing on screen is lost: try again."),
        title=BUSY_TITLE,
        severity="error",
        timeout=10,
        markup=False,
    )


def rescue_dir() -> Path:
    """Where an edit goes that the database would not take when the app had to leave (a hang-up)."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "rel-tui" / "unsaved-edits"


def rescue_text(database: Path, problem_id: int, annotator: str, text: str) -> Path:
    """Write the text to a private file of its own (never overwriting one) and return its path."""
    folder = rescue_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = _SAFE_NAME.sub("_", f"{database.stem}-problem-{problem_id}-{annotator}-{stamp}") + ".md"
    fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    return folder / name
