"""Inter-annotator agreement: Cohen's kappa and Krippendorff's alpha, per pair and overall.

Pure functions on `(item_key, annotator, label)` triples, so any source works: the experts'
accept/reject decisions (`decision_ratings`), per-step labels, imported labels.

- Cohen's kappa (Cohen 1960), per pair: κ = (p_o − p_e) / (1 − p_e) over the items both rated,
  unweighted (every disagreement counts the same). Overall, with more than two annotators, it is
  Light's kappa: the mean of the pairwise kappas that are defined.
- Krippendorff's alpha (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"):
  α = 1 − D_o / D_e from the coincidence matrix, any number of annotators, missing ratings
  allowed (items rated by fewer than two are left out). Accept/reject is nominal; per-step labels
  (−1 / 0 / +1, as in PRM800K) are ordinal: they are ordered (bad < neutral < good), but nobody
  claims "neutral" sits exactly half-way, which the interval metric would assume.

A figure is None where it is undefined: fewer than one item rated by two, or no variation at all
(every label the same: chance agreement is 1 and the ratio is 0/0).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from enum import StrEnum
from itertools import combinations

from pydantic import BaseModel

Label = Hashable
Rating = tuple[Hashable, str, Label]
"""(item key, annotator, label): one annotator's label on one item (a problem, or a problem's step)."""


class Metric(StrEnum):
    NOMINAL = "nominal"
    ORDINAL = "ordinal"
    INTERVAL = "interval"


def cohen_kappa(pairs: Sequence[tuple[Label, Label]]) -> float | None:
    """Cohen's kappa of two annotators from their labels on the same items, one pair per item."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    chance = sum(first[label] * second[label] for label in first) / (n * n)
    if chance >= 1.0:
        return None
    return (observed - chance) / (1.0 - chance)


def krippendorff_alpha(units: Iterable[Sequence[Label]], metric: Metric = Metric.NOMINAL) -> float | None:
    """Krippendorff's alpha from the labels each unit received (one per annotator who rated it)."""
    coincidences: dict[tuple[Label, Label], float] = defaultdict(float)
    for values in units:
        m = len(values)
        if m < 2:
            continue  # unpairable: a single rating says nothing about agreement
        for i, c in enumerate(values):
            for j, k in enumerate(values):
                if i != j:
                    coincidences[(c, k)] += 1.0 / (m - 1)
    totals: dict[Label, float] = defaultdict(float)
    for (c, _), count in coincidences.items():
        totals[c] += count
    n = sum(totals.values())
    if n <= 1:
        return None
    delta = _distance(metric, totals)
    observed = sum(count * delta(c, k) for (c, k), count in coincidences.items())
    expected = sum(totals[c] * totals[k] * delta(c, k) for c in totals for k in totals) / (n - 1)
    if expected == 0:
        return None
    return 1.0 - observed / expected


def _distance(metric: Metric, totals: dict[Label, float]):
    """The squared difference function δ²(c, k) of the metric (Krippendorff 2011, section E)."""
    if metric is Metric.NOMINAL:
        return lambda c, k: 0.0 if c == k else 1.0
    if metric is Metric.INTERVAL:
        return lambda c, k: (float(c) - float(k)) ** 2
    ranks = sorted(totals)  # type: ignore[type-var]  # ordinal labels are orderable; the Label alias says only Hashable
    position = {value: index for index, value in enumerate(ranks)}
    cumulative = [0.0]
    for value in ranks:
        cumulative.append(cumulative[-1] + totals[value])

    def ordinal(c: Label, k: Label) -> float:
        low, high = sorted((position[c], position[k]))
        between = cumulative[high + 1] - cumulative[low]  # n_g summed over ranks low..high
        return (between - (totals[ranks[low]] + totals[ranks[high]]) / 2.0) ** 2

    return ordinal


class Agreement(BaseModel):
    """Agreement among some annotators (a pair, or everyone) on the items at least two of them rated."""

    annotators: list[str]
    items: int
    """Items behind the figures: rated by both (a pair) or by at least two (overall)."""
    percent_agreement: float | None
    """Share of those items on which the annotators gave the same label (all of them, overall)."""
    kappa: float | None
    """Cohen's kappa (a pair); Light's kappa, the mean of the pairs' kappas (overall)."""
    alpha: float | None
    """Krippendorff's alpha with the report's metric."""


class AgreementReport(BaseModel):
    """Agreement on one kind of label: per pair of annotators and overall."""

    subject: str
    """What was labelled, e.g. "accept/reject" or "step labels"."""
    metric: Metric
    annotators: list[str]
    overall: Agreement
    pairs: list[Agreement]


def _by_item(ratings: Iterable[Rating]) -> dict[Hashable, dict[str, Label]]:
    """item → annotator → label; a later rating of the same item by the same annotator replaces the earlier."""
    items: dict[Hashable, dict[str, Label]] = defaultdict(dict)
    for item, annotator, label in ratings:
        items[item][annotator] = label
    return items


def pair_agreement(items: dict[Hashable, dict[str, Label]], a: str, b: str, metric: Metric) -> Agreement:
    pairs = [(labels[a], labels[b]) for labels in items.values() if a in labels and b in labels]
    return Agreement(
        annotators=[a, b],
        items=len(pairs),
        percent_agreement=sum(x == y for x, y in pairs) / len(pairs) if pairs else None,
        kappa=cohen_kappa(pairs),
        alpha=krippendorff_alpha(([x, y] for x, y in pairs), metric),
    )


def agreement_report(ratings: Iterable[Rating], subject: str, metric: Metric = Metric.NOMINAL) -> AgreementReport:
    """Per pair of annotators and overall, with the number of items behind each figure."""
    items = _by_item(ratings)
    annotators = sorted({annotator for labels in items.values() for annotator in labels})
    pairs = [pair_agreement(items, a, b, metric) for a, b in combinations(annotators, 2)]
    shared = [list(labels.values()) for labels in items.values() if len(labels) >= 2]
    kappas = [p.kappa for p in pairs if p.kappa is not None]
    overall = Agreement(
        annotators=annotators,
        items=len(shared),
        percent_agreement=sum(len(set(v)) == 1 for v in shared) / len(shared) if shared else None,
        kappa=sum(kappas) / len(kappas) if kappas else None,
        alpha=krippendorff_alpha(shared, metric),
    )
    return AgreementReport(subject=subject, metric=metric, annotators=annotators, overall=overall, pairs=pairs)


# -- sources --------------------------------------------------------------------------------

_DECISIONS_SQL = """
    select r.problem_id, r.annotator, r.decision from reviews r
    where r.undone_at is null and r.decision in ('accepted', 'rejected') {extra}
      and r.id = (select max(r2.id) from reviews r2 where r2.problem_id = r.problem_id
                  and r2.annotator = r.annotator and r2.undone_at is null
                  and r2.decision in ('accepted', 'rejected') {extra2})
    order by r.problem_id, r.annotator
"""


def decision_ratings(conn) -> list[Rating]:
    """Each annotator's latest live accept or reject of each problem (skips and undone decisions
    left out; an adjudicator's final word is not an independent rating, so it is left out too)."""
    columns = {row[1] for row in conn.execute("pragma table_info(reviews)")}
    extra = "and r.role is null" if "role" in columns else ""
    extra2 = "and r2.role is null" if "role" in columns else ""
    rows = conn.execute(_DECISIONS_SQL.format(extra=extra, extra2=extra2)).fetchall()
    return [(int(problem_id), str(annotator), str(decision)) for problem_id, annotator, decision in rows]


def decision_report(conn) -> AgreementReport:
    """Agreement on accept/reject (nominal)."""
    return agreement_report(decision_ratings(conn), "accept/reject", Metric.NOMINAL)


def step_label_report(ratings: Iterable[Rating]) -> AgreementReport:
    """Agreement on per-step labels (−1 / 0 / +1, ordinal) from `((problem, attempt, step), annotator, label)`
    triples: only steps that two annotators both labelled count, as everywhere here."""
    return agreement_report(ratings, "step labels", Metric.ORDINAL)


# Each annotator's standing rating of each step: the latest live `rating` row (a null one clears it).
# A step is keyed by its attempt, number and text hash, so two labels pair only on the same text.
_STEP_RATINGS_SQL = """
    select s.attempt_id, s.step, s.step_hash, a.annotator, s.rating
    from step_labels s join label_actions a on a.id = s.action_id
    where a.undone_at is null and s.field = 'rating'
      and s.id = (select max(s2.id) from step_labels s2 join label_actions a2 on a2.id = s2.action_id
                  where s2.attempt_id = s.attempt_id and s2.step = s.step and s2.step_hash = s.step_hash
                    and s2.field = 'rating' and a2.annotator = a.annotator and a2.undone_at is null)
    order by s.attempt_id, s.step
"""


def step_ratings(conn) -> list[Rating] | None:
    """Per-step ratings from the `step_labels` table (rel_core/labels.py, migration m006), or None
    where the database has no such table."""
    tables = {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}
    if not {"step_labels", "label_actions"} <= tables:
        return None
    return [
        ((int(attempt_id), int(step), str(step_hash)), str(annotator), int(rating))
        for attempt_id, step, step_hash, annotator, rating in conn.execute(_STEP_RATINGS_SQL)
        if rating is not None
    ]


def reports(conn) -> list[AgreementReport]:
    """Agreement on accept/reject and, where the database holds step labels, on those."""
    found = [decision_report(conn)]
    steps = step_ratings(conn)
    if steps is not None:
        found.append(step_label_report(steps))
    return found
