"""REL / ReasonSet JSON: one object per file with `problem`, `solution` and `ground_truth`.

`solution` is the draft: a string, or an object with `final_solution` (often empty),
`working_out`, `is_correct`, `iterations`, `error_description`. REL wrote many of those values
as Python repr() text ("''", "'Alright...'", "True"), so each is unwrapped first.

`ground_truth` is the reference solution. Its last \\boxed{} is the reference answer; for a
multiple-choice item the answer is the letter, "(A)", whose option text the reference starts with.
REL's placeholder "No solution provided..." is not a reference, so it is dropped, and the
verdict that was judged against it becomes `unknown`.

rel-tui's own ReasonSet export writes `working_out` and `provided_solution` at the top level;
those are read as the draft and the reference solution.
"""

from __future__ import annotations

from typing import Any

from rel_core.models import Critique, CritiqueSource, ImportRecord, Problem, Verdict

from .boxed import choice_answer, last_boxed
from .common import (
    BadInput,
    FieldMap,
    flag,
    make_record,
    text_value,
    type_name,
    unrepr,
    whole_number,
)

EXPORT_KEYS = frozenset({"working_out", "provided_solution"})
PLACEHOLDER_PREFIX = "no solution provided"


def looks_like_reasonset(item: object) -> bool:
    """REL's shape: `problem` with `solution` and `ground_truth`, an object `solution`, or our export's keys.

    A MATH-style row (`problem` + reference `solution`) or a `problem` + `ground_truth` answer
    row is not ReasonSet: there `solution` is a reference, not a draft.
    """
    if not isinstance(item, dict) or "problem" not in item:
        return False
    solution = item.get("solution")
    return isinstance(solution, dict) or ("solution" in item and "ground_truth" in item) or bool(EXPORT_KEYS.intersection(item))


def record_from_object(item: Any, origin: str, default_source: str, fields: FieldMap) -> ImportRecord:
    if not isinstance(item, dict):
        raise BadInput(f"expected a JSON object with problem, solution, ground_truth; found {type_name(item)}")
    problem_text = text_value(item.get("problem"), "problem")
    if not problem_text:
        raise BadInput('missing "problem"' if "problem" not in item else '"problem" is empty')
    draft, is_correct, iteration, error_description = _draft(item)
    reference = _reference(item)
    problem = Problem(
        text=problem_text,
        reference_solution=reference,
        reference_answer=text_value(item.get("reference_answer"), "reference_answer")
        or reference_answer(problem_text, reference),
        source=fields.source or text_value(item.get("source"), "source") or default_source,
        subject=text_value(item.get("subject"), "subject"),
        level=text_value(item.get("level"), "level"),
    )
    critique = _imported_verdict(is_correct, error_description, placeholder=_is_placeholder(item))
    return make_record(problem, draft, origin, critique, iteration)


def reference_answer(problem: str, reference: str | None) -> str | None:
    """The correct option, "(A)", for a multiple-choice item, else the reference's last \\boxed{}."""
    return choice_answer(problem, reference) or last_boxed(reference)


def _draft(item: dict) -> tuple[str | None, bool | None, int, str | None]:
    """(draft text, is_correct, iterations, error description) from `solution` or `working_out`."""
    solution = item.get("solution")
    if solution is None:
        return unrepr(text_value(item.get("working_out"), "working_out")), None, 0, None
    if isinstance(solution, str):
        return unrepr(text_value(solution, "solution")), None, 0, None
    if not isinstance(solution, dict):
        raise BadInput(f'"solution" must be text or an object, not {type_name(solution)}')
    final = unrepr(text_value(solution.get("final_solution"), "solution.final_solution"))
    working = unrepr(text_value(solution.get("working_out"), "solution.working_out"))
    text = final if final and final.strip() else working
    error = unrepr(text_value(solution.get("error_description"), "solution.error_description"))
    return text, flag(solution.get("is_correct")), whole_number(solution.get("iterations")), error


def _reference(item: dict) -> str | None:
    key = "ground_truth" if item.get("ground_truth") is not None else "provided_solution"
    reference = unrepr(text_value(item.get(key), key))
    if reference is None or _is_placeholder_text(reference):
        return None
    return reference


def _is_placeholder(item: dict) -> bool:
    for key in ("ground_truth", "provided_solution"):
        value = item.get(key)
        if isinstance(value, str) and _is_placeholder_text(value):
            return True
    return False


def _is_placeholder_text(text: str) -> bool:
    return text.strip().strip("'\"").lower().startswith(PLACEHOLDER_PREFIX)


def _imported_verdict(is_correct: bool | None, error_description: str | None, placeholder: bool) -> Critique | None:
    """REL's own verdict, kept as an untrusted imported critique (never counted as verification)."""
    if is_correct is None:
        return None
    if placeholder:
        return Critique(
            verdict=Verdict.UNKNOWN,
            source=CritiqueSource.IMPORTED,
            error_description=error_description,
            raw=f"is_correct={is_correct}, judged against REL's placeholder reference",
        )
    return Critique(
        verdict=Verdict.CORRECT if is_correct else Verdict.INCORRECT,
        source=CritiqueSource.IMPORTED,
        error_description=error_description,
        raw=f"is_correct={is_correct}",
    )
