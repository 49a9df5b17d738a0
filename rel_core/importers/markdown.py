"""Human-written worked solutions in markdown: `### Question:` then `### Answer:`.

The answer is a draft (a human trace is still reviewed), so it becomes an imported attempt and
nothing from it goes into the reference answer. A reference comes only from an explicit section
after the answer: `### Actual Solution:`, `### Reference Solution:`, `### Official Solution:`
(reference solution; its last \\boxed{} is the reference answer) or `### Reference Answer:`.
Other headings, such as `### **Method 1**` inside the answer, are part of the text. Each
`### Question:` starts a new problem: a file of concatenated traces gives one problem each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from rel_core.models import ImportRecord, Problem

from .boxed import last_boxed
from .common import BadInput, FieldMap, make_record

# The heading's text is trimmed in code, not by `[ \t]*(.+?)[ \t]*$`: the lazy group would retry
# the trailing spaces at each character, quadratic on a heading line of 40k spaces.
_HEADING = re.compile(r"^#{1,6}([^\n]*)", re.MULTILINE)
_RULE_CHARS = "-*_"

QUESTION, ANSWER = "question", "answer"
REFERENCE_SOLUTION = ("actual solution", "reference solution", "official solution", "solution (reference)")
REFERENCE_ANSWER = ("reference answer", "ground truth")


def looks_like_markdown(text: str) -> bool:
    return any(_split_heading(heading)[0] == QUESTION for _, _, heading in _headings(text[:4096]))


def _headings(text: str) -> Iterator[tuple[int, int, str]]:
    """(line start, text start, text) of each `#`-heading with text, the text without its outer spaces."""
    for match in _HEADING.finditer(text):
        line = match.group(1)
        heading = line.strip(" \t")
        if heading:
            yield match.start(), match.start(1) + len(line) - len(line.lstrip(" \t")), heading


def records_from_markdown(text: str, path: Path, fields: FieldMap) -> Iterator[ImportRecord | BadInput]:
    """One record per `### Question:` section (files of concatenated traces hold several), in order.

    A question that cannot be used is a BadInput in its place, and costs only itself.
    """
    starts = _question_starts(text)
    if not starts:
        yield BadInput('no "### Question:" section', 1)
        return
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        line = text.count("\n", 0, start) + 1
        try:
            yield _record(text[start:end], line, path, fields)
        except BadInput as exc:
            yield exc


def record_from_markdown(text: str, path: Path, fields: FieldMap) -> ImportRecord:
    """The first question's record (BadInput if it has none): for callers that read one trace."""
    found = next(records_from_markdown(text, path, fields))
    if isinstance(found, BadInput):
        raise found
    return found


def _question_starts(text: str) -> list[int]:
    """Where each `### Question:` heading line starts."""
    return [start for start, _, heading in _headings(text) if _split_heading(heading)[0] == QUESTION]


def _record(block: str, first_line: int, path: Path, fields: FieldMap) -> ImportRecord:
    """The record of one block that starts with its question heading, on line `first_line` of the file."""
    sections = _sections(block)
    question = sections[QUESTION]
    if not question:
        raise BadInput('the "### Question:" section is empty', first_line)
    reference_solution = sections.get("reference_solution")
    reference_answer = sections.get("reference_answer")
    if reference_answer:
        reference_answer = last_boxed(reference_answer) or reference_answer
    problem = Problem(
        text=question,
        reference_solution=reference_solution,
        reference_answer=reference_answer or last_boxed(reference_solution),
        source=fields.source or f"markdown:{path.parent.name}",
    )
    return make_record(problem, sections.get(ANSWER), f"{path}:{first_line}")


def _sections(text: str) -> dict[str, str]:
    """Section texts by role, in a block that starts with its question heading.

    Only the first heading of each role starts a section, in order: question, answer, then
    references; a repeated or unknown heading stays inside the section it appears in.
    """
    starts: list[tuple[str, int, int]] = []  # (role, heading start, body start)
    seen: set[str] = set()
    for line_start, heading_start, heading in _headings(text):
        name, inline_at = _split_heading(heading)
        role = _role(name, seen)
        if role:
            seen.add(role)
            starts.append((role, line_start, heading_start + inline_at))
    sections = {}
    for index, (role, _, body_start) in enumerate(starts):
        end = starts[index + 1][1] if index + 1 < len(starts) else len(text)
        sections[role] = _without_trailing_rules(text[body_start:end]).strip()
    return sections


def _without_trailing_rules(text: str) -> str:
    """`text` without the horizontal rules that end it: lines of 3 or more `-`, `*` or `_` alone.

    Only a line of nothing else is a rule (`- - -` too, as in markdown): dashes that end a line of
    text are text. One backward pass, a line at a time, with no regex that could backtrack.
    """
    end = cut = len(text)
    while True:
        while end and text[end - 1].isspace():
            end -= 1
        line_start = text.rfind("\n", 0, end) + 1
        if not end or not _is_rule(text[line_start:end]):
            return text[:cut]
        end = cut = line_start
        while cut and text[cut - 1].isspace():
            cut -= 1


def _is_rule(line: str) -> bool:
    """Whether a line is a markdown thematic break: one of `-*_`, 3 or more times, spaces allowed."""
    marks = line.replace(" ", "").replace("\t", "")
    return len(marks) >= 3 and marks[0] in _RULE_CHARS and not marks.strip(marks[0])


def _split_heading(heading: str) -> tuple[str, int]:
    """(section name, where its body starts within the heading): `### Answer: 42` has the body inline."""
    head, colon, rest = heading.partition(":")
    inline = rest.lstrip("*_ ")
    if colon and inline:
        return _section_name(head), len(heading) - len(inline)
    return _section_name(heading), len(heading)


def _section_name(heading: str) -> str:
    return heading.strip("*_ ").rstrip(":").strip("*_ ").lower()


def _role(name: str, seen: set[str]) -> str | None:
    """Which section a heading starts, given those already started; None if it is just content."""
    if name == QUESTION and not seen:
        return QUESTION
    if name == ANSWER and seen == {QUESTION}:
        return ANSWER
    if ANSWER not in seen:
        return None
    if name in REFERENCE_SOLUTION and "reference_solution" not in seen:
        return "reference_solution"
    if name in REFERENCE_ANSWER and "reference_answer" not in seen:
        return "reference_answer"
    return None
