"""Maths copied from a rendered web page: the same formula several times in a row.

Copying KaTeX or MathJax output copies each formula in every form the page holds: the rendered
text, its TeX source, often the rendered text again (`3x−4y+5z=303x - 4y + 5z = 303x−4y+5z=30`).
REL's markdown traces are full of it. The text is kept as it is (the data is what it is), but the
expert should know, so the importer warns once per file.

The detector is narrow, to be reliable: two copies side by side (nothing between them but spaces)
that are equal once spaces are dropped and `−` is read as `-`, that contain `=` and are at least
MIN_CHARS long, on one line, and that differ as written (a real paste's copies differ in spacing or
in the minus sign; an equation written twice the same way, as in a table, is left alone).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from rel_core.models import ImportRecord

MIN_CHARS = 6  # shorter repeats (`PPP`, `xxx`) are too common to mean anything
MAX_CHARS = 200  # longer formulas are rare, and every candidate costs a comparison this long
MAX_CANDIDATES = 50  # close looks per text; a paste shows in the first few
SCAN_CHARS = 50_000  # one example is enough for a warning: the start of a text (the question) shows it
MAX_FILES_NAMED = 10
MARKDOWN = (".md", ".markdown")
_NOT_SPACE = re.compile(r"[^ \t]+")
_SPACES = re.compile(r"[ \t]+")
_EQUALS = re.compile(r"=")


def repeated_formula(text: str) -> str | None:
    """A formula that stands twice in a row in `text` (as first written), else None.

    Linear in the text: each `=` is compared with the next two, by slices of bounded length.
    """
    head = text[:SCAN_CHARS]
    if "=" not in head:
        return None
    squeezed = _SPACES.sub("", head).replace("\u2212", "-")
    equals = [match.start() for match in _EQUALS.finditer(squeezed)]
    written: _AsWritten | None = None  # built for the first copy found, once
    candidates = MAX_CANDIDATES
    for index, first in enumerate(equals):
        for second in equals[index + 1 : index + 3]:
            if squeezed[first - 1 : first + 2] != squeezed[second - 1 : second + 2]:
                continue  # the usual case, decided by one short comparison
            candidates -= 1
            if candidates < 0:
                return None  # text that repeats itself everywhere (a pattern, not a paste): not worth more time
            start = _square_start(squeezed, first, second)
            if start is not None:
                written = written or _AsWritten(head)
                period = second - first
                copies = [written.text(start, start + period), written.text(start + period, start + 2 * period)]
                if copies[0] != copies[1]:
                    return copies[0].strip()
    return None


def _square_start(text: str, first: int, second: int) -> int | None:
    """Where a copy starts if `text` holds the same `second - first` characters twice in a row, the
    two copies holding `first` and `second`; None otherwise (or if the copy is not a one-line formula)."""
    period = second - first
    if not MIN_CHARS <= period <= MAX_CHARS:
        return None
    behind = _common_length(text, first, second, backwards=True)  # `first` itself included
    ahead = _common_length(text, first + 1, second + 1, backwards=False)
    if behind + ahead < period:
        return None
    start = first - behind + 1
    copy = text[start : start + period]
    return start if "\n" not in copy and any(char.isalnum() for char in copy) else None


def _common_length(text: str, a: int, b: int, backwards: bool) -> int:
    """How many characters match from `a` and `b` (up to MAX_CHARS), by binary search over slices."""

    def piece(at: int, length: int) -> str:
        return text[at - length + 1 : at + 1] if backwards else text[at : at + length]

    low, high = 0, min(MAX_CHARS, a + 1 if backwards else len(text) - b)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if piece(a, middle) == piece(b, middle) else (low, middle - 1)
    return low


class _AsWritten:
    """Maps positions in the squeezed text (spaces dropped) back to the text as written."""

    def __init__(self, text: str) -> None:
        self.original = text
        self.spans = [(match.start(), match.end()) for match in _NOT_SPACE.finditer(text)]
        self.offsets = list(itertools.accumulate((end - start for start, end in self.spans), initial=0))

    def text(self, begin: int, end: int) -> str:
        """The text as written of squeezed characters begin..end (exclusive)."""
        return self.original[self._position(begin) : self._position(end - 1) + 1]

    def _position(self, squeezed: int) -> int:
        span = bisect.bisect_right(self.offsets, squeezed) - 1
        return self.spans[span][0] + squeezed - self.offsets[span]


class PastedFormulas:
    """Markdown files read whose text repeats formulas as a copy from a rendered page does."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []  # (file, an example)

    def tally(self, records: Iterable[ImportRecord]) -> Iterator[ImportRecord]:
        for record in records:
            path = record.origin.rsplit(":", 1)[0]
            if Path(path).suffix.lower() in MARKDOWN:
                texts = [record.problem.text, *(attempt.text for attempt in record.attempts)]
                example = next(filter(None, map(repeated_formula, texts)), None)
                if example:
                    self.found.append((path, example))
            yield record

    def warnings(self) -> list[str]:
        lines = [
            f"{path}: the same formula stands several times in a row ({example!r}), as in maths copied from a "
            "rendered page (its text and its TeX source); imported as written, check it"
            for path, example in self.found[:MAX_FILES_NAMED]
        ]
        if len(self.found) > MAX_FILES_NAMED:
            lines.append(f"... and {len(self.found) - MAX_FILES_NAMED} more markdown files with formulas repeated like that")
        return lines
