"""Rows of problems: JSON Lines, a JSON array (or one object), CSV/TSV; chat-format lines too.

Field names are configurable (FieldMap); by default `problem`/`question`, `answer`/`ground_truth`,
`solution` (a MATH-style reference solution: its last \\boxed{} gives the answer when no answer
field does) and `worked_solution`/`working_out` (a draft, imported for review). `subject` or
`type` and `level` are kept when present. A line with `messages` (OpenAI or Anthropic chat
format, as rel-tui exports them) is the first user turn as the problem and the last assistant
turn as the draft.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from rel_core.models import ImportRecord, Problem

from .boxed import last_boxed
from .common import BadInput, FieldMap, JsonNumber, make_record, text_value, type_name, undecodable_byte
from .reasonset import looks_like_reasonset
from .reasonset import record_from_object as reasonset_record

csv.field_size_limit(2**31 - 1)  # worked solutions are long; the default limit is 128 KiB

# Numbers are kept as the text they were written as (JsonNumber says why).
_DECODER = json.JSONDecoder(parse_int=JsonNumber, parse_float=JsonNumber, parse_constant=JsonNumber)
loads = _DECODER.decode


def json_items(text: str, lines: bool = False) -> Iterator[tuple[int, Any]]:
    """(line, value) for each top-level item: one object, an array's elements, or JSON Lines.

    With `lines` (a .jsonl file) every line stands alone, so one bad line costs only itself.
    """
    if lines:
        yield from json_line_items(enumerate(text.split("\n"), start=1))
        return
    try:
        data = loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            yield from json_line_items(enumerate(text.split("\n"), start=1))
            return
        raise BadInput(f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    except RecursionError:
        raise BadInput("invalid JSON: nested too deeply", 1) from None
    if isinstance(data, list):
        yield from zip(_array_item_lines(text, len(data)), data, strict=True)
    elif isinstance(data, dict):
        yield _first_line(text), data
    else:
        raise BadInput(f"expected a JSON object or an array of objects, found {type_name(data)}", 1)


def json_line_items(lines: Iterable[tuple[int, str | BadInput]]) -> Iterator[tuple[int, Any]]:
    """(line, value or BadInput) for each non-blank line of JSON Lines, parsed as it is read."""
    seen = False
    for number, line in lines:
        if isinstance(line, BadInput):
            seen = True
            yield number, line
            continue
        if not line.strip():
            continue
        seen = True
        try:
            yield number, loads(line)
        except json.JSONDecodeError as exc:
            yield number, BadInput(f"invalid JSON: {exc.msg} (column {exc.colno})", number)
        except RecursionError:
            yield number, BadInput("invalid JSON: nested too deeply", number)
    if not seen:
        raise BadInput("empty file")


class ElementLine(int):
    """The line an array element starts on, and which element it is: one line may hold them all."""

    element: int
    count: int

    def __new__(cls, line: int, element: int, count: int) -> ElementLine:
        self = super().__new__(cls, line)
        self.element, self.count = element, count
        return self

    def where(self) -> str:
        return f"element {self.element} of {self.count}"


def _array_item_lines(text: str, count: int) -> list[int]:
    """The line each element of a (valid) JSON array starts on; an ElementLine where others start on it too."""
    lines, index = [], text.index("[") + 1
    line, counted_to = 1, 0
    for _ in range(count):
        index = _skip_space_and_comma(text, index)
        line += text.count("\n", counted_to, index)
        counted_to = index
        lines.append(line)
        _, index = _DECODER.raw_decode(text, index)
    shared = {line for line, elements in Counter(lines).items() if elements > 1}
    return [ElementLine(line, number, count) if line in shared else line for number, line in enumerate(lines, start=1)]


def _skip_space_and_comma(text: str, index: int) -> int:
    while text[index] in " \t\r\n,":
        index += 1
    return index


def _first_line(text: str) -> int:
    return text.count("\n", 0, len(text) - len(text.lstrip())) + 1


class _RowLines:
    """The lines fed to a csv reader, keeping those of the row being read (to re-read after a bad quote)."""

    def __init__(self, lines: Iterator[str]):
        self.lines = lines
        self.row: list[str] = []

    def __iter__(self) -> _RowLines:
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.row.append(line)
        return line


def csv_rows(lines: Iterable[str]) -> Iterator[tuple[int, Any]]:
    """(line, row dict or BadInput) for each CSV or TSV row; the header names the fields.

    Read as it goes. A quote that is never closed swallows the rest of the file as one field: that
    row is reported and the lines after its first are read again as rows of their own. A row with
    undecodable bytes is reported at their line and the rows after it are read.
    """
    lines = iter(lines)
    try:
        header = next(lines)
    except StopIteration:
        raise BadInput("empty file") from None
    except UnicodeDecodeError as exc:
        raise BadInput(f"not {exc.encoding.upper()} text", 1) from None
    if problem := undecodable_byte(header):
        raise BadInput(problem, 1)
    delimiter = "\t" if header.count("\t") > header.count(",") else ","
    reader = csv.reader(_RowLines(iter([header])), delimiter=delimiter)
    fieldnames = next(reader, None)
    if not fieldnames or not any(name.strip() for name in fieldnames):
        raise BadInput("no header row", 1)
    _check_header(fieldnames)
    yield from _csv_body(lines, fieldnames, delimiter, first_line=2)


def _check_header(fieldnames: list[str]) -> None:
    """Refuse a header whose rows would be misread: a column named twice, or another delimiter."""
    if len(fieldnames) == 1 and ";" in fieldnames[0]:
        raise BadInput("the header looks ';'-separated; only comma- or tab-separated files are read (save it with commas)", 1)
    counts = Counter(name for name in fieldnames if name.strip())
    for name, count in counts.items():
        if count > 1:
            columns = ", ".join(str(i) for i, other in enumerate(fieldnames, start=1) if other == name)
            raise BadInput(f'the header names column "{name}" {count} times (columns {columns}); rename all but one', 1)


def _csv_body(lines: Iterator[str], fieldnames: list[str], delimiter: str, first_line: int) -> Iterator[tuple[int, Any]]:
    feed = _RowLines(lines)
    reader = csv.DictReader(feed, fieldnames=fieldnames, delimiter=delimiter)
    held: tuple[int, dict | BadInput, list[str]] | None = None  # the last row read: it may be the unclosed one
    while True:
        feed.row = []
        start = first_line + reader.line_num  # a quoted field may run over several lines
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise BadInput(f"malformed CSV: {exc}", start) from None
        except UnicodeDecodeError as exc:
            raise BadInput(f"not {exc.encoding.upper()} text", start) from None
        if held:
            yield held[0], held[1]
        held = (start, _undecodable_row(feed.row, start) or {k: v for k, v in row.items() if k is not None}, feed.row)
    if held is None:
        return
    start, last, raw = held
    if _unclosed_quote(raw, delimiter):
        yield start, BadInput("a quoted field opened here is never closed; the lines after it are read as rows", start)
        yield from _csv_body(iter(raw[1:]), fieldnames, delimiter, start + 1)
    else:
        yield start, last


def _undecodable_row(raw: list[str], start: int) -> BadInput | None:
    """The complaint about a row whose lines hold undecodable bytes, at the first such line."""
    for offset, line in enumerate(raw):
        if problem := undecodable_byte(line):
            return BadInput(problem, start + offset)
    return None


def _unclosed_quote(raw: list[str], delimiter: str) -> bool:
    """Whether these lines (the last row) end inside a quoted field."""
    try:
        list(csv.reader(raw, delimiter=delimiter, strict=True))
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def record_from_item(item: Any, origin: str, default_source: str, fields: FieldMap, prefer: str) -> ImportRecord:
    """A record from one JSON value or CSV row; `prefer` is the format asked for (auto: by its keys)."""
    if isinstance(item, BadInput):
        raise item
    if prefer == "reasonset" or (prefer == "auto" and looks_like_reasonset(item)):
        return reasonset_record(item, origin, default_source, fields)
    return record_from_row(item, origin, default_source, fields)


def record_from_row(row: Any, origin: str, default_source: str, fields: FieldMap) -> ImportRecord:
    if not isinstance(row, dict):
        raise BadInput(f"expected an object with a problem field, found {type_name(row)}")
    if isinstance(row.get("messages"), list):
        return _record_from_chat(row, origin, default_source, fields)
    problem_text = _first(row, fields.problem)
    if not problem_text:
        raise BadInput(f"no problem text (looked for: {', '.join(fields.problem)})")
    solution = _first(row, fields.solution)
    problem = Problem(
        text=problem_text,
        reference_answer=_first(row, fields.answer) or last_boxed(solution),
        reference_solution=solution,
        source=fields.source or text_value(row.get("source"), "source") or default_source,
        subject=_first(row, ("subject", "type")),
        level=text_value(row.get("level"), "level"),
    )
    return make_record(problem, _first(row, fields.draft), origin)


def _first(row: dict, names: tuple[str, ...]) -> str | None:
    """The first of `names` that holds non-empty text."""
    for name in names:
        value = text_value(row.get(name), name)
        if value:
            return value
    return None


def _record_from_chat(row: dict, origin: str, default_source: str, fields: FieldMap) -> ImportRecord:
    turns = [_turn(message) for message in row["messages"]]
    users = [text for role, text in turns if role == "user" and text]
    drafts = [text for role, text in turns if role == "assistant" and text]
    if not users:
        raise BadInput("chat line has no user message")
    problem = Problem(text=users[0], source=fields.source or default_source)
    return make_record(problem, drafts[-1] if drafts else None, origin)


def _turn(message: Any) -> tuple[str | None, str | None]:
    """(role, text) of a chat message whose content is text or a list of text blocks."""
    if not isinstance(message, dict):
        raise BadInput(f"chat message must be an object, not {type_name(message)}")
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(_block_text(b) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return message.get("role"), text_value(content, "content")


def _block_text(block: dict) -> str:
    """The text of a {"type": "text", "text": ...} content block; a block without text adds nothing."""
    text = block.get("text")
    if text is None:
        return ""
    if not isinstance(text, str) or isinstance(text, JsonNumber):
        raise BadInput(f'"text" of a content block must be text, not {type_name(text)}')
    return text
