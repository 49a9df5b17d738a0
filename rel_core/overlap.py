"""Team projects: overlap items, each decided independently by k experts, and their adjudication.

Which items overlap is a pure rule on the problem's content hash (`OverlapPolicy`), so every
process, on every host, picks the same ones without storing anything. On an overlap item:

- up to k review sessions of k different annotators hold it at once (one `overlap_claims` row
  each); an annotator who has decided it is not offered it again, and it leaves the queue once k
  annotators have decided it;
- an expert who has not decided it yet sees nobody else's decision or edits (`visible_to`);
- its state follows all its decisions (`settle`): awaiting review until k annotators decided, then
  accepted or rejected when they agree (accepts: on the same attempt); when they disagree it stays
  awaiting review with the detail DISPUTED, in the adjudication queue, until an adjudicator
  records the final word (a review with role `adjudicated`), which then decides the state and
  what exports use.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from . import problem_marks
from .claims import ClaimHolder, holder_is_dead, this_host
from .labels import Ruling, RulingSource
from .models import Attempt, AttemptKind, Decision, ProblemHistory, ProblemState, QueueItem, Review, utcnow
from .store import DECISION_STATE, Store, claim_values, expires_in, fts_query, queue_verdict

ADJUDICATED = "adjudicated"
DISPUTED = "disputed: awaiting adjudication"
_SPAN = 16**8  # the hash prefix read: its first 8 hex digits


class OverlapPolicy(BaseModel):
    """Which items k experts decide independently (config `[team]`)."""

    model_config = ConfigDict(frozen=True)

    fraction: float = 0.0
    k: int = 2
    sources: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, team: Any) -> OverlapPolicy:
        """From rel_core.config.TeamSettings."""
        return cls(fraction=team.overlap, k=team.overlap_k, sources=tuple(team.overlap_sources))

    @property
    def enabled(self) -> bool:
        return self.fraction > 0

    def _threshold(self) -> int:
        return _SPAN if self.fraction >= 1 else int(self.fraction * _SPAN)

    def applies(self, problem_hash: str, source: str | None) -> bool:
        """Whether a problem (by its content hash and source) is an overlap item."""
        if not self.enabled or (self.sources and source not in self.sources):
            return False
        return int(problem_hash[:8], 16) < self._threshold()

    def sql(self, alias: str = "p") -> tuple[str, list[Any]]:
        """The same rule as SQL on `alias`: lower-case hex of fixed width sorts as its number does."""
        if not self.enabled:
            return "0", []
        parts, params = [], []
        if self.fraction < 1:
            parts.append(f"substr({alias}.hash, 1, 8) < ?")
            params.append(f"{self._threshold():08x}")
        if self.sources:
            parts.append(f"{alias}.source in ({', '.join('?' for _ in self.sources)})")
            params += list(self.sources)
        return " and ".join(parts) or "1", params


# Another expert's edit, as SQL on attempts `a` with this annotator's name as the parameter: the
# same rule as `_others_edit` (an edit is a human_edit attempt whose model names its expert).
_OTHERS_EDIT = "(a.kind = 'human_edit' and coalesce(a.model, '') != 'expert:' || ?)"


def _others_edit(attempt: Attempt, annotator: str) -> bool:
    return attempt.kind == AttemptKind.HUMAN_EDIT and attempt.model != f"expert:{annotator}"


# The queue's text search (rel_core.store's) over what this annotator may see of an overlap item:
# the problem, and drafts and critiques that are not another expert's edit.
_VISIBLE_SEARCH = f"""
    select rowid from problems_fts where problems_fts match ?
    union select a.problem_id from attempts a
        where a.id in (select rowid from attempts_fts where attempts_fts match ?) and not {_OTHERS_EDIT}
    union select a.problem_id from critiques c join attempts a on a.id = c.attempt_id
        where c.id in (select rowid from critiques_fts where critiques_fts match ?) and not {_OTHERS_EDIT}
"""

# This annotator (the parameter) has a live accept or reject of problem `p`.
_MINE = (
    "exists (select 1 from reviews r where r.problem_id = p.id and r.annotator = ? and r.undone_at is null "
    "and r.role is null and r.decision in ('accepted', 'rejected'))"
)

# Each annotator's latest live decision on a problem (skips do not count), experts' own only.
_DECIDERS = """
    select annotator, decision, attempt_id from reviews r where problem_id = ? and undone_at is null and role is null
      and decision in ('accepted', 'rejected')
      and id = (select max(id) from reviews r2 where r2.problem_id = r.problem_id and r2.annotator = r.annotator
                and r2.undone_at is null and r2.role is null and r2.decision in ('accepted', 'rejected'))
"""


class TeamReviews:
    """Overlap claims, decisions and visibility for review sessions, on one store."""

    def __init__(self, store: Store, policy: OverlapPolicy):
        self.store = store
        self.policy = policy

    def is_overlap(self, problem_id: int) -> bool:
        row = self.store.conn.execute("select hash, source from problems where id = ?", [problem_id]).fetchone()
        return row is not None and self.policy.applies(row[0], row[1])

    def decisions(self, problem_id: int) -> dict[str, Decision]:
        """annotator → their standing accept or reject of the problem (adjudications left out)."""
        return {a: decision for a, (decision, _) in self._decided(problem_id).items()}

    def _decided(self, problem_id: int) -> dict[str, tuple[Decision, int | None]]:
        """annotator → their standing accept or reject, and the attempt it was on."""
        rows = self.store.conn.execute(_DECIDERS, [problem_id]).fetchall()
        return {a: (Decision(d), attempt_id) for a, d, attempt_id in rows}

    def adjudication(self, problem_id: int) -> Review | None:
        """The live final word of an adjudicator on the problem, if any."""
        row = self.store.conn.execute(
            "select * from reviews where problem_id = ? and role = ? and undone_at is null "
            "and decision in ('accepted', 'rejected') order by id desc limit 1",
            [problem_id, ADJUDICATED],
        ).fetchone()
        if row is None:
            return None
        names = [d[0] for d in self.store.conn.execute("select * from reviews limit 0").description]
        return Review.model_validate(dict(zip(names, row, strict=True)))

    # -- the queue and claims -----------------------------------------------------------------

    def queue_condition(self, annotator: str, search: str | None = None) -> tuple[str, list[Any]] | None:
        """For `Store.queue`: leave out overlap items this annotator decided, or that k annotators decided;
        with `search`, an overlap item they have not decided matches only on what they may see of it
        (another expert's edit must not make it match, or the queue would tell what the edit says)."""
        if not self.policy.enabled:
            return None
        condition, params = self._open_condition(annotator)
        if search:
            overlap, overlap_params = self.policy.sql("p")
            hidden = f"({overlap}) and not {_MINE}"
            condition = f"({condition}) and (not ({hidden}) or p.id in ({_VISIBLE_SEARCH}))"
            query = fts_query(search)
            params += [*overlap_params, annotator, query, query, annotator, query, annotator]
        return condition, params

    def _open_condition(self, annotator: str) -> tuple[str, list[Any]]:
        overlap, params = self.policy.sql("p")
        deciders = (
            "select count(distinct annotator) from reviews r where r.problem_id = p.id and r.undone_at is null "
            "and r.role is null and r.decision in ('accepted', 'rejected')"
        )
        return f"not ({overlap}) or (not {_MINE} and ({deciders}) < ?)", [*params, annotator, self.policy.k]

    def hidden_from(self, problem_ids: list[int], annotator: str) -> set[int]:
        """Which of these problems are overlap items the annotator has not decided: where others' work is hidden."""
        if not self.policy.enabled or not problem_ids:
            return set()
        overlap, params = self.policy.sql("p")
        marks = ", ".join("?" for _ in problem_ids)
        rows = self.store.conn.execute(
            f"select p.id from problems p where p.id in ({marks}) and ({overlap}) and not {_MINE}",
            [*problem_ids, *params, annotator],
        )
        return {int(row[0]) for row in rows}

    def visible_queue(self, items: list[QueueItem], annotator: str) -> list[QueueItem]:
        """Queue rows as the annotator may see them: on an overlap item they have not decided, the
        attempt count and the verdict (of the latest attempt) leave out other experts' edits."""
        hidden = sorted(self.hidden_from([item.id for item in items], annotator))
        if not hidden:
            return items
        marks = ", ".join("?" for _ in hidden)
        rows = self.store.conn.execute(
            f"select a.problem_id, count(*), max(a.id) from attempts a where a.problem_id in ({marks}) "
            f"and not {_OTHERS_EDIT} group by a.problem_id",
            [*hidden, annotator],
        ).fetchall()
        seen = {int(problem_id): (count, latest) for problem_id, count, latest in rows}
        summaries = self.store.verdict_summaries(latest for _, latest in seen.values())
        visible = []
        for item in items:
            if item.id in hidden:
                count, latest = seen.get(item.id, (0, None))
                item = item.model_copy(update={"attempts": count, **queue_verdict(summaries.get(latest))})
            visible.append(item)
        return visible

    def visible_skip_counts(self, counts: dict[int, int], annotator: str) -> dict[int, int]:
        """Skip counts as the annotator may see them: on an overlap item they have not decided, their own only."""
        hidden = sorted(self.hidden_from(list(counts), annotator))
        if not hidden:
            return counts
        marks = ", ".join("?" for _ in hidden)
        own = dict(
            self.store.conn.execute(
                f"select problem_id, count(*) from reviews where problem_id in ({marks}) and annotator = ? "
                "and decision = 'skipped' and undone_at is null group by problem_id",
                [*hidden, annotator],
            ).fetchall()
        )
        visible = {pid: count for pid, count in counts.items() if pid not in hidden}
        return visible | own

    def claim(self, problem_id: int, holder: ClaimHolder, annotator: str, ttl_seconds: float) -> bool:
        """One of the k claims on an overlap item; False when k other annotators have decided or
        hold it, or another session of this annotator does. An annotator who decided it may
        still open it (to look back, or undo) without taking anyone's place."""
        with self.store.transaction():
            self._drop_dead_local(problem_id)
            now = utcnow()
            others = self.store.conn.execute(
                "select owner, annotator from overlap_claims where problem_id = ? and owner != ? and claim_expires >= ?",
                [problem_id, holder.owner, now],
            ).fetchall()
            if any(other == annotator for _, other in others):
                return False
            decided = self.decisions(problem_id)
            if annotator not in decided and len(set(decided) | {other for _, other in others}) >= self.policy.k:
                return False
            owner, expires, label, host, pid, started = claim_values(holder, ttl_seconds)
            self.store.conn.execute(
                "insert into overlap_claims (problem_id, owner, annotator, claim_expires, claim_label, claim_host, "
                "claim_pid, claim_started) values (?, ?, ?, ?, ?, ?, ?, ?) on conflict (problem_id, owner) do update "
                "set claim_expires = excluded.claim_expires",
                [problem_id, owner, annotator, expires, label, host, pid, started],
            )
            return True

    def renew(self, problem_id: int, holder: ClaimHolder, ttl_seconds: float) -> None:
        with self.store.transaction():
            self.store.conn.execute(
                "update overlap_claims set claim_expires = ? where problem_id = ? and owner = ?",
                [expires_in(ttl_seconds), problem_id, holder.owner],
            )

    def release(self, problem_id: int, holder: ClaimHolder) -> None:
        with self.store.transaction():
            self.store.conn.execute("delete from overlap_claims where problem_id = ? and owner = ?", [problem_id, holder.owner])

    def holders(self, problem_id: int) -> list[str]:
        """Labels of the live claims on an overlap item."""
        rows = self.store.conn.execute(
            "select coalesce(claim_label, owner) from overlap_claims where problem_id = ? and claim_expires >= ? order by 1",
            [problem_id, utcnow()],
        ).fetchall()
        return [row[0] for row in rows]

    def _drop_dead_local(self, problem_id: int) -> None:
        """Claims on the item whose holder ran on this host and is gone (a killed TUI) are free at once."""
        rows = self.store.conn.execute(
            "select owner, claim_pid, claim_started from overlap_claims where problem_id = ? and claim_host = ?",
            [problem_id, this_host()],
        ).fetchall()
        for owner, pid, started in rows:
            if pid is not None and holder_is_dead(pid, started):
                self.store.conn.execute("delete from overlap_claims where problem_id = ? and owner = ?", [problem_id, owner])

    # -- decisions -----------------------------------------------------------------------------

    def record(self, review: Review) -> int:
        """Write a decision on an overlap item (an expert's, or an adjudicator's with role
        `adjudicated`) and settle the item's state from all of them, in one transaction."""
        with self.store.transaction():
            review_id = self.store.record_review(review, move_state=False)
            self.settle(review.problem_id)
            return review_id

    def undo(self, annotator: str) -> Review | None:
        """Take back the annotator's last decision; an overlap item's state is settled again."""
        with self.store.transaction():
            review = self.store.undo_last_review(annotator)
            if review is not None and self.is_overlap(review.problem_id):
                self.settle(review.problem_id)
            return review

    def settle(self, problem_id: int) -> ProblemState:
        """The state an overlap item's decisions imply, written to it; the one rule for it."""
        state, detail = self.standing(problem_id)
        self.store.set_state(problem_id, state, detail)
        return state

    def standing(self, problem_id: int) -> tuple[ProblemState, str | None]:
        final = self.adjudication(problem_id)
        if final is not None:
            return DECISION_STATE[final.decision], final.note
        decided = self._decided(problem_id)
        if len(decided) < self.policy.k:
            return ProblemState.AWAITING_REVIEW, None
        decisions = {decision for decision, _ in decided.values()}
        if decisions == {Decision.REJECTED}:
            return ProblemState.REJECTED, None
        # Accepting different attempts (one expert's own edit, say) is a disagreement too: the
        # export takes one text, and which one must not depend on who decided last.
        if decisions == {Decision.ACCEPTED} and len({attempt_id for _, attempt_id in decided.values()}) == 1:
            return ProblemState.ACCEPTED, None
        return ProblemState.AWAITING_REVIEW, DISPUTED

    # -- what an expert may see ------------------------------------------------------------------

    def may_see_others(self, problem_id: int, annotator: str) -> bool:
        """Whether the annotator may see other experts' decisions, edits and labels on the item:
        always on other items, on an overlap item once they have decided it. Anything that shows
        other annotators' work (step labels too) asks this first."""
        if not self.is_overlap(problem_id) or annotator in self.decisions(problem_id):
            return True
        return problem_marks.has_live_mark(self.store, problem_id, annotator)  # a mark is their decision too

    def visible_to(self, history: ProblemHistory, annotator: str) -> ProblemHistory:
        """The history without other experts' decisions and edits, until this annotator has decided
        an overlap item (non-overlap items, and annotators who decided, see everything)."""
        problem_id = history.problem.id
        if problem_id is None or self.may_see_others(problem_id, annotator):
            return history
        hidden = {a.id for a in history.attempts if _others_edit(a, annotator)}
        return history.model_copy(
            update={
                "reviews": [r for r in history.reviews if r.annotator == annotator],
                "attempts": [a for a in history.attempts if a.id not in hidden],
                "critiques": [c for c in history.critiques if c.attempt_id not in hidden],
            }
        )

    def visible_rulings(self, problem_id: int, rulings: list[Ruling], annotator: str) -> list[Ruling]:
        """Rulings on the critic as the annotator may see them: on an overlap item they have not
        decided, other experts' agree/disagree are left out (the answer check's stay)."""
        if self.may_see_others(problem_id, annotator):
            return rulings
        return [r for r in rulings if r.source != RulingSource.EXPERT or r.annotator == annotator]


def team_for(store: Store, policy: OverlapPolicy | None) -> TeamReviews | None:
    return TeamReviews(store, policy) if policy is not None and policy.enabled else None
