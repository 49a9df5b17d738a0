"""Adjudication: the final word on overlap items whose experts disagreed.

An overlap item that k experts decided differently stays awaiting review with the detail
`overlap.DISPUTED` and leaves the experts' queue. Here an adjudicator (config `team.adjudicators`)
sees every expert's decision side by side, with the attempt each one decided on and their labels
on it (step labels, rulings on the critic), and records the final decision: a review with role
`adjudicated`. It settles the item's state, and exports use it (`ProblemHistory.accepted_attempt`);
agreement figures leave it out (it is not independent).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from . import labels
from .claims import ClaimHolder
from .config import TeamSettings
from .guidelines import version_in_force
from .labels import Ruling, StepLabel
from .models import Attempt, CritiqueSource, Decision, Problem, ProblemHistory, ProblemState, Review
from .overlap import ADJUDICATED, DISPUTED, OverlapPolicy, TeamReviews
from .store import Store


class NotAnAdjudicator(ValueError):
    """The annotator is not in `team.adjudicators`; one line."""


class ExpertSide(BaseModel):
    """One expert's decision on a disputed item, as the adjudicator sees it."""

    annotator: str
    decision: Decision
    note: str | None = None
    attempt: Attempt | None = None
    """The attempt the expert decided on (an edit of their own, possibly)."""
    seconds_spent: float = 0.0
    step_labels: list[StepLabel] = Field(default_factory=list)
    """The expert's standing labels on the steps of that attempt, in step order."""
    rulings: list[Ruling] = Field(default_factory=list)
    """The expert's standing agree / disagree on the LLM critiques of that attempt."""


class Dispute(BaseModel):
    problem: Problem
    sides: list[ExpertSide]


class Adjudication:
    """The adjudication queue and its decisions, on a store, for one adjudicator."""

    def __init__(self, team: TeamReviews, adjudicators: Sequence[str], adjudicator: str, guidelines: Path | None = None):
        """`guidelines`: review.guidelines, whose version is recorded on each final word, as on the experts' decisions."""
        if adjudicator not in adjudicators:
            raise NotAnAdjudicator(f"{adjudicator!r} is not an adjudicator: add the name to team.adjudicators in the config")
        self.team = team
        self.store = team.store
        self.adjudicator = adjudicator
        self.guidelines = guidelines

    @classmethod
    def for_settings(cls, store: Store, team: TeamSettings, adjudicator: str, guidelines: Path | None = None) -> Adjudication:
        """From config `[team]`; NotAnAdjudicator if `adjudicator` is not listed there."""
        return cls(TeamReviews(store, OverlapPolicy.from_settings(team)), team.adjudicators, adjudicator, guidelines)

    def queue(self, after_id: int = 0, limit: int = 100) -> list[int]:
        """Disputed overlap items with no final word yet, in id order after `after_id`."""
        found: list[int] = []
        while len(found) < limit:
            rows = self.store.conn.execute(
                "select id from problems where id > ? and state = ? and state_detail = ? order by id limit ?",
                [after_id, str(ProblemState.AWAITING_REVIEW), DISPUTED, limit],
            ).fetchall()
            if not rows:
                break
            # `settle` writes the detail; check it still holds (an expert may have undone since).
            found += [int(r[0]) for r in rows if self.team.standing(int(r[0])) == (ProblemState.AWAITING_REVIEW, DISPUTED)]
            if len(rows) < limit:
                break
            after_id = int(rows[-1][0])
        return found[:limit]

    def dispute(self, problem_id: int) -> Dispute | None:
        """Every expert's standing decision on the item, side by side (in annotator order)."""
        history = self.store.history(problem_id)
        if history is None:
            return None
        attempts = {a.id: a for a in history.attempts}
        latest: dict[str, Review] = {}
        for review in history.reviews:
            if review.undone_at is None and review.role is None and review.decision != Decision.SKIPPED:
                latest[review.annotator] = review
        sides = [
            self._side(name, review, attempts.get(review.attempt_id) if review.attempt_id is not None else None, history)
            for name, review in sorted(latest.items())
        ]
        return Dispute(problem=history.problem, sides=sides)

    def _side(self, name: str, review: Review, attempt: Attempt | None, history: ProblemHistory) -> ExpertSide:
        side = ExpertSide(
            annotator=name, decision=review.decision, note=review.note, attempt=attempt, seconds_spent=review.seconds_spent
        )
        if attempt is None or attempt.id is None:
            return side
        steps = labels.attempt_labels(self.store, attempt.id, name).steps
        critiques = [c.id for c in history.critiques_for(attempt.id) if c.source == CritiqueSource.LLM and c.id is not None]
        theirs = [r for r in labels.rulings(self.store, critiques) if r.annotator == name]
        standing = [
            ruling
            for critique_id in critiques
            for aspect in labels.RulingAspect
            if (ruling := labels.standing_ruling(theirs, critique_id, aspect, labels.RulingSource.EXPERT)) is not None
        ]
        return side.model_copy(update={"step_labels": [steps[n] for n in sorted(steps)], "rulings": standing})

    def decide(self, problem_id: int, decision: Decision, attempt_id: int | None, note: str | None = None) -> int:
        """Record the final decision; the item's state follows it."""
        if decision not in (Decision.ACCEPTED, Decision.REJECTED):
            raise ValueError("an adjudication accepts or rejects")
        review = Review(
            problem_id=problem_id,
            decision=decision,
            attempt_id=attempt_id,
            annotator=self.adjudicator,
            note=note or None,
            role=ADJUDICATED,
            guideline_version=version_in_force(self.guidelines),
        )
        return self.team.record(review)

    def side_final(self, problem_id: int, side: ExpertSide) -> int:
        """Make one expert's decision (and the attempt they decided on) the final one."""
        note = side.note if side.decision == Decision.REJECTED else None
        return self.decide(problem_id, side.decision, side.attempt.id if side.attempt else None, note)

    def claim(self, problem_id: int, holder: ClaimHolder, ttl_seconds: float) -> bool:
        """One adjudicator at a time on an item: the single claim (the experts hold overlap claims)."""
        return self.store.claim(problem_id, holder, ttl_seconds)

    def release(self, problem_id: int, holder: ClaimHolder) -> None:
        self.store.release(problem_id, holder)

    def undo(self) -> Review | None:
        return self.team.undo(self.adjudicator)
