"""Reading many small files on every core: worker processes parse, the caller stores, in order.

REL's release is ~15,000 small JSON files, and parsing them (reading, JSON, repr() unwrapping,
answer extraction, pydantic) costs as much CPU as storing them. Workers parse chunks of small
files while the caller writes the previous chunks to SQLite; results come back in file order.
Large files are left to the caller, which streams them, so no worker holds a big file whole.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import stat
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rel_core.models import ImportRecord

from .common import FieldMap, ImportIssue

MIN_FILES = 256  # fewer files than this are read in-process: a pool would cost more than it saves
CHUNK_FILES = 32  # files per task: enough to amortise the round trip, small enough to keep order cheap
SMALL_FILE_BYTES = 1 << 20  # files at least this big are streamed by the caller
MAX_WORKERS = 4

ChunkResult = tuple[list[ImportRecord], list[ImportIssue], int]


def worker_count() -> int:
    """Worker processes to use: the CPUs this process may run on, up to MAX_WORKERS; 1 means none."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return min(cpus, MAX_WORKERS)


def read_chunk(paths: list[Path], fmt: str, fields: FieldMap) -> ChunkResult:
    """In a worker: the records and issues of `paths`, read one after the other."""
    from . import PathReader  # the package imports this module

    reader = PathReader(paths, fmt, fields, workers=1)
    records = list(reader.records())
    return records, reader.errors, reader.files


def plan(paths: Iterable[Path | ImportIssue]) -> Iterator[Path | ImportIssue | list[Path]]:
    """Consecutive small regular files grouped in chunks; anything else (big, odd, missing, an issue) alone."""
    chunk: list[Path] = []
    for path in paths:
        if isinstance(path, Path) and _small_file(path):
            chunk.append(path)
            if len(chunk) >= CHUNK_FILES:
                yield chunk
                chunk = []
            continue
        if chunk:
            yield chunk
            chunk = []
        yield path
    if chunk:
        yield chunk


def _small_file(path: Path) -> bool:
    try:
        info = os.stat(path)
    except OSError:
        return False  # the caller reports why
    return stat.S_ISREG(info.st_mode) and info.st_size < SMALL_FILE_BYTES


def pool(workers: int) -> ProcessPoolExecutor:
    """A pool whose workers start from a fresh server process, not a fork of this one.

    A fork would copy the caller's open SQLite connection and any threads' locks (the TUI runs
    threads); forkserver avoids both, and preloading the importers makes each worker quick to start.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        context.set_forkserver_preload(["rel_core.importers"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_ignore_interrupts)


def _ignore_interrupts() -> None:
    """Ctrl-C is for the importing process, which stops the workers; they print no tracebacks of their own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass(frozen=True)
class Chunk:
    """Files handed to a worker, kept so they can be read in-process if the worker dies."""

    paths: list[Path]
    future: Future[ChunkResult]


Pending = Path | ImportIssue | list[Path] | Chunk
