"""What every importer shares: problems found in files, complaints about bad input, value coercion."""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from pathlib import Path

from rel_core.models import Attempt, AttemptKind, Critique, ImportRecord, Problem, ProblemState

from .boxed import draft_final_answer


@dataclass(frozen=True)
class ImportIssue:
    """One file or row that could not be imported, said as `path:line: what's wrong`."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class BadInput(Exception):
    """Raised inside a reader for one unusable file or row; becomes an ImportIssue."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class FieldMap:
    """Which keys or columns hold what, tried in order; `source` overrides every record's source."""

    problem: tuple[str, ...] = ("problem", "question")
    answer: tuple[str, ...] = ("answer", "ground_truth", "reference_answer")
    solution: tuple[str, ...] = ("solution", "reference_solution")
    draft: tuple[str, ...] = ("worked_solution", "working_out")
    source: str | None = None


def read_text(path: Path) -> str:
    """A file's text, or BadInput saying in words why it is not readable UTF-8 text."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read: {exc.strerror or exc}") from None
    if not data.strip():
        raise BadInput("empty file")
    if b"\x00" in data[:8192]:
        raise BadInput("binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BadInput(f"not UTF-8 text (byte 0x{data[exc.start]:02x})", line) from None


def text_value(value: object, what: str) -> str | None:
    """A field as text: strings as they are, numbers written out, null/empty as None."""
    if value is None:
        return None
    if isinstance(value, (int, float)):  # bools too: "True"
        return str(value)
    if isinstance(value, str):
        return encodable(value) if value.strip() else None
    raise BadInput(f'"{what}" must be text, not {type_name(value)}')


def encodable(text: str) -> str:
    """JSON may carry lone surrogates ("\\ud800") that SQLite cannot store; they become "?"."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def unrepr(value: str | None) -> str | None:
    """Undo REL's habit of storing Python repr() of strings ("''", '"Alright...\\n"', "None")."""
    if value is None:
        return None
    stripped = value.strip()
    if stripped == "None":
        return None
    if len(stripped) >= 2 and stripped[0] in "'\"" and stripped[-1] == stripped[0]:
        try:
            literal = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return value
        if isinstance(literal, str):
            return encodable(literal)
    return value


def flag(value: object) -> bool | None:
    """True/False from a bool or the strings REL wrote ("True", "false", "1"); None if unknown."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().strip("'\"").lower()
        if word in ("true", "yes", "1"):
            return True
        if word in ("false", "no", "0"):
            return False
    return None


# The largest value an SQLite INTEGER column holds; a bigger Python int fails at insert time
# (OverflowError), which would roll back the whole batch the row is in.
SQLITE_MAX_INTEGER = 2**63 - 1


def whole_number(value: object, default: int = 0) -> int:
    """A count from an int, a float or a numeric string ("2", "'3'", "2.0"); the default otherwise.

    Only 0..SQLITE_MAX_INTEGER is a usable count: a negative number, infinity or NaN ("inf",
    1e400), or anything too big for SQLite (10**23) is treated like non-numeric text, as
    unknown, and gives the default. That keeps the row (the value is REL bookkeeping, not the
    problem) and guarantees the number can always be stored.
    """
    if isinstance(value, bool):
        return default
    if isinstance(value, str):
        value = value.strip().strip("'\"").strip()
        try:
            value = int(value)  # exact for long digit strings, which float() would round
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                return default
    if isinstance(value, float):
        if not math.isfinite(value):
            return default
        value = int(value)
    if isinstance(value, int) and 0 <= value <= SQLITE_MAX_INTEGER:
        return value
    return default


def type_name(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def imported_attempt(text: str, iteration: int = 0) -> Attempt:
    return Attempt(kind=AttemptKind.IMPORTED, text=text, final_answer=draft_final_answer(text), iteration=iteration)


def make_record(
    problem: Problem, draft: str | None, origin: str, critique: Critique | None = None, iteration: int = 0
) -> ImportRecord:
    """A problem with its draft, if any; a problem that comes with a draft is ready for review."""
    if not draft or not draft.strip():
        return ImportRecord(problem=problem, origin=origin)
    # Set here rather than left to the store, which saves an UPDATE per new problem.
    problem.state = ProblemState.AWAITING_REVIEW
    return ImportRecord(
        problem=problem,
        attempts=[imported_attempt(draft, iteration)],
        critiques=[critique] if critique else [],
        origin=origin,
    )
