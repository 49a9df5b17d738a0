"""The worst inputs found for rel_core's text parsers, and the parsers to feed them to.

Each tests/fixtures/nasty/*.json recipe is `prefix + unit * k + suffix` for a parser named in
PARSERS; `build` makes it any size, so a test or bench can compare n against 4n.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from rel_core import answers, critic
from rel_core.importers import reasonset, tabular
from rel_core.importers.common import BadInput, FieldMap
from rel_core.importers.markdown import record_from_markdown

NASTY = Path(__file__).parent / "fixtures" / "nasty"
_CHECKER = answers.AnswerChecker(workers=1)  # quick_check never starts a worker process


def _markdown(text: str) -> object:
    try:
        return record_from_markdown(text, Path("nasty.md"), FieldMap())
    except BadInput as exc:
        return exc.message


PARSERS: dict[str, Callable[[str], object]] = {
    "markdown": _markdown,
    "parse_verdict": critic.parse_verdict,
    "escape_latex_backslashes": critic.escape_latex_backslashes,
    "extract_answer": answers.extract_answer,
    "demote_answer_tags": answers.demote_answer_tags,
    "last_boxed": answers.last_boxed,
    "last_boxed_reference": lambda text: answers.last_boxed(text, skip_unclosed=True),
    "option_of_reference": lambda text: answers.choice_letter("16 because", text),
    "quick_check": lambda text: _CHECKER.quick_check(text, "42"),
    "reasonset_reference": lambda text: reasonset.reference_answer(text, text),
    "tabular_solution": lambda text: tabular.record_from_row({"problem": "p", "solution": text}, "t:1", "t", FieldMap()),
}


def recipes() -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(NASTY.glob("*.json"))}


def build(recipe: dict, size: int) -> str:
    """The recipe's input at about `size` characters."""
    room = max(size - len(recipe["prefix"]) - len(recipe["suffix"]), 0)
    return recipe["prefix"] + recipe["unit"] * (room // len(recipe["unit"])) + recipe["suffix"]
