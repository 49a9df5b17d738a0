"""Per-step labels and rulings on the critic: what an expert says about each step of a draft.

The core service the review screen's keys call; nothing here knows about Textual.

- A step is (attempt, step number by rel_core.steps) plus the hash of the step's text. A label
  whose hash no longer matches the text at that number is stale and never applied to other text.
- Ratings are PRM800K's: good +1, neutral 0, bad -1. "First error here" rates the step -1 and
  clears this annotator's ratings of every later step (PRM800K phase 2: labelling stops at the
  first error). A step can also be flagged and carry a short comment.
- A ruling says whether an LLM critique's verdict, or its first wrong step, stands. Experts rule
  with a key; the answer check's disagreements with the critic are recorded automatically
  (`record_check_disagreement`, called where critiques are committed).
- Every write is one transaction with the annotator and the time. `undo_last_label` marks the
  annotator's latest action undone; nothing is deleted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import IntEnum, StrEnum
from typing import Any

from pydantic import BaseModel

from .models import (
    Attempt,
    Critique,
    CritiqueSource,
    Review,
    Verdict,
    content_hash,
    require_id,
    utcnow,
)
from .steps import Step, split_steps
from .store import Store, inserted_id
from .verdicts import critic_judgement, latest

COMMENT_MAX_CHARS = 2000  # a short note on a step, not an essay
LABEL_TABLES = ("label_actions", "step_labels", "critic_rulings")
ANSWER_CHECK_ANNOTATOR = "answer_check"  # who the automatic rulings are by


class LabelError(Exception):
    """A label that cannot be written as asked; the message is one line."""


class Rating(IntEnum):
    BAD = -1
    NEUTRAL = 0
    GOOD = 1


class ActionKind(StrEnum):
    RATE = "rate"
    FIRST_ERROR = "first_error"
    FLAG = "flag"
    COMMENT = "comment"
    RULE = "rule"


class RulingAspect(StrEnum):
    VERDICT = "verdict"
    FIRST_ERROR_STEP = "first_error_step"


class RulingSource(StrEnum):
    EXPERT = "expert"
    ANSWER_CHECK = "answer_check"


class StepLabel(BaseModel):
    """One annotator's standing labels on one step (what the gutter shows)."""

    attempt_id: int
    step: int
    step_hash: str
    annotator: str
    rating: Rating | None = None
    flagged: bool = False
    comment: str | None = None
    updated_at: str


class AttemptLabels(BaseModel):
    """One annotator's labels on one attempt, against the attempt's text as it is now."""

    attempt_id: int
    annotator: str
    steps: dict[int, StepLabel]
    step_count: int
    stale: int = 0
    """Labels whose step text has changed since: kept in the database, not applied."""
    first_at: str | None = None
    last_at: str | None = None

    @property
    def first_error(self) -> int | None:
        """The first step rated -1, if any."""
        bad = [n for n, label in self.steps.items() if label.rating == Rating.BAD]
        return min(bad) if bad else None

    @property
    def rated(self) -> list[int]:
        return sorted(n for n, label in self.steps.items() if label.rating is not None)


class LabelAction(BaseModel):
    """One undoable action, as `undo_last_label` reports what it took back."""

    id: int
    attempt_id: int
    annotator: str
    kind: ActionKind
    steps: list[int]
    created_at: str
    undone_at: str | None = None


class Ruling(BaseModel):
    id: int
    critique_id: int
    attempt_id: int
    aspect: RulingAspect
    agrees: bool
    correct_step: int | None = None
    source: RulingSource
    annotator: str | None = None
    check_critique_id: int | None = None
    created_at: str

    @property
    def label_source(self) -> str:
        """Where the ruling comes from, as exports name it: `expert:<annotator>` or `answer_check`."""
        return f"expert:{self.annotator}" if self.source == RulingSource.EXPERT else "answer_check"


# -- writing labels ------------------------------------------------------------------------------


def label_step(
    store: Store, attempt_id: int, step: int, rating: Rating | int, annotator: str, *, step_hash: str | None = None
) -> int:
    """Rate one step good / neutral / bad (+1 / 0 / -1); returns the action's id."""
    rating = _rating(rating)
    with store.transaction():
        target = _step_of(store, attempt_id, step, step_hash)
        action_id = _action(store, attempt_id, annotator, ActionKind.RATE)
        _set(store, action_id, attempt_id, target, "rating", rating=int(rating))
    return action_id


def mark_first_error(store: Store, attempt_id: int, step: int, annotator: str, *, step_hash: str | None = None) -> int:
    """Rate the step -1 and clear this annotator's ratings of the steps after it (PRM800K phase 2)."""
    with store.transaction():
        target = _step_of(store, attempt_id, step, step_hash)
        action_id = _action(store, attempt_id, annotator, ActionKind.FIRST_ERROR)
        _set(store, action_id, attempt_id, target, "rating", rating=int(Rating.BAD))
        current = attempt_labels(store, attempt_id, annotator)
        for later in split_steps(_attempt(store, attempt_id).text)[step:]:
            if later.number in current.steps and current.steps[later.number].rating is not None:
                _set(store, action_id, attempt_id, later, "rating", rating=None)
    return action_id


def flag_step(
    store: Store, attempt_id: int, step: int, annotator: str, flagged: bool = True, *, step_hash: str | None = None
) -> int:
    """Flag a step (or take the flag off) for a second look."""
    with store.transaction():
        target = _step_of(store, attempt_id, step, step_hash)
        action_id = _action(store, attempt_id, annotator, ActionKind.FLAG)
        _set(store, action_id, attempt_id, target, "flagged", flagged=int(flagged))
    return action_id


def toggle_flag(store: Store, attempt_id: int, step: int, annotator: str, *, step_hash: str | None = None) -> bool:
    """Flip the step's flag for this annotator; returns whether it is now flagged."""
    with store.transaction():
        label = attempt_labels(store, attempt_id, annotator).steps.get(step)
        flagged = not (label is not None and label.flagged)
        flag_step(store, attempt_id, step, annotator, flagged, step_hash=step_hash)
    return flagged


def comment_step(
    store: Store, attempt_id: int, step: int, annotator: str, comment: str | None, *, step_hash: str | None = None
) -> int:
    """Attach a short comment to a step; an empty or None comment removes it."""
    text = (comment or "").strip() or None
    if text is not None and len(text) > COMMENT_MAX_CHARS:
        raise LabelError(f"a step comment is at most {COMMENT_MAX_CHARS} characters (this one has {len(text)})")
    with store.transaction():
        target = _step_of(store, attempt_id, step, step_hash)
        action_id = _action(store, attempt_id, annotator, ActionKind.COMMENT)
        _set(store, action_id, attempt_id, target, "comment", comment=text)
    return action_id


def undo_last_label(store: Store, annotator: str) -> LabelAction | None:
    """Take back this annotator's latest live label or ruling (marked undone, not deleted)."""
    with store.transaction():
        action = last_label_action(store, annotator)
        if action is None:
            return None
        action.undone_at = utcnow()
        store.conn.execute("update label_actions set undone_at = ? where id = ?", [action.undone_at, action.id])
    return action


def last_label_action(store: Store, annotator: str) -> LabelAction | None:
    """What `undo_last_label` would take back, without taking it back."""
    if not has_label_tables(store):
        return None
    rows = store.rows(
        "select * from label_actions where annotator = ? and undone_at is null order by id desc limit 1", [annotator]
    )
    if not rows:
        return None
    steps = [r[0] for r in store.conn.execute("select step from step_labels where action_id = ? order by id", [rows[0]["id"]])]
    return LabelAction(**rows[0], steps=steps)


def undo_latest(store: Store, annotator: str) -> LabelAction | Review | None:
    """One undo key for both: take back this annotator's latest label action or review decision,
    whichever came last; returns what was undone."""
    with store.transaction():
        action = last_label_action(store, annotator)
        review = store.conn.execute(
            "select max(created_at) from reviews where annotator = ? and undone_at is null", [annotator]
        ).fetchone()[0]
        if action is not None and (review is None or action.created_at >= review):
            return undo_last_label(store, annotator)
        return store.undo_last_review(annotator)


# -- rulings on the critic -----------------------------------------------------------------------


def rule_on_critique(
    store: Store,
    critique_id: int,
    aspect: RulingAspect | str,
    agrees: bool,
    annotator: str,
    *,
    correct_step: int | None = None,
) -> int:
    """An expert's agree / disagree on an LLM critique's verdict or first wrong step; returns the
    action's id. `correct_step`: on a disagreeing step ruling, the step the expert finds first wrong."""
    aspect = RulingAspect(aspect)
    with store.transaction():
        critique = _critique(store, critique_id)
        attempt_id = require_id(critique.attempt_id, "critique's attempt")
        if correct_step is not None:
            _step_of(store, attempt_id, correct_step, None)
        action_id = _action(store, attempt_id, annotator, ActionKind.RULE)
        _insert_ruling(
            store,
            critique_id=critique_id,
            attempt_id=critique.attempt_id,
            aspect=str(aspect),
            agrees=int(agrees),
            correct_step=correct_step,
            source=str(RulingSource.EXPERT),
            annotator=annotator,
            action_id=action_id,
        )
    return action_id


def expert_ruling(store: Store, critique_id: int, aspect: RulingAspect | str) -> Ruling | None:
    """The critique's standing expert ruling on one aspect (the latest live one, any annotator)."""
    return standing_ruling(rulings(store, [critique_id]), critique_id, RulingAspect(aspect), RulingSource.EXPERT)


def toggle_ruling(store: Store, critique_id: int, aspect: RulingAspect | str, annotator: str) -> bool:
    """One key per aspect: agree when there is no standing ruling or it disagrees, else disagree.
    Returns the ruling now standing (True: agree)."""
    with store.transaction():
        standing = expert_ruling(store, critique_id, aspect)
        agrees = standing is None or not standing.agrees
        rule_on_critique(store, critique_id, aspect, agrees, annotator)
    return agrees


def check_disagrees(critiques: Sequence[Critique], critique: Critique) -> Critique | None:
    """The answer check that contradicts this LLM critique's own verdict, if there is one: the
    attempt's latest check and the critic both decided, and differently. `critiques`: the attempt's."""
    check = latest(critiques, CritiqueSource.CHECK)
    if check is None or check.verdict == Verdict.UNKNOWN or critique.source != CritiqueSource.LLM:
        return None
    own = critic_judgement(critique).verdict
    return check if own != Verdict.UNKNOWN and own != check.verdict else None


def record_check_disagreement(store: Store, attempt_id: int) -> list[int]:
    """Record, once, each disagreement of the attempt's answer check with its LLM critiques;
    returns the new rulings' ids. Called where a check or a critique is committed."""
    if not has_label_tables(store):
        return []
    written = []
    with store.transaction():
        critiques = [
            Critique.model_validate(r)
            for r in store.rows("select * from critiques where attempt_id = ? order by id", [attempt_id])
        ]
        for critique in critiques:
            check = check_disagrees(critiques, critique)
            if check is None:
                continue
            ruling_id = _insert_ruling(
                store,
                critique_id=critique.id,
                attempt_id=attempt_id,
                aspect=str(RulingAspect.VERDICT),
                agrees=0,
                source=str(RulingSource.ANSWER_CHECK),
                annotator=ANSWER_CHECK_ANNOTATOR,
                check_critique_id=check.id,
                ignore_repeat=True,
            )
            if ruling_id:
                written.append(ruling_id)
    return written


# -- reading -------------------------------------------------------------------------------------


def has_label_tables(store: Store) -> bool:
    """False on a database from before m006 opened read-only (exports and report still work)."""
    names = set(store.db.table_names())
    return all(table in names for table in LABEL_TABLES)


def attempt_labels(store: Store, attempt_id: int, annotator: str) -> AttemptLabels:
    """This annotator's standing labels on the attempt, per step number (the gutter marks)."""
    return labels_from_rows(_attempt(store, attempt_id), annotator, _label_rows(store, attempt_id, annotator))


def labellers(store: Store, attempt_id: int) -> list[str]:
    """Who has live step labels on the attempt, in the order they started."""
    attempt = store.get_attempt(attempt_id)
    return [] if attempt is None else [labels.annotator for labels in all_attempt_labels(store, attempt)]


def all_attempt_labels(store: Store, attempt: Attempt) -> list[AttemptLabels]:
    """Every annotator's labels on the attempt (those with at least one standing label)."""
    return [] if attempt.id is None else labels_of_attempts(store, [attempt]).get(attempt.id, [])


def labels_of_attempts(store: Store, attempts: Sequence[Attempt]) -> dict[int, list[AttemptLabels]]:
    """Every annotator's standing labels per attempt id, in one query (exports and the report read
    a problem's attempts together). Annotators in the order they started; attempts with none left out."""
    if not attempts or not has_label_tables(store):
        return {}
    marks = ", ".join("?" for _ in attempts)
    rows = store.rows(
        "select s.*, a.annotator, a.created_at from step_labels s join label_actions a on a.id = s.action_id "
        f"where s.attempt_id in ({marks}) and a.undone_at is null order by s.id",
        [a.id for a in attempts],
    )
    grouped: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        grouped.setdefault(row["attempt_id"], {}).setdefault(row["annotator"], []).append(row)
    found: dict[int, list[AttemptLabels]] = {}
    for attempt in attempts:
        if attempt.id is None:  # never stored, so nothing labels it
            continue
        by_annotator = grouped.get(attempt.id, {})
        folded = [labels_from_rows(attempt, who, who_rows) for who, who_rows in by_annotator.items()]
        if kept := [labels for labels in folded if labels.steps]:
            found[attempt.id] = kept
    return found


def rulings(store: Store, critique_ids: Sequence[int]) -> list[Ruling]:
    """The live rulings on these critiques, oldest first (undone expert rulings left out)."""
    if not critique_ids or not has_label_tables(store):
        return []
    marks = ", ".join("?" for _ in critique_ids)
    rows = store.rows(
        "select r.* from critic_rulings r left join label_actions a on a.id = r.action_id "
        f"where r.critique_id in ({marks}) and a.undone_at is null order by r.id",
        list(critique_ids),
    )
    return [Ruling.model_validate(r) for r in rows]


def standing_ruling(
    found: Sequence[Ruling], critique_id: int | None, aspect: RulingAspect, source: RulingSource
) -> Ruling | None:
    """The latest live ruling of one source on one aspect of a critique."""
    matching = [r for r in found if r.critique_id == critique_id and r.aspect == aspect and r.source == source]
    return matching[-1] if matching else None


_STEP_NUMBER = re.compile(r"\d{1,9}")


def step_number(first_error_step: str | None) -> int | None:
    """The step a critic names ("3", "Step 3", "step 3."), as a number; None if it names none."""
    found = _STEP_NUMBER.search(first_error_step or "")
    return int(found.group()) if found else None


def labels_from_rows(attempt: Attempt, annotator: str, rows: Sequence[dict[str, Any]]) -> AttemptLabels:
    """Fold label rows (oldest first) into the standing labels of the attempt's current steps."""
    steps = {s.number: s for s in split_steps(attempt.text)}
    hashes = {n: step_hash(s) for n, s in steps.items()}
    current: dict[int, StepLabel] = {}
    stale = 0
    for row in rows:
        number = row["step"]
        if hashes.get(number) != row["step_hash"]:
            stale += 1
            continue
        label = current.get(number) or StepLabel(
            attempt_id=attempt.id, step=number, step_hash=row["step_hash"], annotator=annotator, updated_at=row["created_at"]
        )
        value = {"rating": row["rating"], "flagged": bool(row["flagged"]), "comment": row["comment"]}[row["field"]]
        current[number] = label.model_copy(update={row["field"]: value, "updated_at": row["created_at"]})
    kept = {n: label for n, label in current.items() if label.rating is not None or label.flagged or label.comment}
    times = [row["created_at"] for row in rows]
    return AttemptLabels(
        attempt_id=attempt.id,
        annotator=annotator,
        steps=dict(sorted(kept.items())),
        step_count=len(steps),
        stale=stale,
        first_at=min(times) if times else None,
        last_at=max(times) if times else None,
    )


def step_hash(step: Step) -> str:
    """The identity of a step's text (whitespace-normalised, as attempts are hashed)."""
    return content_hash(step.text)


# -- plumbing ------------------------------------------------------------------------------------


def _rating(value: Rating | int) -> Rating:
    try:
        return Rating(int(value))
    except ValueError:
        raise LabelError(f"a step rating is -1, 0 or +1, not {value!r}") from None


def _attempt(store: Store, attempt_id: int) -> Attempt:
    attempt = store.get_attempt(attempt_id)
    if attempt is None:
        raise LabelError(f"no attempt {attempt_id}")
    return attempt


def _critique(store: Store, critique_id: int) -> Critique:
    rows = store.rows("select * from critiques where id = ?", [critique_id])
    if not rows:
        raise LabelError(f"no critique {critique_id}")
    critique = Critique.model_validate(rows[0])
    if critique.source != CritiqueSource.LLM:
        raise LabelError(
            f"critique {critique_id} is not an LLM critic's (it is the {critique.source}'s); rulings are on the critic"
        )
    return critique


def _step_of(store: Store, attempt_id: int, number: int, expected_hash: str | None) -> Step:
    steps = split_steps(_attempt(store, attempt_id).text)
    if not 1 <= number <= len(steps):
        raise LabelError(f"attempt {attempt_id} has {len(steps)} steps; there is no step {number}")
    step = steps[number - 1]
    if expected_hash is not None and expected_hash != step_hash(step):
        raise LabelError(f"step {number} of attempt {attempt_id} is no longer the text shown; reload it and label again")
    return step


def _action(store: Store, attempt_id: int, annotator: str, kind: ActionKind) -> int:
    if not annotator or not annotator.strip():
        raise LabelError("a label needs an annotator name")
    cursor = store.conn.execute(
        "insert into label_actions (attempt_id, annotator, kind, created_at) values (?, ?, ?, ?)",
        [attempt_id, annotator, str(kind), utcnow()],
    )
    return inserted_id(cursor)


def _set(store: Store, action_id: int, attempt_id: int, step: Step, field: str, **value: Any) -> None:
    store.conn.execute(
        "insert into step_labels (action_id, attempt_id, step, step_hash, field, rating, flagged, comment) "
        "values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            action_id,
            attempt_id,
            step.number,
            step_hash(step),
            field,
            value.get("rating"),
            value.get("flagged"),
            value.get("comment"),
        ],
    )


def _insert_ruling(store: Store, *, ignore_repeat: bool = False, **row: Any) -> int | None:
    row["created_at"] = utcnow()
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    verb = "insert or ignore" if ignore_repeat else "insert"
    cursor = store.conn.execute(f"{verb} into critic_rulings ({columns}) values ({marks})", list(row.values()))
    return inserted_id(cursor) if cursor.rowcount else None


def _label_rows(store: Store, attempt_id: int, annotator: str) -> list[dict[str, Any]]:
    if not has_label_tables(store):
        return []
    return store.rows(
        "select s.*, a.created_at from step_labels s join label_actions a on a.id = s.action_id "
        "where s.attempt_id = ? and a.annotator = ? and a.undone_at is null order by s.id",
        [attempt_id, annotator],
    )
