"""One expert's review session: which item is open, the queue filter, claims, decisions and edits.

Plain Python on the Store, so the screens stay thin and the rules are testable without a terminal.
Every read and write the review screens make goes through here (screens hold no SQL); each write
raises `sqlite3.OperationalError` when the database stays busy, and leaves the session as it was,
so the caller can report it (the TUI's busy-database guard) and the same key can simply try again.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import labels, problem_marks
from .answers import AnswerChecker, extract_answer
from .checking import check_attempt, quick_check_attempt
from .claims import ClaimHolder
from .guidelines import version_in_force
from .models import Attempt, Critique, Decision, Problem, ProblemHistory, ProblemState, QueueItem, Review
from .overlap import OverlapPolicy, TeamReviews, team_for
from .steps import Step
from .store import Store

# A review claim is short and renewed while the item is open. If the TUI is killed, a restart on
# the same host takes its claim back at once (the claim names the dead pid); from another host
# the item is free again within a minute.
REVIEW_LEASE_SECONDS = 60.0
LEASE_RENEW_SECONDS = 20.0
PAGE = 50
# Finding the final answer reads the whole draft: beyond this size that happens in a thread, not
# on the event loop that draws the screen.
SYNC_CHECK_CHARS = 100_000
# Writes made while the screen is drawn (the answer check of a shown item, starting up) wait no longer
# than this for another process's lock: the TUI would freeze for the store's busy timeout otherwise.
BRIEF_WAIT_SECONDS = 0.3


@dataclass(frozen=True)
class QueueFilter:
    """Which problems the queue holds: states (empty = all), a source, and words to search for."""

    states: tuple[ProblemState, ...] = (ProblemState.AWAITING_REVIEW,)
    source: str | None = None
    search: str | None = None
    marked: bool = False  # only the problems marked broken (rel_core.problem_marks); else none of them

    def describe(self) -> str:
        parts = [", ".join(str(s) for s in self.states) if self.states else "all states"]
        if self.marked:
            parts.append("marked broken")
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
    guidelines: Path | None = None  # review.guidelines: its version is recorded on each decision
    # Team projects: overlap items are claimed, decided and shown per annotator (rel_core.overlap).
    overlap: OverlapPolicy | None = None
    team: TeamReviews | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.holder is None:
            self.holder = ClaimHolder.this_process("review", self.annotator)
        self.team = team_for(self.store, self.overlap)
        with contextlib.suppress(sqlite3.OperationalError), self.waiting_at_most(BRIEF_WAIT_SECONDS):
            self.store.reclaim_dead_local()  # busy: `open` tries again, item by item  # e.g. this expert's TUI, killed a moment ago

    @property
    def owner(self) -> str:
        assert self.holder is not None
        return self.holder.owner

    @property
    def database(self) -> Path:
        return self.store.path

    @property
    def problem_id(self) -> int | None:
        return self.current.problem.id if self.current else None

    @contextlib.contextmanager
    def waiting_at_most(self, seconds: float) -> Iterator[None]:
        """Writes inside give up (SQLITE_BUSY) after `seconds` of another process's lock instead of the
        store's busy timeout, so a caller on the UI thread can keep drawing and try again later."""
        conn = self.store.conn
        before = conn.execute("pragma busy_timeout").fetchone()[0]
        conn.execute(f"pragma busy_timeout = {int(seconds * 1000)}")
        try:
            yield
        finally:
            conn.execute(f"pragma busy_timeout = {int(before)}")

    # -- opening and moving ------------------------------------------------------------

    def open(self, problem_id: int, remember: bool = True) -> bool:
        """Claim and load one problem; False if another expert or runner holds it."""
        # Claiming this item and freeing the last one happen together or not at all, so a busy
        # database leaves the session on the item it showed, holding only that item's claim.
        with self.store.transaction():
            return self._open(problem_id, remember)

    def _open(self, problem_id: int, remember: bool) -> bool:
        if not self._claim(problem_id):
            return False
        history = self._history(problem_id)
        if history is None:
            self._release(problem_id)
            return False
        previous = self.problem_id
        if previous is not None and previous != problem_id:
            self._release(previous)
            if remember:
                self.back_stack.append(previous)
        self.current = history
        self.opened_at = time.monotonic()
        return True

    def _claim(self, problem_id: int) -> bool:
        assert self.holder is not None
        if self.team and self.team.is_overlap(problem_id):
            return self.team.claim(problem_id, self.holder, self.annotator, REVIEW_LEASE_SECONDS)
        if self.store.claim(problem_id, self.holder, REVIEW_LEASE_SECONDS):
            return True
        # Held: if its holder ran here and is gone, the claim is free now, not in a minute.
        return bool(self.store.reclaim_dead_local()) and self.store.claim(problem_id, self.holder, REVIEW_LEASE_SECONDS)

    def reload(self) -> None:
        if self.problem_id is not None:
            self.current = self._history(self.problem_id)

    def _history(self, problem_id: int) -> ProblemHistory | None:
        """The item as this expert may see it: on an overlap item, nobody else's decision or edit until they decided."""
        history = self.store.history(problem_id)
        return self.team.visible_to(history, self.annotator) if self.team and history else history

    def _release(self, problem_id: int) -> None:
        assert self.holder is not None
        if self.team and self.team.is_overlap(problem_id):
            self.team.release(problem_id, self.holder)
        self.store.release(problem_id, self.owner)

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
        page = self.queue_page(after_id=self.problem_id - 1, limit=1)
        return bool(page) and page[0].id == self.problem_id

    def previous(self) -> bool:
        """Go back to the item shown before this one in this session."""
        while self.back_stack:
            opened = self.open(self.back_stack[-1], remember=False)
            self.back_stack.pop()  # not before: if the database is busy, the way back stays as it was
            if opened:
                return True
        return False

    def _open_first_after(self, after_id: int, stop: int | None) -> bool:
        while True:
            page = self.queue_page(after_id, PAGE)
            for item in page:
                if stop is not None and item.id >= stop:
                    return False
                if item.id != self.problem_id and self.open(item.id):
                    return True
            if len(page) < PAGE:
                return False
            after_id = page[-1].id

    def apply_filter(self, queue_filter: QueueFilter) -> bool:
        """Switch to another queue and open its first item; the item that was open stays reachable by `previous`.

        If the database is busy while freeing the open item, nothing changes; if it is busy while
        opening the new queue's first item, the new filter holds and `next` opens it."""
        previous = self.problem_id
        self.close()
        self.filter = queue_filter
        if previous is not None:
            self.back_stack.append(previous)
        return self.next()

    def queue_page(self, after_id: int, limit: int) -> list[QueueItem]:
        """Up to `limit` items of the filtered queue with ids above `after_id`."""
        items = self.store.queue(
            states=self.filter.states or None,
            source=self.filter.source,
            search=self.filter.search,
            after_id=after_id,
            limit=limit,
            condition=problem_marks.queue_condition(self.annotator, self.team, self.filter.marked, self.filter.search),
        )
        return self.team.visible_queue(items, self.annotator) if self.team else items

    def close(self) -> None:
        """Give up the claim on the open item (leaving the app)."""
        if self.problem_id is not None:
            self._release(self.problem_id)
        self.current = None

    def renew_claim(self) -> None:
        """The heartbeat while an item is open (every LEASE_RENEW_SECONDS)."""
        if self.problem_id is not None:
            assert self.holder is not None
            if self.team and self.team.is_overlap(self.problem_id):
                self.team.renew(self.problem_id, self.holder, REVIEW_LEASE_SECONDS)
                return
            self.store.claim(self.problem_id, self.holder, REVIEW_LEASE_SECONDS)

    # -- decisions ---------------------------------------------------------------------

    def decide(self, decision: Decision, attempt_id: int | None, note: str | None = None) -> int:
        """Write the decision at once, with the seconds spent on the item since it was opened.

        Only the write: `current` is not reloaded here, so a failure after this point can never make
        a saved decision look unsaved (and be recorded twice when the expert presses the key again)."""
        assert self.current is not None
        review = Review(
            problem_id=self.current.problem.id,
            decision=decision,
            attempt_id=attempt_id,
            annotator=self.annotator,
            seconds_spent=round(time.monotonic() - self.opened_at, 3),
            note=note or None,
            guideline_version=version_in_force(self.guidelines),
        )
        if self.team and self.team.is_overlap(review.problem_id):
            return self.team.record(review)
        return self.store.record_review(review)

    def undo(self) -> Review | None:
        """Take back this annotator's last decision (only the write: the screen reopens the item)."""
        return self.team.undo(self.annotator) if self.team else self.store.undo_last_review(self.annotator)

    # -- "this problem is broken" (rel_core.problem_marks) --------------------------------------------

    def marks_on_item(self) -> list[problem_marks.ProblemMark]:
        """The live marks on the open item that this expert may see (overlap: their own until they decided)."""
        if self.problem_id is None:
            return []
        return problem_marks.visible_marks(self.store, self.problem_id, self.annotator, self.team)

    def mark_problem(self, kind: problem_marks.MarkKind | str, note: str | None = None) -> int:
        """Mark the open item broken (replacing this expert's mark on it); it leaves the queue."""
        assert self.problem_id is not None
        return problem_marks.mark(self.store, self.problem_id, self.annotator, kind, note)

    def unmark_problem(self) -> list[problem_marks.ProblemMark]:
        """Take back the marks on the open item: this expert's own, and on an item that is not an
        overlap item every live mark (whoever fixed the problem may put it back in the queue)."""
        assert self.problem_id is not None
        everyone = not (self.team and self.team.is_overlap(self.problem_id))
        return problem_marks.unmark(self.store, self.problem_id, self.annotator, everyone=everyone)

    def remember(self, problem_id: int) -> None:
        """Put an item on the way back, so `previous` opens it (an undone item that could not be reopened)."""
        if not self.back_stack or self.back_stack[-1] != problem_id:
            self.back_stack.append(problem_id)

    def model_calls_refused(self) -> str | None:
        """Why `r` (regenerate) and `c` (re-critique) are off on the open item, or None when they may run.

        On an overlap item every expert judges the same drafts and critiques, which is what their
        agreement measures; a new draft or critique would either change the others' material or show
        them that someone reviewed it (and the hint would say how). An expert's own version is an edit,
        which the others do not see."""
        if self.team is None or self.problem_id is None or not self.team.is_overlap(self.problem_id):
            return None
        return (
            f"#{self.problem_id} is an overlap item: every expert judges the same drafts, so r and c are off "
            "(e makes your own version, which the others do not see)"
        )

    def held_by(self, problem_id: int) -> str | None:
        """Who holds a live claim on the item, as people read it ("auto alice@box pid 123"), if anyone."""
        if self.team and self.team.is_overlap(problem_id):
            return ", ".join(self.team.holders(problem_id)) or "experts who decided it"
        return self.store.claim_label(problem_id)

    def sources(self) -> list[str]:
        return self.store.sources()

    def progress(self) -> dict[ProblemState, int]:
        """Problems per state for the status bar; problems marked broken are out of the review, so out of these."""
        return self.store.counts(unmarked=True)

    def skip_counts(self, problem_ids: list[int]) -> dict[int, int]:
        """How often each item was skipped, for the queue's skip marks (on an overlap item not decided yet: by this expert)."""
        counts = self.store.skip_counts(problem_ids)
        return self.team.visible_skip_counts(counts, self.annotator) if self.team else counts

    # -- the expert's edits (autosaved drafts and saved human_edit attempts) ----------------------

    def saved_edit(self, problem_id: int) -> dict[str, Any] | None:
        """This expert's autosaved, unsaved edit of the item: its `text`, `attempt_id` and `updated_at`."""
        return self.store.load_edit_draft(problem_id, self.annotator)

    def autosave_edit(self, problem_id: int, parent_id: int | None, text: str) -> None:
        self.store.save_edit_draft(problem_id, self.annotator, parent_id, text)

    def discard_edit(self, problem_id: int) -> None:
        self.store.discard_edit_draft(problem_id, self.annotator)

    def save_edit(self, problem_id: int, parent_id: int | None, text: str) -> int:
        """Store the edit as a new human_edit attempt (dropping the autosaved draft); its id."""
        return self.store.save_human_edit(problem_id, self.annotator, parent_id, text)

    # -- the answer check of attempts that have none (imported drafts, expert edits) --------------

    def store_quick_check(self, checker: AnswerChecker, problem: Problem, attempt: Attempt) -> Critique | None:
        """Store at once a check that needs no math-verify; None when math-verify has to look
        (or the draft is too long to read on the UI thread: `store_check` then does it all)."""
        if len(attempt.text) > SYNC_CHECK_CHARS:
            return None
        with self.waiting_at_most(BRIEF_WAIT_SECONDS):  # busy: not stored, and checked again when next shown
            return quick_check_attempt(self.store, checker, attempt, problem)

    async def store_check(self, checker: AnswerChecker, problem: Problem, attempt: Attempt) -> Critique | None:
        """Check with math-verify (in the checker's processes) and store the result."""
        if len(attempt.text) > SYNC_CHECK_CHARS:
            attempt = await asyncio.to_thread(_answer_only, attempt)
        return await check_attempt(self.store, checker, problem, attempt)

    # -- per-step labels and rulings on the critic (rel_core.labels; each write is one transaction) --

    def step_labels(self, attempt_id: int) -> labels.AttemptLabels:
        """This expert's standing labels on the attempt's steps (the gutter marks)."""
        return labels.attempt_labels(self.store, attempt_id, self.annotator)

    def rate_step(self, attempt_id: int, step: Step, rating: labels.Rating) -> int:
        return labels.label_step(self.store, attempt_id, step.number, rating, self.annotator, step_hash=labels.step_hash(step))

    def mark_first_error(self, attempt_id: int, step: Step) -> int:
        return labels.mark_first_error(self.store, attempt_id, step.number, self.annotator, step_hash=labels.step_hash(step))

    def toggle_step_flag(self, attempt_id: int, step: Step) -> bool:
        return labels.toggle_flag(self.store, attempt_id, step.number, self.annotator, step_hash=labels.step_hash(step))

    def comment_step(self, attempt_id: int, step: Step, comment: str | None) -> int:
        return labels.comment_step(self.store, attempt_id, step.number, self.annotator, comment, step_hash=labels.step_hash(step))

    def undo_label(self) -> labels.LabelAction | None:
        """Take back this expert's latest label or ruling (not a decision)."""
        return labels.undo_last_label(self.store, self.annotator)

    def undo_latest(self) -> labels.LabelAction | Review | problem_marks.ProblemMark | None:
        """Take back this expert's latest label action, decision or problem mark, whichever came
        last; an overlap item's state then follows the decisions that still stand (as `undo` does)."""
        with self.store.transaction():
            mark = problem_marks.latest_live(self.store, self.annotator)
            if mark is not None and mark.created_at >= (self._latest_label_or_decision_at() or ""):
                return problem_marks.unmark(self.store, mark.problem_id, self.annotator)[0]
            undone = labels.undo_latest(self.store, self.annotator)
            if isinstance(undone, Review) and self.team and self.team.is_overlap(undone.problem_id):
                self.team.settle(undone.problem_id)
            return undone

    def _latest_label_or_decision_at(self) -> str | None:
        """When this expert's latest label action or standing decision was made (what undo_latest compares)."""
        action = labels.last_label_action(self.store, self.annotator)
        review = self.store.conn.execute(
            "select max(created_at) from reviews where annotator = ? and undone_at is null", [self.annotator]
        ).fetchone()[0]
        return max([t for t in (action.created_at if action else None, review) if t], default=None)

    def toggle_ruling(self, critique_id: int, aspect: labels.RulingAspect) -> bool:
        """Agree, or (pressed again) disagree, with the critique on one aspect; True: agree.

        On an overlap item not decided yet, the key toggles this expert's own ruling: which way it
        goes must not depend on (and so tell) how another expert ruled."""
        if not self._hides_others():
            return labels.toggle_ruling(self.store, critique_id, aspect, self.annotator)
        with self.store.transaction():
            own = labels.standing_ruling(self.rulings([critique_id]), critique_id, aspect, labels.RulingSource.EXPERT)
            agrees = own is None or not own.agrees
            labels.rule_on_critique(self.store, critique_id, aspect, agrees, self.annotator)
        return agrees

    def rulings(self, critique_ids: list[int]) -> list[labels.Ruling]:
        """The rulings on these critiques of the open item that this expert may see."""
        found = labels.rulings(self.store, critique_ids)
        if self.team is None or self.problem_id is None:
            return found
        return self.team.visible_rulings(self.problem_id, found, self.annotator)

    def _hides_others(self) -> bool:
        """Whether other experts' work on the open item is hidden from this expert (an overlap item not decided yet)."""
        return (
            self.team is not None
            and self.problem_id is not None
            and not self.team.may_see_others(self.problem_id, self.annotator)
        )


def _answer_only(attempt: Attempt) -> Attempt:
    """The attempt reduced to its final answer (all the check reads of it), found in a thread."""
    answer = extract_answer(attempt.text)
    return attempt.model_copy(update={"text": f"<ANSWER>{answer}</ANSWER>" if answer else ""})
