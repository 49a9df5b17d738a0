"""Problems marked broken ("this problem is broken"): an expert's mark on a problem, not on an attempt.

Imported and bundled problems are sometimes wrong: the reference answer is wrong, the statement
is ambiguous or incomplete, it duplicates another, or it needs a figure that is missing. Rejecting
attempts would blame the model and keep the problem coming back, so the expert marks the problem:

- a mark has a kind (the presets below, or `other` with the expert's words), an annotator and a
  time; one live mark per expert and problem (marking again replaces it, the old row is kept);
- a problem with a live mark leaves the review queue (`marked=True` on the queue shows only the
  marked ones), is never claimed by `--auto` (rel_core.store's claim queries), and is left out of
  every export unless asked for (rel_core.exporters);
- unmarking sets `undone_at` / `undone_by`; nothing is deleted, so the history stays.

Overlap items (rel_core.overlap): a mark counts as that expert's decision on the item. It leaves
that expert's queue (and they may then see the others' decisions), but not the others': they see
neither the mark nor a change in their queue until they have decided themselves. Like a decision,
it takes one of the item's k places. `--auto` and exports, which are no expert, skip a marked
item at once. On an overlap item, unmarking takes back only one's own mark.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .models import utcnow

if TYPE_CHECKING:
    from .overlap import TeamReviews
    from .store import Store


class MarkKind(StrEnum):
    WRONG_REFERENCE = "wrong_reference"
    AMBIGUOUS = "ambiguous"
    INCOMPLETE = "incomplete"
    DUPLICATE = "duplicate"
    NEEDS_FIGURE = "needs_figure"
    OTHER = "other"  # the expert's own words, in the note

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


# The kinds on the dialog's number keys, in this order.
PRESET_KINDS = (
    MarkKind.WRONG_REFERENCE,
    MarkKind.AMBIGUOUS,
    MarkKind.INCOMPLETE,
    MarkKind.DUPLICATE,
    MarkKind.NEEDS_FIGURE,
)


class ProblemMark(BaseModel):
    id: int
    problem_id: int
    annotator: str
    kind: MarkKind
    note: str | None = None
    created_at: str
    undone_at: str | None = None
    undone_by: str | None = None

    def describe(self) -> str:
        """`wrong reference`, `duplicate: of #12`, or the words of an `other` mark."""
        if self.kind == MarkKind.OTHER:
            return self.note or MarkKind.OTHER.label
        return f"{self.kind.label}: {self.note}" if self.note else self.kind.label


def live_sql(alias: str = "p") -> str:
    """SQL: the problem `alias` has a live mark (the same test the store's claim queries make)."""
    return f"exists (select 1 from problem_marks m where m.problem_id = {alias}.id and m.undone_at is null)"


def available(store: Store) -> bool:
    """Whether the database has the marks table (a read-only database from before m012 has none)."""
    row = store.conn.execute("select 1 from sqlite_master where type = 'table' and name = 'problem_marks'").fetchone()
    return row is not None


# -- writing ---------------------------------------------------------------------------------------


def mark(store: Store, problem_id: int, annotator: str, kind: MarkKind | str, note: str | None = None) -> int:
    """Mark the problem broken; replaces this annotator's live mark on it. Returns the mark's id."""
    kind = MarkKind(kind)
    note = (note or "").strip() or None
    if kind == MarkKind.OTHER and note is None:
        raise ValueError("a mark of kind other needs a reason in words")
    with store.transaction():
        if store.conn.execute("select 1 from problems where id = ?", [problem_id]).fetchone() is None:
            raise KeyError(f"no problem {problem_id}")
        now = utcnow()
        store.conn.execute(
            "update problem_marks set undone_at = ?, undone_by = ? where problem_id = ? and annotator = ? and undone_at is null",
            [now, annotator, problem_id, annotator],
        )
        cursor = store.conn.execute(
            "insert into problem_marks (problem_id, annotator, kind, note, created_at) values (?, ?, ?, ?, ?)",
            [problem_id, annotator, str(kind), note, now],
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid


def unmark(store: Store, problem_id: int, annotator: str, *, everyone: bool = False) -> list[ProblemMark]:
    """Take back the annotator's live mark on the problem (`everyone`: every live mark on it);
    returns the marks taken back. The rows stay, with who took them back and when."""
    with store.transaction():
        marks = [m for m in live_marks(store, problem_id) if everyone or m.annotator == annotator]
        now = utcnow()
        for found in marks:
            store.conn.execute("update problem_marks set undone_at = ?, undone_by = ? where id = ?", [now, annotator, found.id])
        return [m.model_copy(update={"undone_at": now, "undone_by": annotator}) for m in marks]


# -- reading ---------------------------------------------------------------------------------------


def _marks(store: Store, where: str, params: list[Any]) -> list[ProblemMark]:
    if not available(store):
        return []
    cursor = store.conn.execute(f"select * from problem_marks where {where} order by id", params)
    names = [d[0] for d in cursor.description]
    return [ProblemMark.model_validate(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


def latest_live(store: Store, annotator: str) -> ProblemMark | None:
    """The annotator's latest mark still standing, on any problem (what `u` takes back)."""
    latest = "select id from problem_marks where annotator = ? and undone_at is null order by created_at desc, id desc limit 1"
    found = _marks(store, f"id = ({latest})", [annotator])
    return found[0] if found else None


def live_marks(store: Store, problem_id: int) -> list[ProblemMark]:
    return _marks(store, "problem_id = ? and undone_at is null", [problem_id])


def history(store: Store, problem_id: int) -> list[ProblemMark]:
    """Every mark ever made on the problem, the taken-back ones too, oldest first."""
    return _marks(store, "problem_id = ?", [problem_id])


def has_live_mark(store: Store, problem_id: int, annotator: str) -> bool:
    return any(m.annotator == annotator for m in live_marks(store, problem_id))


def visible_marks(store: Store, problem_id: int, annotator: str, team: TeamReviews | None) -> list[ProblemMark]:
    """The live marks this annotator may see: on an overlap item, only their own until they decided it."""
    marks = live_marks(store, problem_id)
    if team is None or team.may_see_others(problem_id, annotator):
        return marks
    return [m for m in marks if m.annotator == annotator]


class MarkCounts(BaseModel):
    """What `rel-tui status` and `rel-tui report` show of the marks."""

    problems: int = 0
    """Problems with at least one live mark."""
    by_kind: dict[str, int] = {}
    """Live marks per kind (a problem two experts marked counts under each of their kinds)."""
    by_annotator: dict[str, int] = {}


def counts(store: Store, problem_ids: set[int] | None = None) -> MarkCounts:
    """Live marks, over every problem or only `problem_ids` (the report's source filter)."""
    found = MarkCounts()
    if not available(store):
        return found
    rows = store.conn.execute("select problem_id, kind, annotator from problem_marks where undone_at is null").fetchall()
    rows = [r for r in rows if problem_ids is None or r[0] in problem_ids]
    found.problems = len({r[0] for r in rows})
    for _, kind, annotator in rows:
        found.by_kind[kind] = found.by_kind.get(kind, 0) + 1
        found.by_annotator[annotator] = found.by_annotator.get(annotator, 0) + 1
    return found


def marked_problem_ids(store: Store) -> set[int]:
    if not available(store):
        return set()
    return {int(r[0]) for r in store.conn.execute("select distinct problem_id from problem_marks where undone_at is null")}


def export_rows(store: Store) -> Iterator[dict[str, Any]]:
    """Every live mark with its problem, for whoever maintains the source dataset (`--format marks`)."""
    if not available(store):
        return
    cursor = store.conn.execute(
        "select p.id, p.hash, p.source, p.text, p.reference_answer, p.state, m.kind, m.note, m.annotator, m.created_at "
        "from problem_marks m join problems p on p.id = m.problem_id where m.undone_at is null order by p.id, m.id"
    )
    for problem_id, problem_hash, source, text, answer, state, kind, note, annotator, created_at in cursor:
        yield {
            "problem_id": problem_id,
            "problem_hash": problem_hash,
            "source": source,
            "problem": text,
            "reference_answer": answer,
            "state": state,
            "kind": kind,
            "note": note,
            "annotator": annotator,
            "marked_at": created_at,
        }


# -- the review queue ------------------------------------------------------------------------------

# As rel_core.overlap counts them: annotators with a live accept or reject of their own on `p`.
_REVIEW_DECIDERS = (
    "select r.annotator from reviews r where r.problem_id = p.id and r.undone_at is null "
    "and r.role is null and r.decision in ('accepted', 'rejected')"
)
_MINE = "exists (select 1 from problem_marks m where m.problem_id = p.id and m.undone_at is null and m.annotator = ?)"


def queue_condition(
    annotator: str, team: TeamReviews | None, marked: bool = False, search: str | None = None
) -> tuple[str, list[Any]] | None:
    """For `Store.queue`: the annotator's queue without marked problems (with `marked`: only the
    marked ones they may see), together with the overlap rule of `team` (and its search rule)."""
    if team is None:
        return (live_sql(), []) if marked else (f"not {live_sql()}", [])
    overlap, overlap_params = team.policy.sql("p")
    if marked:  # overlap items: their own mark, or any once they decided it themselves
        sql = f"(not ({overlap}) and {live_sql()}) or (({overlap}) and ({_MINE} or ({live_sql()} and exists ({_REVIEW_DECIDERS} and r.annotator = ?))))"
        return sql, [*overlap_params, *overlap_params, annotator, annotator]
    deciders = (
        f"(select count(distinct r.annotator) from reviews r where r.problem_id = p.id and r.undone_at is null"
        f" and r.role is null and r.decision in ('accepted', 'rejected'))"
        f" + (select count(distinct m.annotator) from problem_marks m where m.problem_id = p.id and m.undone_at is null"
        f" and m.annotator not in ({_REVIEW_DECIDERS}))"
    )
    hide = f"(not ({overlap}) and not {live_sql()}) or (({overlap}) and not {_MINE} and {deciders} < ?)"
    params = [*overlap_params, *overlap_params, annotator, team.policy.k]
    team_condition = team.queue_condition(annotator, search)
    if team_condition is None:
        return hide, params
    return f"({team_condition[0]}) and ({hide})", [*team_condition[1], *params]
