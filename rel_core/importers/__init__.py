"""Getting problems in: REL/ReasonSet JSON, markdown worked solutions, JSONL/JSON/CSV.

`PathReader` walks files and folders and streams ImportRecords, collecting one ImportIssue per
unusable file or row instead of stopping; `import_paths` feeds the records to the store in
batches. Bad data never raises: it is reported as `path:line: what's wrong`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from rel_core.answers import choice_letter
from rel_core.models import ImportRecord
from rel_core.store import ImportSummary, Store

from .common import BadInput, FieldMap, ImportIssue, read_text
from .markdown import looks_like_markdown, record_from_markdown
from .reasonset import looks_like_reasonset
from .tabular import csv_rows, json_items, record_from_item

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
    start = text.lstrip()[:1]
    if start in ("{", "["):
        try:
            _, first = next(json_items(text, lines=suffix in JSON_LINES))
        except (BadInput, StopIteration):
            return "jsonl"  # the JSON reader reports what is wrong
        return "reasonset" if looks_like_reasonset(first) else "jsonl"
    if looks_like_markdown(text):
        return "markdown"
    if suffix in EXTENSIONS["jsonl"]:
        return "jsonl"
    return None


@dataclass
class PathReader:
    """Streams the records in `paths` (files and folders, walked recursively, in name order)."""

    paths: Iterable[str | Path]
    fmt: str = "auto"
    fields: FieldMap = field(default_factory=FieldMap)
    files: int = 0
    errors: list[ImportIssue] = field(default_factory=list)

    def records(self) -> Iterator[ImportRecord]:
        for path in self._files():
            self.files += 1
            yield from self._read(path)

    def _files(self) -> Iterator[Path]:
        wanted = EXTENSIONS.get(self.fmt, EXTENSIONS["auto"])
        for given in self.paths:
            path = Path(given)
            if path.is_dir():
                yield from (p for p in self._walk(path) if p.suffix.lower() in wanted)
            elif path.exists():
                yield path  # a file named on the command line is read whatever its extension
            else:
                self.errors.append(ImportIssue(str(path), None, "no such file or directory"))

    def _walk(self, folder: Path) -> Iterator[Path]:
        """Files under `folder`, sorted, skipping hidden files and folders and READMEs."""

        def unreadable(exc: OSError) -> None:
            self.errors.append(ImportIssue(str(exc.filename or folder), None, f"cannot read folder: {exc.strerror}"))

        for root, dirs, files in os.walk(folder, onerror=unreadable):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith(".") and not name.lower().startswith(NOT_DATA):
                    yield Path(root, name)

    def _read(self, path: Path) -> Iterator[ImportRecord]:
        try:
            text = read_text(path)
            fmt = self.fmt if self.fmt != "auto" else detect_format(path, text)
            if fmt is None:
                raise BadInput("unrecognised format (use --format)", 1)
            yield from self._parse(path, text, fmt)
        except BadInput as exc:
            self.errors.append(ImportIssue(str(path), exc.line, exc.message))
        except ValidationError as exc:
            self.errors.append(ImportIssue(str(path), 1, _first_validation_error(exc)))

    def _parse(self, path: Path, text: str, fmt: str) -> Iterator[ImportRecord]:
        if fmt == "markdown":
            yield record_from_markdown(text, path, self.fields)
            return
        if fmt == "csv":
            items, prefer = csv_rows(text), "jsonl"
        else:
            # In auto mode each JSON object goes by its own keys; an explicit format is obeyed.
            items = json_items(text, lines=path.suffix.lower() in JSON_LINES)
            prefer = "auto" if self.fmt == "auto" else fmt
        source = _default_source(path, fmt)
        for line, item in items:
            try:
                yield record_from_item(item, f"{path}:{line}", source, self.fields, prefer)
            except BadInput as exc:
                self.errors.append(ImportIssue(str(path), exc.line or line, exc.message))
            except ValidationError as exc:  # a value the models refuse is bad data too
                self.errors.append(ImportIssue(str(path), line, _first_validation_error(exc)))


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
) -> ImportOutcome:
    """Read and store everything in `paths`, a batch per transaction so the TUI can write in between.

    With `strict`, every file is read and parsed first, outside any transaction (holding the
    write lock while parsing would leave other processes with "database is locked"); only if
    nothing was bad are the records stored, all in one short transaction.
    """
    reader = PathReader(paths, fmt, fields or FieldMap())
    letters = OptionLetters()
    summary = ImportSummary()
    if not strict:
        _store_batches(store, letters.tally(reader.records()), batch_size, summary)
        return ImportOutcome(summary, reader.errors, reader.files, committed=True, warnings=letters.warnings())
    records = list(letters.tally(reader.records()))
    if reader.errors:
        return ImportOutcome(ImportSummary(), reader.errors, reader.files, committed=False)
    with store.transaction():  # the batches join this one transaction: all or nothing
        _store_batches(store, iter(records), batch_size, summary)
    return ImportOutcome(summary, reader.errors, reader.files, committed=True, warnings=letters.warnings())


class OptionLetters:
    """Which option is the answer across the multiple-choice problems read.

    REL's GPQA builder always put the correct option first (NOTES.md); a dataset where every
    answer is (A) teaches a model the position, not the reasoning. Worth saying at import."""

    MIN_ITEMS = 5

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def tally(self, records: Iterable[ImportRecord]) -> Iterator[ImportRecord]:
        for record in records:
            letter = choice_letter(record.problem.reference_answer or "")
            if letter and len(record.problem.reference_answer.strip()) <= 3:
                self.counts[letter] += 1
            yield record

    def warnings(self) -> list[str]:
        total = sum(self.counts.values())
        if total < self.MIN_ITEMS or len(self.counts) > 1:
            return []
        [letter] = self.counts
        return [
            f"all {total} multiple-choice problems have answer ({letter}): the correct option is always in "
            "the same place (REL's GPQA builder put it first), so a model trained on them learns the position; "
            "shuffle the options before training"
        ]


def _store_batches(store: Store, records: Iterator[ImportRecord], size: int, total: ImportSummary) -> None:
    batch: list[ImportRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            _add(total, store.import_records(batch))
            batch.clear()
    if batch:
        _add(total, store.import_records(batch))


def _add(total: ImportSummary, part: ImportSummary) -> None:
    total.problems_added += part.problems_added
    total.problems_existing += part.problems_existing
    total.attempts_added += part.attempts_added
