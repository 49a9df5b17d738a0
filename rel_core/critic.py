r"""Reading a critic's verdict: the JSON we ask for first, then REL's marker format.

Whatever the critic replies, the result is a verdict: correct, incorrect, or unknown with the
raw text kept. Words are matched whole, never as substrings ("ACCURATE" is in "INACCURATE").

Critics write LaTeX inside JSON strings with single backslashes. `\sqrt` is an invalid JSON
escape (json.loads fails) and `\frac`, `\beta`, `\nabla` are valid ones that decode to a form
feed, a backspace, a newline; so backslashes are repaired before the JSON is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .models import Verdict

_POSITIVE = {"yes", "y", "true", "correct", "right", "accurate", "valid", "pass"}
_NEGATIVE = {"no", "n", "false", "incorrect", "wrong", "inaccurate", "invalid", "fail", "not correct"}
_NO_STEP = {"", "n/a", "na", "none", "null", "-", "not applicable"}

_FENCE = "```"
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


# After `\n` a letter run is ambiguous: `\nabla`, `\neq` are LaTeX, but `\nThe` or `\nwhich` is a
# newline before a word, which critics write often. So a run after `\n` is LaTeX only when it is
# one of these commands or LaTeX follows at once (`\nu_1`, `\nolimits^`). After \b \f \r \t (rare
# before a word in JSON) any run of two or more letters is LaTeX: \frac, \beta, \theta, \right.
_N_COMMANDS = frozenset(
    """
    nabla natural ne nearrow neg neq newline nexists ngeq ngtr nleftarrow nLeftarrow nleq nless
    nmid noindent nolimits not notin nparallel nprec nrightarrow nRightarrow nsim nsubseteq
    nsucc nsupseteq nu nvdash nwarrow
    """.split()
)
_JSON_ESCAPES = frozenset('"\\/bfnrtu')
_LETTERS = re.compile(r"[A-Za-z]+")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_JSON_TOKEN = re.compile(r'[{}"\\]')


def escape_latex_backslashes(text: str) -> str:
    r"""`text` with every backslash that is LaTeX, not a JSON escape, doubled.

    An escaped pair `\\` is kept. A backslash is doubled when it is not followed by a JSON escape
    character (`\sqrt`, `\(`, `\{`), or when it starts a LaTeX command of two or more letters
    (`\frac`, `\beta`, `\nabla`; after `\n` see _N_COMMANDS). `\n`, `\t`, `\"`, `\u00e9` followed by a
    non-letter stay JSON escapes.
    """
    out: list[str] = []
    index = 0
    while (at := text.find("\\", index)) >= 0:  # from backslash to backslash: the text between is kept
        out.append(text[index:at])
        following = text[at + 1 : at + 2]
        if following == "\\":
            out.append("\\\\")
            index = at + 2
            continue
        out.append("\\\\" if _is_latex(text, at + 1) or following not in _JSON_ESCAPES else "\\")
        index = at + 1
    out.append(text[index:])
    return "".join(out)


def _is_latex(text: str, at: int) -> bool:
    """Whether the backslash before `at` starts a LaTeX command rather than a JSON escape."""
    letters = _LETTERS.match(text, at)
    if letters is None:
        return False
    run = letters.group()
    if run[0] == "u":
        return not _HEX4.match(text, at + 1)  # \u00e9 is JSON; \underline, \uparrow are LaTeX
    if run[0] not in "bfnrt":
        return True  # not a JSON escape at all (\sqrt, \alpha): any letter run is LaTeX
    if len(run) < 2:
        return False  # \n followed by a non-letter: a real escape
    if run[0] != "n":
        return True
    return run in _N_COMMANDS or text[letters.end() : letters.end() + 1] in ("{", "_", "^")


def _json_candidates(text: str) -> list[str]:
    r"""Fenced blocks first, then every balanced {...} in the text, outermost first.

    Inside an object, braces within JSON strings ("the set {1, 2", "\left\{ x") are not counted.
    """
    candidates = list(_fenced_blocks(text))
    depth, start, in_string, position = 0, None, False, 0
    while (token := _JSON_TOKEN.search(text, position)) is not None:  # other characters change nothing
        index, char = token.start(), token.group()
        position = index + 1
        if in_string:
            if char == "\\":
                position = index + 2  # the escaped character, whatever it is
            elif char == '"':
                in_string = False
            continue
        if char == '"' and depth:
            in_string = True
        elif char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0 and start is not None:
                candidates.append(text[start : index + 1])
    return candidates


def _fenced_blocks(text: str) -> Iterator[str]:
    """The text of each ``` fenced block (a `json` tag after the opening fence dropped), in one pass.

    Paired with str.find: the regex ```(?:json)?\\s*(.*?)``` it replaces retried its lazy group
    for every blank line after an unclosed fence, ~14 s on a reply of a fence and blank lines.
    """
    position = 0
    while (opening := text.find(_FENCE, position)) >= 0:
        begin = opening + len(_FENCE)
        closing = text.find(_FENCE, begin)
        if closing < 0:
            return
        block = text[begin:closing]
        yield (block[4:] if block[:4].lower() == "json" else block).strip()
        position = closing + len(_FENCE)


def _from_json(text: str) -> ParsedVerdict | None:
    for candidate in _json_candidates(text):
        try:
            # strict=False: a raw newline inside a string is a common slip, not a reason to give up
            data = json.loads(escape_latex_backslashes(candidate), strict=False)
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

# A marker opens a line, perhaps numbered ("1. CORRECT: No") or decorated ("- **Correct**:").
# `Verdict:` / `Final verdict:` lines count as the CORRECT marker.
_MARKER = re.compile(
    r"^[^\w\n]*(?:\d+[.):]?[^\w\n]+)?"  # "- **", "1. ", "### 2) "
    r"(CORRECT|(?:FINAL[ _])?VERDICT|ERROR[ _]STEP|ERROR[ _]DESCRIPTION)[^\w\n]*?:[^\w\n]*(.*)$",
    re.IGNORECASE | re.MULTILINE,
)


def _marker_key(name: str) -> str:
    key = name.upper().replace(" ", "_")
    return "CORRECT" if key.endswith("VERDICT") else key


def _from_markers(text: str) -> ParsedVerdict | None:
    """`CORRECT: Yes/No` (or `Verdict: incorrect`), `ERROR_STEP: n|N/A`, `ERROR_DESCRIPTION: ...`.

    With **bold**, [Yes], numbering, any case. The first CORRECT/Verdict line that names a
    verdict decides; one that doesn't ("Correct: let me check") is passed over.
    """
    found: dict[str, tuple[str, int, int]] = {}
    verdict = None
    for match in _MARKER.finditer(text):
        key = _marker_key(match.group(1))
        if key == "CORRECT" and verdict is None:
            verdict = _marker_verdict(match.group(2))
            if verdict is not None:
                found[key] = (match.group(2), match.start(), match.end())
            continue
        found.setdefault(key, (match.group(2), match.start(), match.end()))
    if verdict is None:
        return None
    step = _step(found["ERROR_STEP"][0]) if "ERROR_STEP" in found else None
    description = _marker_description(text, found)
    return ParsedVerdict(verdict, step, description, text)


def _marker_verdict(value: str) -> Verdict | None:
    """The verdict a marker's value starts with: "No.", "[Yes]", "**incorrect**", "not correct"."""
    words = _DECORATION.sub(" ", value).lower().split()
    words = [word.strip(".,;!") for word in words[:2]]
    if words[:1] == ["not"] and len(words) > 1 and _verdict_value(words[1]) == Verdict.CORRECT:
        return Verdict.INCORRECT
    return _verdict_value(words[0]) if words else None


def _marker_description(text: str, found: dict[str, tuple[str, int, int]]) -> str | None:
    """The description runs from its marker to the next marker or the end (it may span lines)."""
    if "ERROR_DESCRIPTION" not in found:
        return None
    first_line, _, end = found["ERROR_DESCRIPTION"]
    later = [start for _, start, _ in found.values() if start > end]
    rest = text[end : min(later)] if later else text[end:]
    return _description(_DECORATION.sub("", first_line + rest))
