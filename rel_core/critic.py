"""Reading a critic's verdict: the JSON we ask for first, then REL's marker format.

Whatever the critic replies, the result is a verdict: correct, incorrect, or unknown with the
raw text kept. Words are matched whole, never as substrings ("ACCURATE" is in "INACCURATE").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .models import Verdict

_POSITIVE = {"yes", "y", "true", "correct", "right", "accurate", "valid", "pass"}
_NEGATIVE = {"no", "n", "false", "incorrect", "wrong", "inaccurate", "invalid", "fail", "not correct"}
_NO_STEP = {"", "n/a", "na", "none", "null", "-", "not applicable"}

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_DECORATION = re.compile(r"[*_`#>\[\]]")


@dataclass(frozen=True)
class ParsedVerdict:
    verdict: Verdict
    first_error_step: str | None
    error_description: str | None
    raw: str


def parse_verdict(raw: str | None) -> ParsedVerdict:
    text = raw or ""
    return _from_json(text) or _from_markers(text) or ParsedVerdict(Verdict.UNKNOWN, None, None, text)


# -- JSON ----------------------------------------------------------------------------------


def _json_candidates(text: str) -> list[str]:
    """Fenced blocks first, then every balanced {...} in the text, outermost first."""
    candidates = [block.strip() for block in _FENCE.findall(text)]
    depth, start = 0, None
    for index, char in enumerate(text):
        if char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0 and start is not None:
                candidates.append(text[start : index + 1])
    return candidates


def _from_json(text: str) -> ParsedVerdict | None:
    for candidate in _json_candidates(text):
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict):
            data = {str(k).lower(): v for k, v in data.items()}
            verdict = _verdict_value(data.get("verdict", data.get("correct")))
            if verdict is not None:
                return ParsedVerdict(
                    verdict, _step(data.get("first_error_step")), _description(data.get("error_description")), text
                )
    return None


def _verdict_value(value: object) -> Verdict | None:
    if isinstance(value, bool):
        return Verdict.CORRECT if value else Verdict.INCORRECT
    if not isinstance(value, str):
        return None
    word = _DECORATION.sub("", value).strip().strip(".!").strip().lower()
    if word in _POSITIVE:
        return Verdict.CORRECT
    if word in _NEGATIVE:
        return Verdict.INCORRECT
    return None


def _step(value: object) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    step = _DECORATION.sub("", str(value)).strip().rstrip(".")
    return None if step.lower() in _NO_STEP else step


def _description(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower().rstrip(".") in _NO_STEP else text


# -- REL's markers --------------------------------------------------------------------------

_MARKER = re.compile(
    r"^\W*(CORRECT|ERROR[ _]STEP|ERROR[ _]DESCRIPTION)\W*?:\W*(.*)$", re.IGNORECASE | re.MULTILINE
)


def _from_markers(text: str) -> ParsedVerdict | None:
    """`CORRECT: Yes/No`, `ERROR_STEP: n|N/A`, `ERROR_DESCRIPTION: ...`, with **bold**, [Yes], any case."""
    found: dict[str, tuple[str, int, int]] = {}
    for match in _MARKER.finditer(text):
        key = match.group(1).upper().replace(" ", "_")
        found.setdefault(key, (match.group(2), match.start(), match.end()))
    if "CORRECT" not in found:
        return None
    verdict = _verdict_value(_first_word(found["CORRECT"][0]))
    if verdict is None:
        return None
    step = _step(found["ERROR_STEP"][0]) if "ERROR_STEP" in found else None
    description = _marker_description(text, found)
    return ParsedVerdict(verdict, step, description, text)


def _first_word(value: str) -> str:
    cleaned = _DECORATION.sub(" ", value).strip()
    return cleaned.split()[0].strip(".,;!") if cleaned else ""


def _marker_description(text: str, found: dict[str, tuple[str, int, int]]) -> str | None:
    """The description runs from its marker to the next marker or the end (it may span lines)."""
    if "ERROR_DESCRIPTION" not in found:
        return None
    first_line, _, end = found["ERROR_DESCRIPTION"]
    later = [start for _, start, _ in found.values() if start > end]
    rest = text[end : min(later)] if later else text[end:]
    return _description(_DECORATION.sub("", first_line + rest))
