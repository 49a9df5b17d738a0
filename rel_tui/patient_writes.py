"""Writes that wait for another process's lock without freezing the screen.

SQLite makes a write wait (its busy timeout) while another process holds the write lock, e.g. an
`import --strict` storing a big file in one transaction. On the UI thread that wait froze the review
app for up to 30 s. Here each try waits only `TRY_SECONDS`; while the database stays busy, a line
says so and an async worker tries again every `RETRY_SECONDS`, on the event loop between frames and
keys, until the app's busy timeout has passed (then `database_write`'s notice, as before). Reading,
scrolling, help and quit go on meanwhile. One write waits at a time: a key that writes while one
waits does nothing and says so, so no key is applied to an item other than the one it was meant for.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from textual import work
from textual.content import Content
from textual.timer import Timer
from textual.widgets import Static

from rel_tui.database_write import BUSY_TITLE, NOT_SAVED_ERRORS, report_not_saved

TRY_SECONDS = 0.1  # how long one try may hold the event loop waiting for the lock
RETRY_SECONDS = 0.25
PATIENT_WRITE = "patient-write"


def is_busy(error: BaseException) -> bool:
    """Whether the write failed only because another connection holds the lock (worth a retry)."""
    if getattr(error, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return True
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


class BusyLine(Static):
    """ "Database busy: waiting for another process (opening the next item)… 4 s", while a write waits."""

    DEFAULT_CSS = """
    BusyLine { display: none; height: 1; padding: 0 1; background: $warning-muted; color: $text; }
    BusyLine.-waiting { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.started = 0.0
        self.waiting_for = ""
        self.timer: Timer | None = None

    def start(self, waiting_for: str) -> None:
        self.stop()
        self.started, self.waiting_for = time.monotonic(), waiting_for
        self.timer = self.set_interval(1.0, self._tick)
        self.add_class("-waiting")
        self._tick()

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        self.remove_class("-waiting")

    def _tick(self) -> None:
        seconds = int(time.monotonic() - self.started)
        self.update(
            Content.assemble(
                ("Database busy: ", "bold"),
                f"waiting for another process ({self.waiting_for})… {seconds} s",
            )
        )


class PatientWrites:
    """`write_patiently` for `ReviewScreen` (which composes a `BusyLine` and has `session`)."""

    waiting_for: str | None = None  # what the write that waits for the database will do, if one does
    waiting_saves = False  # whether that write stores the expert's work (a decision), not just a move
    quit_refused = False

    def write_patiently(
        self,
        what_was_not_saved: str,
        waiting_for: str,
        write: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[], None] | None = None,
        *,
        saves: bool = False,
    ) -> None:
        """Run `write` (session calls that raise when the database is busy and then leave the session
        as it was) and then `done(its result)`; while the database is busy, wait for it without blocking.
        `failed` runs if it is still busy after the app's busy timeout, or refuses the write otherwise.
        `saves`: the write stores the expert's work, so quitting while it waits asks first."""
        if self.refuses_while_waiting():
            return
        try:
            result = self._try_write(write)
        except NOT_SAVED_ERRORS as error:
            if not is_busy(error):
                self._give_up(what_was_not_saved, error, failed)
                return
            self.waiting_for, self.waiting_saves, self.quit_refused = waiting_for, saves, False
            self.query_one(BusyLine).start(waiting_for)
            self._wait_and_write(what_was_not_saved, write, done, failed, time.monotonic() + self.app.busy_timeout)
            return
        done(result)

    def refuses_while_waiting(self) -> bool:
        """True (and says so) while a write waits: a second one could land on the wrong item."""
        if self.waiting_for is None:
            return False
        self.notify(
            f"Still waiting for the database ({self.waiting_for}): that key did nothing. Press it again once the wait is over.",
            title=BUSY_TITLE,
            severity="warning",
            timeout=4,
            markup=False,
        )
        return True

    def quit_loses_work(self) -> bool:
        """True (and says so, once) when quitting now would drop a decision that waits for the database."""
        if not self.waiting_saves or self.quit_refused:
            return False
        self.quit_refused = True
        self.notify(
            f"Not quitting yet: waiting for the database ({self.waiting_for}). q again quits without it.",
            title=BUSY_TITLE,
            severity="error",
            timeout=10,
            markup=False,
        )
        return True

    def _try_write(self, write: Callable[[], Any]) -> Any:
        with self.session.waiting_at_most(TRY_SECONDS):
            return write()

    @work(group=PATIENT_WRITE)
    async def _wait_and_write(
        self,
        what_was_not_saved: str,
        write: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[], None] | None,
        deadline: float,
    ) -> None:
        while True:
            await asyncio.sleep(RETRY_SECONDS)
            try:
                result = self._try_write(write)
            except NOT_SAVED_ERRORS as error:
                if is_busy(error) and time.monotonic() < deadline:
                    continue
                self._end_wait()
                self._give_up(what_was_not_saved, error, failed)
                return
            self._end_wait()
            done(result)
            return

    def _end_wait(self) -> None:
        self.waiting_for, self.waiting_saves = None, False
        self.query_one(BusyLine).stop()

    def _give_up(self, what_was_not_saved: str, error: BaseException, failed: Callable[[], None] | None) -> None:
        report_not_saved(self, what_was_not_saved, error)
        if failed is not None:
            failed()
