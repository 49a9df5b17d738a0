"""Getting problems in: REL/ReasonSet JSON, markdown worked solutions, JSONL/JSON/CSV.

`PathReader` walks files and folders and streams ImportRecords, collecting one ImportIssue per
unusable file or row instead of stopping; `import_paths` feeds the records to the store in
batches. Bad data never raises: it is reported as `path:line: what's wrong`.
"""

from __future__ import annotations

import io
import itertools
import os
import stat
import tempfile
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rel_core.answers import choice_letter
from rel_core.models import ImportRecord
from rel_core.store import ImportSummary, Store

from . import parallel
from .common import BadInput, FieldMap, ImportIssue, InputFile, open_input, os_reason, special_file
from .markdown import looks_like_markdown, records_from_markdown
from .pasted import PastedFormulas
from .reasonset import looks_like_reasonset
from .tabular import ElementLine, csv_rows, json_items, json_line_items, record_from_item

__all__ = [
    "FORMATS",
    "FieldMap",
    "ImportIssue",
    "ImportOutcome",
    "ImportResult",
    "PathReader",
    "detect_format",
    "import_paths",
    "read_paths",
]

FORMATS = ("auto", "reasonset", "markdown", "jsonl", "json", "csv")

# Which files a folder walk picks up, per format asked for; other files in a folder are ignored.
EXTENSIONS = {
    "markdown": {".md", ".markdown"},
    "csv": {".csv", ".tsv"},
    "jsonl": {".jsonl", ".ndjson", ".json"},
    "reasonset": {".json", ".jsonl"},
}
EXTENSIONS["json"] = EXTENSIONS["jsonl"]
EXTENSIONS["auto"] = set().union(*EXTENSIONS.values())
JSON_LINES = {".jsonl", ".ndjson"}
# The formats a .jsonl/.ndjson file is streamed line by line for.
STREAMED_AS_JSON_LINES = ("auto", "jsonl", "json", "reasonset")
# Files a data folder often holds that are not data; skipped in folder walks, read if named.
NOT_DATA = ("readme", "license", "licence", "changelog", "contributing")


def detect_format(path: Path, text: str | None = None) -> str | None:
    """The format of one file (reasonset, jsonl, markdown or csv) from its extension and content."""
    suffix = path.suffix.lower()
    if suffix in EXTENSIONS["markdown"]:
        return "markdown"
    if suffix in EXTENSIONS["csv"]:
        return "csv"
    if text is None:
        return "jsonl" if suffix in EXTENSIONS["jsonl"] else None
    return _sniff(text, suffix)


def _sniff(text: str, suffix: str) -> str | None:
    if _looks_like_json(text):
        try:
            _, first = next(json_items(text, lines=suffix in JSON_LINES))
        except (BadInput, StopIteration):
            return "jsonl"  # the JSON reader reports what is wrong
        return _json_format(first)
    if looks_like_markdown(text):
        return "markdown"
    if suffix in EXTENSIONS["jsonl"]:
        return "jsonl"
    return None


def _looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def _json_format(first_item: object) -> str:
    return "reasonset" if looks_like_reasonset(first_item) else "jsonl"


def _peek(items: Iterator[tuple[int, Any]]) -> tuple[tuple[int, Any] | None, Iterator[tuple[int, Any]]]:
    """The first item, and all the items again (the first is parsed only once)."""
    try:
        first = next(items)
    except StopIteration:
        return None, iter(())
    return first, itertools.chain([first], items)


@dataclass
class PathReader:
    """Streams the records in `paths` (files and folders, walked recursively, in name order).

    JSON Lines and CSV files are read as they are parsed, so memory does not grow with their size.
    """

    paths: Iterable[str | Path]
    fmt: str = "auto"
    fields: FieldMap = field(default_factory=FieldMap)
    files: int = 0
    errors: list[ImportIssue] = field(default_factory=list)
    workers: int = 1  # processes parsing small files (parallel.py); 1: all in this process

    def records(self) -> Iterator[ImportRecord]:
        files = self._files()
        first = list(itertools.islice(files, parallel.MIN_FILES))
        files = itertools.chain(first, files)
        if self.workers < 2 or len(first) < parallel.MIN_FILES:
            for item in files:
                yield from self._collect(item)
            return
        yield from self._read_in_parallel(files)

    def _read_in_parallel(self, files: Iterator[Path | ImportIssue]) -> Iterator[ImportRecord]:
        """Chunks of small files go to worker processes, a few ahead; results are used in file order.

        If the workers cannot start or die (no /dev/shm, an OOM kill), their files are read here.
        """
        ahead = self.workers * 3
        try:
            pool = parallel.pool(self.workers)
        except OSError:
            pool = None
        try:
            pending: deque[parallel.Pending] = deque()
            for item in parallel.plan(files):
                if isinstance(item, list) and pool is not None:
                    try:
                        pending.append(parallel.Chunk(item, pool.submit(parallel.read_chunk, item, self.fmt, self.fields)))
                    except BrokenProcessPool:
                        pool.shutdown(cancel_futures=True)
                        pool = None
                        pending.append(item)
                else:
                    pending.append(item)
                while len(pending) > ahead:
                    yield from self._collect(pending.popleft())
            while pending:
                yield from self._collect(pending.popleft())
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)

    def _collect(self, item: parallel.Pending) -> Iterator[ImportRecord]:
        if isinstance(item, ImportIssue):  # found while walking: reported in its place
            self.errors.append(item)
        elif isinstance(item, Path):  # read here (streamed, if big)
            self.files += 1
            yield from self._read(item)
        elif isinstance(item, list):  # a chunk with no pool to go to
            for path in item:
                yield from self._collect(path)
        else:
            try:
                records, errors, files = item.future.result()
            except BrokenProcessPool:
                yield from self._collect(item.paths)
                return
            self.files += files
            self.errors.extend(errors)
            yield from records

    def _files(self) -> Iterator[Path | ImportIssue]:
        """The files to read, in order, with what was wrong with the paths that are not (in their place)."""
        wanted = EXTENSIONS.get(self.fmt, EXTENSIONS["auto"])
        for given in self.paths:
            path = Path(given)
            try:
                is_folder = stat.S_ISDIR(os.stat(path).st_mode)
            except OSError as exc:
                yield ImportIssue(str(path), None, os_reason(exc))
                continue
            if is_folder:
                for found in self._walk(path):
                    if not isinstance(found, Path) or found.suffix.lower() in wanted:
                        yield found
                    elif kind := special_file(found):  # not data by its name, but worth naming: not a file at all
                        yield ImportIssue(str(found), None, f"{kind}, not a regular file; not read")
            else:
                yield path  # a file named on the command line is read whatever its extension

    def _walk(self, folder: Path) -> Iterator[Path | ImportIssue]:
        """Files under `folder`, sorted, skipping hidden files and folders and READMEs.

        Symbolic links to folders are followed, each real folder once: a link back up the tree
        (a loop) is reported and not entered again.
        """
        found: list[ImportIssue] = []

        def unreadable(exc: OSError) -> None:
            found.append(ImportIssue(str(exc.filename or folder), None, f"cannot read folder: {exc.strerror}"))

        seen = {_identity(folder)}
        for root, dirs, files in os.walk(folder, onerror=unreadable, followlinks=True):
            dirs[:] = [d for d in sorted(dirs) if not d.startswith(".") and _first_visit(Path(root, d), seen, found)]
            yield from found
            found.clear()
            for name in sorted(files):
                if not name.startswith(".") and not name.lower().startswith(NOT_DATA):
                    yield Path(root, name)
        yield from found

    def _error(self, path: Path | str, line: int | None, message: str) -> None:
        self.errors.append(ImportIssue(str(path), line, message))

    def _read(self, path: Path) -> Iterator[ImportRecord]:
        try:
            with open_input(path) as source:
                yield from self._parse(path, source)
        except BadInput as exc:
            self._error(path, exc.line, exc.message)
        except ValidationError as exc:
            self._error(path, 1, _first_validation_error(exc))

    def _parse(self, path: Path, source: InputFile) -> Iterator[ImportRecord]:
        suffix = path.suffix.lower()
        if suffix in JSON_LINES and self.fmt in STREAMED_AS_JSON_LINES:
            yield from self._json(path, json_line_items(source.lines()))
        elif self.fmt == "csv" or (self.fmt == "auto" and suffix in EXTENSIONS["csv"]):
            yield from self._items(path, csv_rows(source.text_lines()), "csv", prefer="jsonl")
        else:
            yield from self._parse_text(path, source.text())

    def _parse_text(self, path: Path, text: str) -> Iterator[ImportRecord]:
        fmt: str | None = self.fmt
        lines = path.suffix.lower() in JSON_LINES
        if fmt == "auto":
            if path.suffix.lower() not in EXTENSIONS["markdown"] and _looks_like_json(text):
                yield from self._json(path, json_items(text, lines))  # parsed once, not sniffed first
                return
            fmt = detect_format(path, text)
        if fmt is None:
            raise BadInput("unrecognised format (use --format)", 1)
        if fmt == "markdown":
            yield from self._markdown(path, text)
        elif fmt == "csv":
            yield from self._items(path, csv_rows(io.StringIO(text, newline="")), "csv", prefer="jsonl")
        else:
            yield from self._json(path, json_items(text, lines))

    def _markdown(self, path: Path, text: str) -> Iterator[ImportRecord]:
        for found in records_from_markdown(text, path, self.fields):
            if isinstance(found, BadInput):
                self._error(path, found.line, found.message)
            else:
                yield found

    def _json(self, path: Path, items: Iterator[tuple[int, Any]]) -> Iterator[ImportRecord]:
        """JSON items; in auto mode the file is named by its first item, and each item goes by its own keys."""
        if self.fmt != "auto":
            yield from self._items(path, items, self.fmt, prefer=self.fmt)
            return
        first, items = _peek(items)
        fmt = _json_format(first[1]) if first and not isinstance(first[1], BadInput) else "jsonl"
        yield from self._items(path, items, fmt, prefer="auto")

    def _items(self, path: Path, items: Iterable[tuple[int, Any]], fmt: str, prefer: str) -> Iterator[ImportRecord]:
        source = _default_source(path, fmt)
        for line, item in items:
            where = f"{line.where()}: " if isinstance(line, ElementLine) else ""  # a one-line array's elements
            line = int(line)  # a plain int from here on: issues go between processes
            try:
                yield record_from_item(item, f"{path}:{line}", source, self.fields, prefer)
            except BadInput as exc:
                self._error(path, exc.line or line, where + exc.message)
            except ValidationError as exc:  # a value the models refuse is bad data too
                self._error(path, line, where + _first_validation_error(exc))


def _first_visit(folder: Path, seen: set[tuple[int, int]], found: list[ImportIssue]) -> bool:
    """Whether to walk into `folder`: not if it is a folder already walked (through a link) or unreadable."""
    try:
        identity = _identity(folder)
    except OSError as exc:
        found.append(ImportIssue(str(folder), None, os_reason(exc)))
        return False
    if identity in seen:
        if folder.is_symlink():
            found.append(ImportIssue(str(folder), None, "symbolic link loop (a link to a folder already read); not followed"))
        return False
    seen.add(identity)
    return True


def _identity(folder: Path) -> tuple[int, int]:
    info = os.stat(folder)
    return info.st_dev, info.st_ino


def _default_source(path: Path, fmt: str) -> str:
    """ReasonSet files are named after their folder (reasonset:gpqa); row files after themselves (jsonl:train)."""
    if fmt == "reasonset":
        return f"reasonset:{path.parent.name}"
    return f"{path.suffix.lstrip('.').lower() or fmt}:{path.stem}"


def _first_validation_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"invalid {where}: {error.get('msg', 'bad value')}"


@dataclass
class ImportResult:
    records: list[ImportRecord]
    errors: list[ImportIssue]
    files: int = 0


def read_paths(paths: Iterable[str | Path], fmt: str = "auto", fields: FieldMap | None = None) -> ImportResult:
    """Everything in `paths`, in memory: for tests and small sets. Large imports use import_paths."""
    reader = PathReader(paths, fmt, fields or FieldMap())
    records = list(reader.records())
    return ImportResult(records, reader.errors, reader.files)


@dataclass
class ImportOutcome:
    summary: ImportSummary
    errors: list[ImportIssue]
    files: int
    committed: bool  # False when --strict found a problem and nothing was imported
    warnings: list[str] = field(default_factory=list)  # about the data itself, not its format
    # Problems already present whose row gave another reference answer (the stored one is kept).
    conflicts: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.errors)


def import_paths(
    store: Store,
    paths: Iterable[str | Path],
    fmt: str = "auto",
    fields: FieldMap | None = None,
    strict: bool = False,
    batch_size: int = 1000,
    workers: int = 1,
) -> ImportOutcome:
    """Read and store everything in `paths`, a batch per transaction so the TUI can write in between.

    Memory stays bounded whatever the input's size: records are parsed as they are read and
    stored in batches (of `batch_size` records or BATCH_BYTES of text, whichever comes first).

    With `strict`, every file is read and parsed first, outside any transaction (holding the
    write lock while parsing would leave other processes with "database is locked"), and the
    records are kept in a temporary file, not in memory; only if nothing was bad are they
    stored, all in one transaction.

    `workers` > 1 parses folders of many small files in that many worker processes (see
    parallel.py); the calling script's main module must then be import-safe (`if __name__ ==
    "__main__":`), as for any multiprocessing.
    """
    with _fewer_checkpoints(store):
        return _import(store, PathReader(paths, fmt, fields or FieldMap(), workers=workers), strict, batch_size)


@contextmanager
def _fewer_checkpoints(store: Store) -> Iterator[None]:
    """Checkpoint the WAL (an fsync each time) every 64 MB written instead of every 4 MB, while importing."""
    (previous,) = store.conn.execute("pragma wal_autocheckpoint").fetchone()
    store.conn.execute("pragma wal_autocheckpoint = 16384")
    try:
        yield
    finally:
        store.conn.execute(f"pragma wal_autocheckpoint = {int(previous)}")


def _import(store: Store, reader: PathReader, strict: bool, batch_size: int) -> ImportOutcome:
    letters, pasted, conflicts = OptionLetters(), PastedFormulas(), AnswerConflicts()
    summary = ImportSummary()
    records = pasted.tally(letters.tally(reader.records()))
    if not strict:
        _store_batches(store, records, batch_size, summary, conflicts)
    else:
        with tempfile.TemporaryFile() as spill:
            for record in records:
                spill.write(record.__pydantic_serializer__.to_json(record) + b"\n")
            if reader.errors:
                return ImportOutcome(ImportSummary(), reader.errors, reader.files, committed=False)
            spill.seek(0)
            with store.transaction():  # the batches join this one transaction: all or nothing
                stored = (ImportRecord.model_validate_json(line) for line in spill)
                _store_batches(store, stored, batch_size, summary, conflicts)
    warnings = letters.warnings() + pasted.warnings()
    return ImportOutcome(summary, reader.errors, reader.files, committed=True, warnings=warnings, conflicts=conflicts.lines)


class AnswerConflicts:
    """Rows whose problem was already present (from an earlier import or row) with another reference answer.

    Problems are deduplicated by their text, and what is stored is kept: nothing is overwritten.
    But two answers for one statement usually mean one of them is wrong, so each is said.
    """

    QUERY_CHUNK = 500  # hashes per query, well under SQLite's limit on parameters

    def __init__(self) -> None:
        self.lines: list[str] = []

    def check(self, store: Store, batch: list[ImportRecord]) -> None:
        """Compare a batch, once it is stored, with what the database holds for its problems."""
        hashes = [record.problem_hash or record.problem.hash for record in batch]
        stored = self._stored(store, hashes)
        for record, problem_hash in zip(batch, hashes, strict=True):
            given = record.problem.reference_answer
            problem_id, kept = stored.get(problem_hash, (None, None))
            if problem_id is None or not given or _same_answer(given, kept):
                continue
            had = f"with reference answer {_shown(kept)}" if kept else "without a reference answer"
            kept_text = _shown(kept) if kept else "none"
            self.lines.append(
                f"{record.origin}: already present as #{problem_id} {had}, this row says {_shown(given)}; kept {kept_text}"
            )

    def _stored(self, store: Store, hashes: list[str]) -> dict[str, tuple[int, str | None]]:
        found: dict[str, tuple[int, str | None]] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), self.QUERY_CHUNK):
            chunk = unique[start : start + self.QUERY_CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"select hash, id, reference_answer from problems where hash in ({marks})"
            found.update((row[0], (int(row[1]), row[2])) for row in store.conn.execute(query, chunk))
        return found


def _shown(answer: str, limit: int = 120) -> str:
    """An answer as the warning shows it: a long one is cut, so the line stays a line."""
    return answer if len(answer) <= limit else answer[:limit] + "…"


def _same_answer(given: str, kept: str | None) -> bool:
    """The same answer as written, up to spacing ("x = 2" and "x=2" too): no maths, so "0.5" is not "1/2"."""
    return kept is not None and "".join(given.split()) == "".join(kept.split())


class OptionLetters:
    """Which option is the answer across the multiple-choice problems read.

    REL's GPQA builder always put the correct option first (NOTES.md); a dataset where every
    answer is (A) teaches a model the position, not the reasoning. Worth saying at import."""

    MIN_ITEMS = 5

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def tally(self, records: Iterable[ImportRecord]) -> Iterator[ImportRecord]:
        for record in records:
            answer = record.problem.reference_answer or ""
            if len(answer) <= 12 and len(answer.strip()) <= 3 and (letter := choice_letter(answer)):
                self.counts[letter] += 1
            yield record

    def warnings(self) -> list[str]:
        total = sum(self.counts.values())
        if total < self.MIN_ITEMS or len(self.counts) > 1:
            return []
        [letter] = self.counts
        return [
            (
                f"all {total} multiple-choice problems have answer ({letter}): the correct option is always in "
                "the same place (REL's GPQA builder put it first), so a model trained on them learns the position; "
                "shuffle the options before training"
            )
        ]


# A batch is also cut at this much text, so a file of very long rows cannot fill memory.
BATCH_BYTES = 4 * 1024 * 1024


def _store_batches(
    store: Store, records: Iterable[ImportRecord], size: int, total: ImportSummary, conflicts: AnswerConflicts
) -> None:
    batch: list[ImportRecord] = []
    text = 0
    for record in records:
        batch.append(record)
        text += _text_size(record)
        if len(batch) >= size or text >= BATCH_BYTES:
            _store_batch(store, batch, total, conflicts)
            batch.clear()
            text = 0
    if batch:
        _store_batch(store, batch, total, conflicts)


def _store_batch(store: Store, batch: list[ImportRecord], total: ImportSummary, conflicts: AnswerConflicts) -> None:
    _add(total, store.import_records(batch))
    conflicts.check(store, batch)


def _text_size(record: ImportRecord) -> int:
    problem = record.problem
    return len(problem.text) + len(problem.reference_solution or "") + sum(len(attempt.text) for attempt in record.attempts)


def _add(total: ImportSummary, part: ImportSummary) -> None:
    total.problems_added += part.problems_added
    total.problems_existing += part.problems_existing
    total.attempts_added += part.attempts_added
