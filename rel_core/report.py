"""How the annotation went: the critic against the experts and the answer check, the generator,
the annotators, and what a verified worked solution cost. `rel-tui report` prints it.

Definitions (each figure is None where nothing could be compared, never a guessed 0):

- **Critic**, per critic model, per LLM critique (its own verdict, rel_core.verdicts.critic_judgement;
  critiques whose own verdict is unknown are left out). "Incorrect" is the positive class:
  precision = TP / (TP + FP), recall = TP / (TP + FN).
  - *against experts*: the truth is the critique's latest expert ruling on its verdict (agree: the
    critic's verdict; disagree: the other one). Critiques nobody ruled on are left out.
  - *against the answer check*: the truth is the attempt's latest decided answer check. Only
    critiques written before any decided check of their attempt count: the loop tells the critic
    a decided check's verdict, and agreement it was told is no evidence (`told` counts them).
  - *step accuracy* (experts only; the check knows no steps): of the critiques that say incorrect
    and name a step, the share whose step is right: the expert's ruling on the step where there is
    one, else whether it is the first step an expert rated -1. Left out when neither exists.
- **Generator**, per model of each fresh generation: first-try accuracy = generations verified
  correct (rel_core.verdicts.verified) / generations verified either way; revisions needed = the
  mean number of attempts after the generation until the first verified one, over chains that
  reached one.
- **Annotators**: items = live (not undone) accept and reject decisions; median seconds and items
  per hour from the reviews' seconds spent; accept / reject / edit rates over items (edit: the
  accepted attempt is an expert edit).
- **Spend per verified worked solution**: recorded LLM spend / problems whose attempt of record
  (accepted, else latest) is verified. Calls with no known price make it a lower bound or unknown,
  as `rel-tui status` says.

- **Problems marked broken** (rel_core.problem_marks): the problems with a live mark, the marks per
  kind and per annotator (standing marks; `since` / `until` do not apply). A marked problem's
  reference or statement is in doubt, so it is left out of the critic, generator and verified
  solution figures; the annotators' figures and the spend still count the work done on it.

Filters: `source` (the problems' source) and `since` / `until` (UTC dates, both inclusive) on when
each thing happened: the critique, the generation, the review, the call, the verified attempt.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import date

from pydantic import BaseModel, Field, computed_field

from . import labels, problem_marks, verdicts
from .models import (
    Attempt,
    AttemptKind,
    Critique,
    CritiqueSource,
    Decision,
    ProblemHistory,
    Verdict,
    require_id,
)
from .planner import LOOP_KINDS
from .providers.pricing import Spend
from .store import Store


class ReportFilter(BaseModel):
    source: str | None = None
    since: date | None = None
    until: date | None = None

    def covers(self, timestamp: str | None) -> bool:
        """Whether an ISO timestamp falls within since..until (dates compared in UTC)."""
        day = (timestamp or "")[:10]
        if self.since and day < self.since.isoformat():
            return False
        return not (self.until and day > self.until.isoformat())


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class Confusion(BaseModel):
    """Counts with "incorrect" as the positive class."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, said: Verdict, truth: Verdict) -> None:
        wrong_said, wrong_truly = said == Verdict.INCORRECT, truth == Verdict.INCORRECT
        if wrong_said and wrong_truly:
            self.tp += 1
        elif wrong_said:
            self.fp += 1
        elif wrong_truly:
            self.fn += 1
        else:
            self.tn += 1

    @computed_field
    @property
    def compared(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @computed_field
    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @computed_field
    @property
    def recall(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fn)


class CriticFigures(BaseModel):
    model: str
    critiques: int = 0
    against_experts: Confusion = Field(default_factory=Confusion)
    against_check: Confusion = Field(default_factory=Confusion)
    told: int = 0
    """Critiques left out of the check comparison: the check's verdict was in their prompt."""
    steps_compared: int = 0
    steps_right: int = 0

    @computed_field
    @property
    def step_accuracy(self) -> float | None:
        return _ratio(self.steps_right, self.steps_compared)


class GeneratorFigures(BaseModel):
    model: str
    generations: int = 0
    judged: int = 0
    right_first_time: int = 0
    solved: int = 0
    revisions: int = 0
    """Attempts after the generation, summed over the solved chains."""

    @computed_field
    @property
    def first_try_accuracy(self) -> float | None:
        return _ratio(self.right_first_time, self.judged)

    @computed_field
    @property
    def revisions_needed(self) -> float | None:
        return self.revisions / self.solved if self.solved else None


class AnnotatorFigures(BaseModel):
    annotator: str
    items: int = 0
    accepted: int = 0
    rejected: int = 0
    edited: int = 0
    skipped: int = 0
    seconds: list[float] = Field(default_factory=list)

    @computed_field
    @property
    def median_seconds(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @computed_field
    @property
    def items_per_hour(self) -> float | None:
        total = sum(self.seconds)
        return self.items * 3600 / total if total > 0 else None

    @computed_field
    @property
    def accept_rate(self) -> float | None:
        return _ratio(self.accepted, self.items)

    @computed_field
    @property
    def reject_rate(self) -> float | None:
        return _ratio(self.rejected, self.items)

    @computed_field
    @property
    def edit_rate(self) -> float | None:
        return _ratio(self.edited, self.items)


class SpendFigures(BaseModel):
    cost_usd: float = 0.0
    calls: int = 0
    unpriced: int = 0
    failed: int = 0
    verified_solutions: int = 0

    @computed_field
    @property
    def spend_known(self) -> bool:
        return self.unpriced == 0

    @computed_field
    @property
    def per_verified_solution_usd(self) -> float | None:
        """None when there is no verified solution, or every priced figure is unknown."""
        if not self.verified_solutions or (self.unpriced and self.cost_usd <= 0):
            return None
        return self.cost_usd / self.verified_solutions

    def spend(self) -> Spend:
        return Spend(self.cost_usd, self.calls, self.unpriced, self.failed)

    def describe_per_solution(self) -> str:
        """`$0.0123`, `≥ $0.0123 (2 calls unpriced)`, `unknown (...)`, or `– (no verified solution)`."""
        if not self.verified_solutions:
            return "– (no verified solution)"
        per = Spend(self.cost_usd / self.verified_solutions, self.calls, self.unpriced, self.failed)
        return per.describe()


class Report(BaseModel):
    filters: ReportFilter
    problems: int = 0
    critics: list[CriticFigures] = Field(default_factory=list)
    generators: list[GeneratorFigures] = Field(default_factory=list)
    annotators: list[AnnotatorFigures] = Field(default_factory=list)
    spend: SpendFigures = Field(default_factory=SpendFigures)
    marks: problem_marks.MarkCounts = Field(default_factory=problem_marks.MarkCounts)


# -- building it -----------------------------------------------------------------------------------


def build_report(store: Store, filters: ReportFilter | None = None) -> Report:
    """Every figure, one problem's history at a time."""
    filters = filters or ReportFilter()
    critics: dict[str, CriticFigures] = {}
    generators: dict[str, GeneratorFigures] = {}
    annotators: dict[str, AnnotatorFigures] = {}
    report = Report(filters=filters)
    problem_ids: list[int] = []
    marked = problem_marks.marked_problem_ids(store)
    for history in _histories(store, filters):
        report.problems += 1
        problem_ids.append(require_id(history.problem.id, "problem"))
        _annotator_figures(history, filters, annotators)
        if problem_ids[-1] in marked:  # its reference or statement is in doubt: no evidence on the models
            continue
        _critic_figures(store, history, filters, critics)
        _generator_figures(history, filters, generators)
        report.spend.verified_solutions += _verified_solution(history, filters)
    _spend(store, filters, problem_ids, report.spend)
    report.marks = problem_marks.counts(store, set(problem_ids) if filters.source is not None else None)
    report.critics = [critics[k] for k in sorted(critics)]
    report.generators = [generators[k] for k in sorted(generators)]
    report.annotators = [annotators[k] for k in sorted(annotators)]
    return report


def _histories(store: Store, filters: ReportFilter) -> Iterator[ProblemHistory]:
    for problem_id in store.iter_problem_ids():
        history = store.history(problem_id)
        if history is not None and (filters.source is None or history.problem.source == filters.source):
            yield history


def _critic_figures(store: Store, history: ProblemHistory, filters: ReportFilter, out: dict[str, CriticFigures]) -> None:
    llm = [c for c in history.critiques if c.source == CritiqueSource.LLM and filters.covers(c.created_at)]
    if not llm:
        return
    found = labels.rulings(store, [require_id(c.id, "critique") for c in llm])
    for critique in llm:
        own = verdicts.critic_judgement(critique)
        if own.verdict == Verdict.UNKNOWN:
            continue
        figures = out.setdefault(critique.model or "unknown", CriticFigures(model=critique.model or "unknown"))
        figures.critiques += 1
        ruling = labels.standing_ruling(found, critique.id, labels.RulingAspect.VERDICT, labels.RulingSource.EXPERT)
        if ruling is not None:
            figures.against_experts.add(own.verdict, own.verdict if ruling.agrees else _other(own.verdict))
        _against_check(history.critiques_for(critique.attempt_id), critique, own.verdict, figures)
        right = _step_right(store, history, critique, own, found)
        if right is not None:
            figures.steps_compared += 1
            figures.steps_right += right


def _other(verdict: Verdict) -> Verdict:
    return Verdict.CORRECT if verdict == Verdict.INCORRECT else Verdict.INCORRECT


def _against_check(critiques: list[Critique], critique: Critique, said: Verdict, figures: CriticFigures) -> None:
    checks = [c for c in critiques if c.source == CritiqueSource.CHECK and c.verdict != Verdict.UNKNOWN]
    if not checks:
        return
    critique_id = require_id(critique.id, "critique")
    if any(require_id(c.id, "critique") < critique_id for c in checks):
        figures.told += 1
        return
    figures.against_check.add(said, checks[-1].verdict)


def _step_right(
    store: Store, history: ProblemHistory, critique: Critique, own: verdicts.Judgement, found: list[labels.Ruling]
) -> bool | None:
    """Whether the critic's first wrong step is right; None when it names none or nobody knows."""
    claimed = labels.step_number(own.first_error_step) if own.verdict == Verdict.INCORRECT else None
    if claimed is None:
        return None
    ruling = labels.standing_ruling(found, critique.id, labels.RulingAspect.FIRST_ERROR_STEP, labels.RulingSource.EXPERT)
    if ruling is not None:
        return ruling.agrees
    attempt = next((a for a in history.attempts if a.id == critique.attempt_id), None)
    firsts = [lab.first_error for lab in labels.all_attempt_labels(store, attempt)] if attempt else []
    known = [step for step in firsts if step is not None]
    return claimed == min(known) if known else None


def chains(history: ProblemHistory) -> list[list[Attempt]]:
    """Each fresh generation with the loop's attempts that follow it, oldest first."""
    found: list[list[Attempt]] = []
    for attempt in history.attempts:
        if attempt.kind == AttemptKind.GENERATED:
            found.append([attempt])
        elif found and attempt.kind in LOOP_KINDS:
            found[-1].append(attempt)
    return found


def _generator_figures(history: ProblemHistory, filters: ReportFilter, out: dict[str, GeneratorFigures]) -> None:
    for chain in chains(history):
        first = chain[0]
        if not filters.covers(first.created_at):
            continue
        figures = out.setdefault(first.model or "unknown", GeneratorFigures(model=first.model or "unknown"))
        figures.generations += 1
        marks = [verdicts.verified(history.critiques_for(a.id)) for a in chain]
        if marks[0] is not None:
            figures.judged += 1
            figures.right_first_time += marks[0] is True
        if True in marks:
            figures.solved += 1
            figures.revisions += marks.index(True)


def _annotator_figures(history: ProblemHistory, filters: ReportFilter, out: dict[str, AnnotatorFigures]) -> None:
    kinds = {a.id: a.kind for a in history.attempts}
    for review in history.reviews:
        if review.undone_at is not None or not filters.covers(review.created_at):
            continue
        figures = out.setdefault(review.annotator, AnnotatorFigures(annotator=review.annotator))
        if review.decision == Decision.SKIPPED:
            figures.skipped += 1
            continue
        figures.items += 1
        figures.seconds.append(review.seconds_spent or 0.0)
        if review.decision == Decision.ACCEPTED:
            figures.accepted += 1
            figures.edited += kinds.get(review.attempt_id) == AttemptKind.HUMAN_EDIT
        else:
            figures.rejected += 1


def _verified_solution(history: ProblemHistory, filters: ReportFilter) -> bool:
    attempt = verdicts.attempt_of_record(history)
    if attempt is None or not filters.covers(attempt.created_at):
        return False
    return verdicts.verified(history.critiques_for(attempt.id)) is True


def _spend(store: Store, filters: ReportFilter, problem_ids: list[int], out: SpendFigures) -> None:
    """The calls' spend, counted as rel_core.providers.pricing.recorded_spend counts it."""
    wanted = set(problem_ids)
    rows = store.conn.execute("select problem_id, cost_usd, input_tokens, error, created_at from llm_calls")
    for problem_id, cost, input_tokens, error, created_at in rows:
        if filters.source is not None and problem_id not in wanted:
            continue
        if not filters.covers(created_at):
            continue
        out.calls += 1
        out.cost_usd += cost or 0.0
        out.unpriced += cost is None and input_tokens is not None
        out.failed += error is not None
