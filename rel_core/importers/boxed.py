"""Reference answers hidden in imported text: the last \\boxed{...} and multiple-choice letters.

Kept small and local to the importers; rel_core.answers does the checking for the loop.
"""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_TAG = re.compile(r"<ANSWER>(.*?)</ANSWER>", re.DOTALL | re.IGNORECASE)
_OPTIONS_HEADER = re.compile(r"^\s*Options\s*:\s*$", re.MULTILINE | re.IGNORECASE)
_OPTION_LINE = re.compile(r"^\s*\(([A-Z])\)\s*(.*)$")
_SPACES = re.compile(r"\s+")


def last_boxed(text: str | None) -> str | None:
    """Contents of the last \\boxed{...} (or \\fbox{...}), nested braces included; None if absent or unclosed."""
    if not text or "box" not in text:
        return None
    for match in reversed(list(_BOXED.finditer(text))):
        content = _balanced(text, match.end())
        if content is not None:
            return content.strip() or None
    return None


def _balanced(text: str, start: int) -> str | None:
    """Text from `start` up to the brace that closes the one just before it."""
    depth = 1
    index = start
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2  # an escaped brace such as \{ does not count
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start:index]
        index += 1
    return None


def tagged_answer(text: str | None) -> str | None:
    """The last <ANSWER>...</ANSWER> block, which REL's generator was asked to write."""
    if not text or "<" not in text:
        return None
    found = _ANSWER_TAG.findall(text)
    return (found[-1].strip() or None) if found else None


def draft_final_answer(text: str | None) -> str | None:
    """What a draft claims as its answer: a \\boxed{} inside it, else its <ANSWER> block."""
    return last_boxed(text) or tagged_answer(text)


def _normalise(text: str) -> str:
    return _SPACES.sub(" ", text).strip().rstrip(".").strip().casefold()


def options(problem: str) -> dict[str, str]:
    """The lettered options after an `Options:` line, e.g. {"A": "16", "B": "2"}; {} if none."""
    header = _OPTIONS_HEADER.search(problem)
    if not header:
        return {}
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in problem[header.end() :].splitlines():
        option = _OPTION_LINE.match(line)
        if option:
            current = found.setdefault(option.group(1), [])
            current.append(option.group(2))
        elif current is not None and line.strip():
            current.append(line)  # an option that runs over several lines
    return {letter: _normalise(" ".join(lines)) for letter, lines in found.items()}


def choice_answer(problem: str, reference: str | None) -> str | None:
    """The correct option written as the bundled dataset writes it, "(C)"; None if unclear."""
    letter = choice_letter(problem, reference)
    return f"({letter})" if letter else None


def choice_letter(problem: str, reference: str | None) -> str | None:
    """The option a reference solution names in its leading text (GPQA style), or None if unclear.

    GPQA-derived references start with the correct option's text, then explain it.
    An exact match of the first line wins; otherwise the single longest option that the
    reference starts with. Anything ambiguous gives None rather than a guess.
    """
    choices = options(problem)
    if not choices or not reference or not reference.strip():
        return None
    first_line = _normalise(reference.strip().splitlines()[0])
    exact = [letter for letter, text in choices.items() if text and text == first_line]
    if len(exact) == 1:
        return exact[0]
    if exact:
        return None
    lead = _normalise(reference[: 4 * max(len(t) for t in choices.values()) + 20])
    prefixes = [(len(text), letter) for letter, text in choices.items() if text and _starts_with_word(lead, text)]
    if not prefixes:
        return None
    prefixes.sort(reverse=True)
    if len(prefixes) > 1 and prefixes[0][0] == prefixes[1][0]:
        return None
    return prefixes[0][1]


def _starts_with_word(text: str, prefix: str) -> bool:
    """`text` starts with `prefix` and the prefix ends at a word boundary ("16" must not match "160")."""
    if not text.startswith(prefix):
        return False
    rest = text[len(prefix) :]
    return not rest or not rest[0].isalnum()
