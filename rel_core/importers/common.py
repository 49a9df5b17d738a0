"""What every importer shares: problems found in files, complaints about bad input, value coercion."""

from __future__ import annotations

import ast
import codecs
import errno
import io
import math
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rel_core.models import (
    Attempt,
    AttemptKind,
    Critique,
    ImportRecord,
    Problem,
    ProblemState,
    content_hash,
)

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


# Byte-order marks, longest first: a UTF-32-LE mark begins with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_HEAD_BYTES = 8192
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of an undecodable byte
_CHUNK_CHARS = 1 << 20
# What a path that is not a regular file is, for the refusal.
_SPECIAL = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def os_reason(exc: OSError) -> str:
    """Why a path cannot be read, in words."""
    if exc.errno == errno.ELOOP:
        return "symbolic link loop; not followed"
    if exc.errno == errno.ENOENT:
        return "no such file or directory"
    return f"cannot read: {exc.strerror or exc}"


def _refuse_special(mode: int) -> None:
    """Only regular files are read: opening a FIFO or a device would wait forever or never end."""
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _SPECIAL if test(mode)), "not a regular file")
    raise BadInput(f"{kind}, not a regular file; not read")


def special_file(path: Path) -> str | None:
    """What `path` is if it is a FIFO, a device or a socket; None for anything else (or nothing)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return next((name for test, name in _SPECIAL if test(mode)), "not a regular file")


@dataclass
class InputFile:
    """One opened input file and the encoding its first bytes say it is in (UTF-8 unless a BOM says otherwise)."""

    binary: io.BufferedReader[io.FileIO]
    encoding: str

    def text(self) -> str:
        """The whole file as text; BadInput for undecodable bytes or a file with nothing in it."""
        data = self.binary.read()
        try:
            text = data.decode(self.encoding)
        except UnicodeDecodeError as exc:
            line = data[: exc.start].decode(self.encoding, "replace").count("\n") + 1
            raise BadInput(self._undecodable(data, exc.start), line) from None
        if not text.strip():
            raise BadInput("empty file")
        return text

    def lines(self) -> Iterator[tuple[int, str | BadInput]]:
        """(line number, text) for each "\\n"-separated line, read as it is needed (JSON Lines).

        In UTF-8 a line with undecodable bytes costs only itself. Splitting on "\\n" only: other
        line breaks (U+2028, a lone \\r) may sit inside JSON strings.
        """
        if self.encoding.startswith("utf-8"):
            return self._utf8_lines()
        return self._decoded_lines()

    def _utf8_lines(self) -> Iterator[tuple[int, str | BadInput]]:
        for number, raw in enumerate(self.binary, start=1):
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield number, BadInput(self._undecodable(raw, exc.start), number)

    def _decoded_lines(self) -> Iterator[tuple[int, str | BadInput]]:
        reader = io.TextIOWrapper(self.binary, self.encoding, newline="")
        number, pending = 1, list[str]()  # pieces of a line that spans chunks (joined once: no quadratic +=)
        try:
            while chunk := reader.read(_CHUNK_CHARS):
                *complete, rest = chunk.split("\n")
                for line in complete:
                    yield number, "".join([*pending, line]) if pending else line
                    pending = []
                    number += 1
                pending.append(rest)
        except UnicodeDecodeError:
            yield number, BadInput(f"not valid {self._name()} text", number)
            return
        finally:
            reader.detach()  # the file is closed by its owner
        if any(pending):
            yield number, "".join(pending)

    def text_lines(self) -> Iterator[str]:
        """Lines with their line ends, as the csv module wants them (CSV).

        Undecodable UTF-8 bytes are decoded with surrogateescape (a decoded UTF-8 line never holds
        a lone surrogate otherwise), so the reader goes on past them; `undecodable_byte` finds them
        in the rows read, which then cost only themselves. Other encodings raise UnicodeDecodeError.
        """
        utf8 = self.encoding.startswith("utf-8")
        reader = io.TextIOWrapper(self.binary, self.encoding, "surrogateescape" if utf8 else "strict", newline="")
        try:
            yield from reader
        finally:
            if not self.binary.closed:  # a reader given up early (a bad header) is finished after the file is closed
                reader.detach()  # the file is closed by its owner

    def _undecodable(self, data: bytes, start: int) -> str:
        if self.encoding.startswith("utf-8"):
            return f"not UTF-8 text (byte 0x{data[start]:02x})"
        return f"not valid {self._name()} text"

    def _name(self) -> str:
        return {"utf-16": "UTF-16", "utf-32": "UTF-32"}.get(self.encoding, self.encoding)


def undecodable_byte(line: str) -> str | None:
    """What is wrong with a line read by `text_lines` that holds undecodable bytes, else None."""
    if line.isascii():  # the common case, and much cheaper than the search
        return None
    bad = _ESCAPED_BYTE.search(line)
    return f"not UTF-8 text (byte 0x{ord(bad.group()) - 0xDC00:02x})" if bad else None


@contextmanager
def open_input(path: Path) -> Iterator[InputFile]:
    """`path` opened for reading, if it is a regular text file; BadInput at once otherwise.

    FIFOs and devices are refused before they are opened (opening a FIFO waits for a writer), and
    the file is opened non-blocking and checked again, in case it was swapped in between.
    """
    try:
        _refuse_special(os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise BadInput(os_reason(exc)) from None
    with io.BufferedReader(io.FileIO(fd, "rb"), _HEAD_BYTES) as binary:
        info = os.fstat(fd)
        _refuse_special(info.st_mode)  # O_NONBLOCK does nothing to a regular file, so it can stay
        yield InputFile(binary, _encoding(binary, info.st_size))


def _encoding(binary: io.BufferedReader[io.FileIO], size: int) -> str:
    head = binary.peek(_HEAD_BYTES)[:_HEAD_BYTES]  # read once, still there for the reader
    if not head.strip() and size <= len(head):
        raise BadInput("empty file")
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    if b"\x00" in head:
        if head[1::2].count(0) > len(head) // 4 or head[::2].count(0) > len(head) // 4:
            raise BadInput("looks like UTF-16 without a byte-order mark; save it as UTF-8 (or UTF-16 with a BOM)")
        raise BadInput("binary file, not text")
    return "utf-8-sig"


def read_text(path: Path) -> str:
    """A file's text, or BadInput saying in words why it is not readable text."""
    with open_input(path) as source:
        return source.text()


class JsonNumber(str):
    """A JSON number kept as the text it was written as.

    An answer is text: "2.50" must stay "2.50", 1e999999 must not become inf, and an integer of
    over 4300 digits must not make Python refuse the whole line.
    """

    __slots__ = ()


def text_value(value: object, what: str) -> str | None:
    """A field as text: strings as they are, numbers written out, null/empty as None."""
    if value is None:
        return None
    if isinstance(value, (int, float, JsonNumber)):  # bools too: "True"
        return str(value)
    if isinstance(value, str):
        return encodable(value) if value.strip() else None
    raise BadInput(f'"{what}" must be text, not {type_name(value)}')


def encodable(text: str) -> str:
    """JSON may carry lone surrogates ("\\ud800") that SQLite cannot store; they become "?"."""
    if text.isascii():  # the common case, and much cheaper than encoding
        return text
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
    if isinstance(value, JsonNumber):
        return float(value) != 0
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
    return names.get(type(value), "a number" if isinstance(value, (int, float, JsonNumber)) else type(value).__name__)


def imported_attempt(text: str, iteration: int = 0) -> Attempt:
    return Attempt(kind=AttemptKind.IMPORTED, text=text, final_answer=draft_final_answer(text), iteration=iteration)


def make_record(
    problem: Problem, draft: str | None, origin: str, critique: Critique | None = None, iteration: int = 0
) -> ImportRecord:
    """A problem with its draft, if any; a problem that comes with a draft is ready for review.

    The content hashes are worked out here, in the process that read the file (a worker, in a
    parallel import), not by the store in the one process that writes the database.
    """
    if not draft or not draft.strip():
        return ImportRecord(problem=problem, origin=origin, problem_hash=problem.hash)
    # Set here rather than left to the store, which saves an UPDATE per new problem.
    problem.state = ProblemState.AWAITING_REVIEW
    return ImportRecord(
        problem=problem,
        attempts=[imported_attempt(draft, iteration)],
        critiques=[critique] if critique else [],
        origin=origin,
        problem_hash=problem.hash,
        attempt_hashes=[content_hash(draft)],
    )
