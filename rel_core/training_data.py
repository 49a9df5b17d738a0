"""Records that train models, from one problem's history plus its step labels and rulings.

Every label says where it came from (`label_source` and friends): `expert:<annotator>` (a review
decision, an edit, step labels or a ruling), `critic:<model>` (an LLM critic's own verdict or
first wrong step) or `answer_check` (the math-verify check against the reference answer).

- prm800k: one record per labelled attempt and labeler, shaped like OpenAI's PRM800K.
- trl-steps: TRL stepwise supervision `{prompt, completions, labels}`.
- dpo: TRL preference pairs `{prompt, chosen, rejected}` with a `pair_reason`.
- kto: TRL unpaired `{prompt, completion, label}`.
- sft: the accepted worked solutions as `{prompt, completion}` (the hf folder's default config).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import labels, problem_marks, verdicts
from .labels import AttemptLabels, Rating, Ruling, RulingAspect, RulingSource
from .models import (
    Attempt,
    AttemptKind,
    Critique,
    CritiqueSource,
    Decision,
    ProblemHistory,
    Standing,
    Verdict,
)
from .planner import reference_answer_of
from .steps import Step, split_steps
from .store import Store


@dataclass(frozen=True)
class Item:
    """One problem with what the training formats read about it."""

    history: ProblemHistory
    labels: dict[int, list[AttemptLabels]]  # attempt id -> every annotator's standing step labels
    rulings: list[Ruling]
    marked_by: frozenset[str] = frozenset()  # annotators with a live "this problem is broken" mark on it

    def attempt(self, attempt_id: int | None) -> Attempt | None:
        return next((a for a in self.history.attempts if a.id == attempt_id), None)


def load_item(store: Store, history: ProblemHistory) -> Item:
    llm = [
        c.id for c in history.critiques if c.source == CritiqueSource.LLM and c.id is not None
    ]  # an id-less one has no rulings
    problem_id = history.problem.id
    marked_by = frozenset(m.annotator for m in problem_marks.live_marks(store, problem_id)) if problem_id else frozenset()
    return Item(history, labels.labels_of_attempts(store, history.attempts), labels.rulings(store, llm), marked_by)


# -- who says an attempt is right or wrong ------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    good: bool
    source: str


def expert_marks(history: ProblemHistory) -> dict[int | None, Mark]:
    """The experts' word per attempt: the live accept (good), live rejects (bad), and their edits
    (good unless rejected). Later decisions win over earlier ones."""
    marks: dict[int | None, Mark] = {}  # keyed by attempt id (None: an attempt never stored)
    for attempt in history.attempts:
        if attempt.kind == AttemptKind.HUMAN_EDIT:
            marks[attempt.id] = Mark(True, attempt.model or "expert:unknown")
    for review in history.reviews:
        if review.undone_at is None and review.attempt_id is not None and review.decision != Decision.SKIPPED:
            marks[review.attempt_id] = Mark(review.decision == Decision.ACCEPTED, f"expert:{review.annotator}")
    accepted = history.accepted_attempt
    if accepted is not None:  # the standing accept, whatever came before
        marks[accepted.id] = Mark(True, _accept_source(history))
    return marks


def _accept_source(history: ProblemHistory) -> str:
    review = next(r for r in reversed(history.reviews) if r.undone_at is None and r.decision == Decision.ACCEPTED)
    return f"expert:{review.annotator}"


def automatic_mark(critiques: list[Critique]) -> Mark | None:
    """The verified verdict (rel_core.verdicts) and the judge that gave it: the answer check when
    it decided, else the LLM critic."""
    summary = verdicts.summarise(critiques)
    if summary.standing not in (Standing.CORRECT, Standing.INCORRECT):
        return None
    good = summary.standing == Standing.CORRECT
    if summary.check is not None and summary.check.decided:
        return Mark(good, "answer_check")
    assert summary.critic is not None  # a right/wrong standing the check did not decide is the critic's
    return Mark(good, f"critic:{summary.critic.model or 'unknown'}")


def mark_of(history: ProblemHistory, attempt: Attempt, experts: dict[int | None, Mark]) -> Mark | None:
    return experts.get(attempt.id) or automatic_mark(history.critiques_for(attempt.id))


# -- prm800k -------------------------------------------------------------------------------------


def prm800k_records(item: Item) -> Iterator[dict[str, Any]]:
    problem = item.history.problem
    for attempt_id, by_annotator in item.labels.items():
        attempt = item.attempt(attempt_id)
        assert attempt is not None  # item.labels is keyed by the ids of this history's attempts
        for labelled in by_annotator:
            yield _prm800k_record(item, attempt, labelled, problem)


def _prm800k_record(item: Item, attempt: Attempt, labelled: AttemptLabels, problem) -> dict[str, Any]:
    steps = split_steps(attempt.text)
    last = max(labelled.steps)
    edit = _human_edit_of(item, attempt, labelled.annotator)
    replacements = _replaced_steps(steps, split_steps(edit.text)) if edit is not None else {}
    rows = []
    for step in steps[:last]:
        label = labelled.steps.get(step.number)
        rating = None if label is None or label.rating is None else int(label.rating)
        replacement = replacements.get(step.number) if rating == Rating.BAD else None
        rows.append(
            {
                "completions": [{"text": step.text, "rating": rating, "flagged": bool(label and label.flagged)}],
                "human_completion": _human_completion(replacement),
                "chosen_completion": 0 if rating is not None and rating >= 0 else None,
            }
        )
    return {
        "labeler": labelled.annotator,
        "timestamp": labelled.last_at,
        "question": {"problem": problem.text, "ground_truth_answer": reference_answer_of(problem)},
        "label": {
            "steps": rows,
            "total_time": _total_time_ms(item, attempt, labelled),
            "finish_reason": _finish_reason(labelled, item.marked_by),
        },
        "source": {
            "problem_id": problem.id,
            "attempt_id": attempt.id,
            "attempt_kind": str(attempt.kind),
            "generator": attempt.model,
            "dataset": problem.source,
            "label_source": f"expert:{labelled.annotator}",
            "comments": {str(n): label.comment for n, label in labelled.steps.items() if label.comment},
        },
    }


def _human_edit_of(item: Item, attempt: Attempt, annotator: str) -> Attempt | None:
    """The expert edit made of this attempt: the labeller's own latest, else anyone's latest."""
    edits = [a for a in item.history.attempts if a.kind == AttemptKind.HUMAN_EDIT and a.parent_id == attempt.id]
    own = [a for a in edits if a.model == f"expert:{annotator}"]
    chosen = own or edits
    return chosen[-1] if chosen else None


def _replaced_steps(original: list[Step], edited: list[Step]) -> dict[int, str]:
    """Step number of `original` -> the text the edit put in its place, for the steps the edit
    replaced (not those it kept or only deleted). Steps are aligned as sequences (difflib), by
    their text with whitespace normalised; a run of n replaced steps taken by m new ones gives them
    pairwise when n == m, else all m (joined by a blank line) to the run's first step."""
    before = [" ".join(s.text.split()) for s in original]
    after = [" ".join(s.text.split()) for s in edited]
    found: dict[int, str] = {}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
        if tag != "replace":
            continue
        if i2 - i1 == j2 - j1:
            found.update((original[i].number, edited[j1 + i - i1].text) for i in range(i1, i2))
        else:
            found[original[i1].number] = "\n\n".join(s.text for s in edited[j1:j2])
    return found


def _human_completion(text: str | None) -> dict[str, Any] | None:
    """PRM800K's human-written replacement for a step rated -1, in its shape."""
    if text is None:
        return None
    return {"text": text, "rating": None, "source": "human", "flagged": False, "corrected_rating": None}


def _finish_reason(labelled: AttemptLabels, marked_by: frozenset[str] = frozenset()) -> str:
    """bad_problem: the labeler marked the problem broken (rel_core.problem_marks; such records are
    exported only on request); found_error: a step is rated -1; solution: every step rated;
    give_up: the labeler stopped."""
    if labelled.annotator in marked_by:
        return "bad_problem"
    if labelled.first_error is not None:
        return "found_error"
    return "solution" if len(labelled.rated) == labelled.step_count else "give_up"


def _total_time_ms(item: Item, attempt: Attempt, labelled: AttemptLabels) -> int:
    """The labeler's review time on this attempt, else the span from their first label to their last."""
    seconds = sum(
        r.seconds_spent or 0.0
        for r in item.history.reviews
        if r.undone_at is None and r.attempt_id == attempt.id and r.annotator == labelled.annotator
    )
    if seconds <= 0 and labelled.first_at and labelled.last_at:
        seconds = (datetime.fromisoformat(labelled.last_at) - datetime.fromisoformat(labelled.first_at)).total_seconds()
    return round(seconds * 1000)


# -- trl stepwise supervision ------------------------------------------------------------------------


def trl_step_records(item: Item, include_critic: bool = False) -> Iterator[dict[str, Any]]:
    """Rows from expert-labelled steps: the steps from the first up to the first unrated one or the
    first -1, whichever comes first; a step is True when not rated -1 (neutral counts as not wrong).
    With `include_critic`, also one row per attempt no expert labelled whose latest LLM critique
    names a first wrong step no expert overruled: the steps before it True, it False."""
    problem = item.history.problem
    for attempt_id, by_annotator in item.labels.items():
        attempt = item.attempt(attempt_id)
        assert attempt is not None  # item.labels is keyed by the ids of this history's attempts
        steps = split_steps(attempt.text)
        for labelled in by_annotator:
            completions, marks = [], []
            for step in steps:
                label = labelled.steps.get(step.number)
                if label is None or label.rating is None:
                    break
                completions.append(step.text)
                marks.append(label.rating != Rating.BAD)
                if label.rating == Rating.BAD:
                    break
            if completions:
                yield _step_row(problem, attempt, completions, marks, f"expert:{labelled.annotator}")
    if include_critic:
        for attempt in item.history.attempts:
            if attempt.id not in item.labels:
                row = _critic_step_row(item, attempt)
                if row is not None:
                    yield row


def _critic_step_row(item: Item, attempt: Attempt) -> dict[str, Any] | None:
    critique = verdicts.latest(item.history.critiques_for(attempt.id), CritiqueSource.LLM)
    if critique is None:
        return None
    own = verdicts.critic_judgement(critique)
    claimed = labels.step_number(own.first_error_step) if own.verdict == Verdict.INCORRECT else None
    steps = split_steps(attempt.text)
    if claimed is None or not 1 <= claimed <= len(steps):
        return None
    rulings = {aspect: labels.standing_ruling(item.rulings, critique.id, aspect, RulingSource.EXPERT) for aspect in RulingAspect}
    if any(r is not None and not r.agrees for r in rulings.values()):
        return None  # an expert overruled the critic here
    row = _step_row(
        item.history.problem,
        attempt,
        [s.text for s in steps[:claimed]],
        [True] * (claimed - 1) + [False],
        f"critic:{critique.model or 'unknown'}",
    )
    agreed = rulings[RulingAspect.FIRST_ERROR_STEP]
    row["ruled_by"] = agreed.label_source if agreed is not None else None
    return row


def _step_row(problem, attempt: Attempt, completions: list[str], marks: list[bool], source: str) -> dict[str, Any]:
    return {
        "prompt": problem.text,
        "completions": completions,
        "labels": marks,
        "label_source": source,
        "problem_id": problem.id,
        "attempt_id": attempt.id,
    }


# -- preference pairs and unpaired labels -----------------------------------------------------------


def dpo_records(item: Item, conversational: bool = False, system: str | None = None) -> Iterator[dict[str, Any]]:
    """Pairs: each expert edit against the draft it edited; the accepted attempt against each other
    attempt that is wrong (verified false) or an expert rejected. Each pair once."""
    history = item.history
    experts = expert_marks(history)
    pairs: dict[tuple[int | None, int | None], dict[str, Any]] = {}  # (chosen id, rejected id)
    for edit in history.attempts:
        parent = item.attempt(edit.parent_id)
        mark = experts.get(edit.id)
        if edit.kind == AttemptKind.HUMAN_EDIT and parent is not None and mark is not None and mark.good:
            pairs[(edit.id, parent.id)] = _pair(item, edit, parent, "expert_edit", mark.source, mark.source)
    accepted = history.accepted_attempt
    if accepted is not None:
        for other in history.attempts:
            mark = None if other.id == accepted.id else mark_of(history, other, experts)
            if mark is None or mark.good or (accepted.id, other.id) in pairs:
                continue
            reason = "accepted_vs_rejected" if mark.source.startswith("expert:") else "accepted_vs_incorrect"
            pairs[(accepted.id, other.id)] = _pair(item, accepted, other, reason, experts[accepted.id].source, mark.source)
    for pair in pairs.values():
        yield _conversational_pair(pair, system) if conversational else pair


def _pair(
    item: Item, chosen: Attempt, rejected: Attempt, reason: str, chosen_source: str, rejected_source: str
) -> dict[str, Any]:
    return {
        "prompt": item.history.problem.text,
        "chosen": chosen.text,
        "rejected": rejected.text,
        "pair_reason": reason,
        "chosen_source": chosen_source,
        "rejected_source": rejected_source,
        "problem_id": item.history.problem.id,
        "chosen_attempt_id": chosen.id,
        "rejected_attempt_id": rejected.id,
    }


def _conversational_pair(pair: dict[str, Any], system: str | None) -> dict[str, Any]:
    return {
        **pair,
        "prompt": _prompt_messages(pair["prompt"], system),
        "chosen": [{"role": "assistant", "content": pair["chosen"]}],
        "rejected": [{"role": "assistant", "content": pair["rejected"]}],
    }


def _prompt_messages(text: str, system: str | None) -> list[dict[str, str]]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]


def kto_records(item: Item, conversational: bool = False, system: str | None = None) -> Iterator[dict[str, Any]]:
    """Every attempt someone marked: the experts' word first, else the verified verdict."""
    history = item.history
    experts = expert_marks(history)
    for attempt in history.attempts:
        mark = mark_of(history, attempt, experts)
        if mark is None:
            continue
        prompt: Any = _prompt_messages(history.problem.text, system) if conversational else history.problem.text
        completion: Any = [{"role": "assistant", "content": attempt.text}] if conversational else attempt.text
        yield {
            "prompt": prompt,
            "completion": completion,
            "label": mark.good,
            "label_source": mark.source,
            "problem_id": history.problem.id,
            "attempt_id": attempt.id,
        }


def sft_records(item: Item) -> Iterator[dict[str, Any]]:
    """The accepted worked solution, if there is one."""
    history = item.history
    attempt = history.accepted_attempt
    if attempt is None:
        return
    problem = history.problem
    yield {
        "prompt": problem.text,
        "completion": attempt.text,
        "label_source": _accept_source(history),
        "verified": verdicts.verified(history.critiques_for(attempt.id)),
        "edited": attempt.kind == AttemptKind.HUMAN_EDIT,
        "reference_answer": problem.reference_answer,
        "source": problem.source,
        "subject": problem.subject,
        "level": problem.level,
        "problem_id": problem.id,
        "attempt_id": attempt.id,
    }
