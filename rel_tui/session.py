"""One expert's review session: which item is open, the queue filter, claims and decisions.

Plain Python on the Store, so the screens stay thin and the rules are testable without a terminal.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import dataclass, field

from rel_core.claims import ClaimHolder
from rel_core.models import Decision, ProblemHistory, ProblemState, QueueItem, Review
from rel_core.store import Store

# A review claim is short and renewed while the item is open. If the TUI is killed, a restart on
# the same host takes its claim back at once (the claim names the dead pid); from another host
# the item is free again within a minute.
REVIEW_LEASE_SECONDS = 60.0
LEASE_RENEW_SECONDS = 20.0
PAGE = 50


@dataclass(frozen=True)
class QueueFilter:
    """Which problems the queue holds: states (empty = all), a source, and words to search for."""

    states: tuple[ProblemState, ...] = (ProblemState.AWAITING_REVIEW,)
    source: str | None = None
    search: str | None = None

    def describe(self) -> str:
        parts = [", ".join(str(s) for s in self.states) if self.states else "all states"]
        if self.source:
            parts.append(f"source {self.source}")
        if self.search:
            parts.append(f"“{self.search}”")
        return " · ".join(parts)


@dataclass
class ReviewSession:
    store: Store
    annotator: str
    filter: QueueFilter = field(default_factory=QueueFilter)
    current: ProblemHistory | None = None
    opened_at: float = 0.0
    back_stack: list[int] = field(default_factory=list)
    # Unique per session: two windows of one annotator (or experts sharing a login) must not
    # share a claim, or both could open, and decide on, the same item.
    holder: ClaimHolder | None = None

    def __post_init__(self) -> None:
        if self.holder is None:
            self.holder = ClaimHolder.this_process("review", self.annotator)
        with contextlib.suppress(sqlite3.OperationalError):  # busy: `open` tries again, item by item
            self.store.reclaim_dead_local()  # e.g. this expert's TUI, killed a moment ago

    @property
    def owner(self) -> str:
        assert self.holder is not None
        return self.holder.owner

    @property
    def problem_id(self) -> int | None:
        return self.current.problem.id if self.current else None

    # -- opening and moving ------------------------------------------------------------

    def open(self, problem_id: int, remember: bool = True) -> bool:
        """Claim and load one problem; False if another expert or runner holds it."""
        if not self._claim(problem_id):
            return False
        history = self.store.history(problem_id)
        if history is None:
            self.store.release(problem_id, self.owner)
            return False
        previous = self.problem_id
        if previous is not None and previous != problem_id:
            self.store.release(previous, self.owner)
            if remember:
                self.back_stack.append(previous)
        self.current = history
        self.opened_at = time.monotonic()
        return True

    def _claim(self, problem_id: int) -> bool:
        assert self.holder is not None
        if self.store.claim(problem_id, self.holder, REVIEW_LEASE_SECONDS):
            return True
        # Held: if its holder ran here and is gone, the claim is free now, not in a minute.
        return bool(self.store.reclaim_dead_local()) and self.store.claim(problem_id, self.holder, REVIEW_LEASE_SECONDS)

    def reload(self) -> None:
        if self.problem_id is not None:
            self.current = self.store.history(self.problem_id)

    def next(self, wrap: bool = True) -> bool:
        """Open the next claimable item after the current one (wrapping once to the start)."""
        start = self.problem_id or 0
        if self._open_first_after(start, stop=None):
            return True
        return wrap and start > 0 and self._open_first_after(0, stop=start)

    def current_in_queue(self) -> bool:
        """Whether the open item still belongs to the queue (a decision may have moved it out)."""
        if self.problem_id is None:
            return False
        page = self._page(after_id=self.problem_id - 1, limit=1)
        return bool(page) and page[0].id == self.problem_id

    def previous(self) -> bool:
        """Go back to the item shown before this one in this session."""
        while self.back_stack:
            if self.open(self.back_stack.pop(), remember=False):
                return True
        return False

    def _open_first_after(self, after_id: int, stop: int | None) -> bool:
        while True:
            page = self._page(after_id, PAGE)
            for item in page:
                if stop is not None and item.id >= stop:
                    return False
                if item.id != self.problem_id and self.open(item.id):
                    return True
            if len(page) < PAGE:
                return False
            after_id = page[-1].id

    def apply_filter(self, queue_filter: QueueFilter) -> bool:
        """Switch to another queue and open its first item; the item that was open stays reachable by `previous`."""
        self.filter = queue_filter
        previous = self.problem_id
        self.close()
        if previous is not None:
            self.back_stack.append(previous)
        return self.next()

    def _page(self, after_id: int, limit: int) -> list[QueueItem]:
        return self.store.queue(
            states=self.filter.states or None,
            source=self.filter.source,
            search=self.filter.search,
            after_id=after_id,
            limit=limit,
        )

    def close(self) -> None:
        """Give up the claim on the open item (leaving the app)."""
        if self.problem_id is not None:
            self.store.release(self.problem_id, self.owner)
        self.current = None

    def renew_claim(self) -> None:
        """The heartbeat while an item is open (every LEASE_RENEW_SECONDS)."""
        if self.problem_id is not None:
            assert self.holder is not None
            self.store.claim(self.problem_id, self.holder, REVIEW_LEASE_SECONDS)

    # -- decisions ---------------------------------------------------------------------

    def decide(self, decision: Decision, attempt_id: int | None, note: str | None = None) -> int:
        """Write the decision at once, with the seconds spent on the item since it was opened."""
        assert self.current is not None
        review = Review(
            problem_id=self.current.problem.id,
            decision=decision,
            attempt_id=attempt_id,
            annotator=self.annotator,
            seconds_spent=round(time.monotonic() - self.opened_at, 3),
            note=note or None,
        )
        review_id = self.store.record_review(review)
        self.reload()
        return review_id

    def undo(self) -> Review | None:
        """Take back this annotator's last decision and reopen that item."""
        review = self.store.undo_last_review(self.annotator)
        if review is not None:
            self.open(review.problem_id)
        return review

    def progress(self) -> dict[ProblemState, int]:
        return self.store.counts()
