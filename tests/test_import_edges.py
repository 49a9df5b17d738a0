"""Import at any size and shape: streamed JSONL, odd encodings, unclosed CSV quotes, symlink
loops, FIFOs and devices, numbers no float can hold, and reports that cannot drive the terminal.

Every test imports into a real SQLite file, through `rel-tui import` or `import_paths`.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rel_core import importers
from rel_core.importers import PathReader, common, import_paths, parallel, read_paths
from rel_core.importers.common import open_input
from rel_core.importers.tabular import csv_rows
from rel_core.store import Store


def run_import(tmp_path: Path, *args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """`rel-tui --db tmp/rel.db import ARGS` in a subprocess, with no REL_* settings and a fresh HOME."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("REL_")}
    env["HOME"] = str(tmp_path / "home")
    Store(tmp_path / "rel.db").close()  # made first, so stderr is the import's report alone (not "created new database")
    return subprocess.run(
        [sys.executable, "-m", "rel_tui", "--db", str(tmp_path / "rel.db"), "import", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def problems(tmp_path: Path) -> list[str]:
    with Store(tmp_path / "rel.db") as store:
        return [row[0] for row in store.conn.execute("select text from problems order by id")]


def row(problem: str, **fields: object) -> str:
    return json.dumps({"problem": problem, **fields}) + "\n"


# -- JSONL is streamed ----------------------------------------------------------------------


def big_jsonl(path: Path, megabytes: int) -> int:
    draft = "We check each case in turn and the sum is then the answer. " * 300  # ~18 KB
    rows = 0
    with path.open("w", encoding="utf-8") as out:
        while out.tell() < megabytes * 2**20:
            out.write(row(f"problem {rows}: find x.", answer=str(rows), worked_solution=f"{draft} {rows}"))
            rows += 1
    return rows


@pytest.mark.parametrize("strict", [False, True])
def test_a_big_jsonl_is_imported_in_bounded_memory(tmp_path, monkeypatch, strict):
    """The file is read as it is parsed and stored in batches: Python's peak stays far below its size.

    The batch cap is lowered from its 4 MiB so that a small file shows the bound quickly."""
    monkeypatch.setattr(importers, "BATCH_BYTES", 2**20)
    path = tmp_path / "big.jsonl"
    rows = big_jsonl(path, 10)
    size = path.stat().st_size
    with Store(tmp_path / "rel.db") as store:
        tracemalloc.start()
        try:
            outcome = import_paths(store, [path], strict=strict)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert outcome.committed and outcome.errors == []
        assert outcome.summary.problems_added == store.count_problems() == rows
    assert peak < size / 4, f"peak {peak / 2**20:.1f} MB for a {size / 2**20:.1f} MB file"


def test_strict_imports_nothing_when_the_last_line_of_a_big_file_is_bad(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(row(f"p{n}") for n in range(3000)) + "{not json\n")
    result = run_import(tmp_path, "--strict", path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}:3001: invalid JSON: Expecting property name enclosed in double quotes (column 2)"
    ]
    assert result.stdout.startswith("Nothing imported (--strict)")
    assert problems(tmp_path) == []
    path.write_text("".join(row(f"p{n}") for n in range(3000)))
    assert run_import(tmp_path, "--strict", path).returncode == 0
    assert len(problems(tmp_path)) == 3000


# -- encodings ------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_files_with_a_byte_order_mark_are_read_in_their_encoding(tmp_path, encoding):
    text = row("Quelle est la température ? β", answer="42") + row("second ✓", answer="1")
    bom = {"utf-16-be": b"\xfe\xff", "utf-16": b"", "utf-32": b"", "utf-8-sig": b""}[encoding]
    for name in ("rows.jsonl", "rows.json", "rows.csv"):
        body = text if name != "rows.csv" else "problem,answer\nQuelle est la température ? β,42\nsecond ✓,1\n"
        (tmp_path / "in" / encoding).mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / encoding / name).write_bytes(bom + body.encode(encoding))
    result = run_import(tmp_path, tmp_path / "in")
    assert result.returncode == 0, result.stderr
    assert problems(tmp_path) == ["Quelle est la température ? β", "second ✓"]


def test_undecodable_bytes_cost_only_their_line_in_jsonl_and_their_file_otherwise(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(row("good 1").encode() + b'{"problem": "bad \xff"}\n' + row("good 2").encode())
    (folder / "b.json").write_bytes(b'{"problem": "caf\xe9"}')
    (folder / "c.csv").write_bytes(b"problem\nfine\nna\xefve\n")
    (folder / "d.jsonl").write_bytes(b"\xff\xfe" + b"\x00\xd8")  # UTF-16 with a lone high surrogate
    result = run_import(tmp_path, folder)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{folder / 'a.jsonl'}:2: not UTF-8 text (byte 0xff)",
        f"{folder / 'b.json'}:1: not UTF-8 text (byte 0xe9)",
        f"{folder / 'c.csv'}:3: not UTF-8 text (byte 0xef)",
        f"{folder / 'd.jsonl'}:1: not valid UTF-16 text",
    ]
    assert problems(tmp_path) == ["good 1", "good 2", "fine"]


def test_utf16_without_a_byte_order_mark_is_named_as_such(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(row("p").encode("utf-16-le"))
    result = run_import(tmp_path, path)
    assert result.stderr.splitlines() == [
        f"{path}: looks like UTF-16 without a byte-order mark; save it as UTF-8 (or UTF-16 with a BOM)"
    ]


# -- CSV quotes -----------------------------------------------------------------------------


def test_an_unclosed_csv_quote_is_reported_and_the_rows_around_it_kept(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text('problem,answer\nfirst,1\n"second, never closed,2\nthird,3\nfourth,4\n')
    result = run_import(tmp_path, path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}:3: a quoted field opened here is never closed; the lines after it are read as rows"
    ]
    assert problems(tmp_path) == ["first", "third", "fourth"]


def test_an_unclosed_quote_on_the_last_line_and_a_closed_multiline_last_row(tmp_path):
    unclosed = tmp_path / "a.csv"
    unclosed.write_text('problem\nfirst\n"last')
    closed = tmp_path / "b.csv"
    closed.write_text('problem\nfirst\n"multi\nline"\n')
    result = read_paths([unclosed, closed])
    assert [str(e) for e in result.errors] == [
        f"{unclosed}:3: a quoted field opened here is never closed; the lines after it are read as rows"
    ]
    assert [r.problem.text for r in result.records] == ["first", "first", "multi\nline"]


# -- things that are not files to read ------------------------------------------------------


def test_a_symlink_loop_in_a_folder_is_reported_and_the_rest_imported(tmp_path):
    data = tmp_path / "data set"
    (data / "sub folder").mkdir(parents=True)
    (data / "sub folder" / "rows.jsonl").write_text(row("inside"))
    (data / "top.jsonl").write_text(row("top"))
    (data / "sub folder" / "back up").symlink_to(data, target_is_directory=True)  # a loop
    (data / "self.jsonl").symlink_to(data / "self.jsonl")  # a link to itself
    linked = tmp_path / "elsewhere"
    linked.mkdir()
    (linked / "linked.jsonl").write_text(row("through a link"))
    (data / "link to elsewhere").symlink_to(linked, target_is_directory=True)
    result = run_import(tmp_path, data, timeout=30)
    assert sorted(result.stderr.splitlines()) == [
        f"{data / 'self.jsonl'}: symbolic link loop; not followed",
        f"{data / 'sub folder' / 'back up'}: symbolic link loop (a link to a folder already read); not followed",
    ]
    assert sorted(problems(tmp_path)) == ["inside", "through a link", "top"]
    assert result.returncode == 1


def test_a_fifo_or_device_is_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    (tmp_path / "in").mkdir()
    os.mkfifo(tmp_path / "in" / "also a pipe.jsonl")
    (tmp_path / "in" / "rows.jsonl").write_text(row("kept"))
    start = time.monotonic()
    result = run_import(tmp_path, fifo, "/dev/zero", tmp_path / "in", timeout=30)  # nobody writes to the FIFOs
    assert time.monotonic() - start < 25
    assert result.stderr.splitlines() == [
        f"{fifo}: a FIFO (named pipe), not a regular file; not read",
        "/dev/zero: a character device, not a regular file; not read",
        f"{tmp_path / 'in' / 'also a pipe.jsonl'}: a FIFO (named pipe), not a regular file; not read",
    ]
    assert problems(tmp_path) == ["kept"]
    assert result.returncode == 1


def test_a_missing_path_is_one_line(tmp_path):
    result = run_import(tmp_path, tmp_path / "nope.jsonl")
    assert result.stderr.splitlines() == [f"{tmp_path / 'nope.jsonl'}: no such file or directory"]


# -- numbers --------------------------------------------------------------------------------


def test_numbers_no_float_can_hold_are_kept_as_written(tmp_path):
    huge = "9" * 5000
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"problem": "a", "answer": 1e999999}\n'
        f'{{"problem": "b", "answer": {huge}}}\n'
        '{"problem": "c", "answer": 2.50, "level": -0.0}\n'
        '{"problem": "d", "answer": NaN}\n'
    )
    rel = tmp_path / "rel.json"
    rel.write_text(
        json.dumps(
            {"problem": "e", "solution": {"working_out": "x", "iterations": 0, "is_correct": True}, "ground_truth": "y"}
        ).replace("0,", "1e999999,")
    )
    result = run_import(tmp_path, path, rel)
    assert result.returncode == 0, result.stderr
    with Store(tmp_path / "rel.db") as store:
        answers = dict(store.conn.execute("select text, reference_answer from problems").fetchall())
        iterations = store.conn.execute("select iteration from attempts").fetchall()
    assert answers == {"a": "1e999999", "b": huge, "c": "2.50", "d": "NaN", "e": None}
    assert iterations == [(0,)]  # a count too big for SQLite is unknown, not an overflow


# -- reports are safe to print --------------------------------------------------------------


def test_reports_cannot_send_escape_sequences_to_the_terminal(tmp_path):
    folder = tmp_path / "in\x1b[31m red"
    folder.mkdir()
    (folder / "bad\x1b]0;title\x07.jsonl").write_text('{"problem": 7}\n{"problem": ""}\n')
    (folder / "rows.csv").write_text('problem\n"\x1b[2J\n')
    result = run_import(tmp_path, folder)
    assert result.returncode == 1
    for stream in (result.stdout, result.stderr):
        assert "\x1b" not in stream and "\x07" not in stream
    shown = tmp_path / "in␛[31m red"
    assert result.stderr.splitlines() == [
        f"{shown / 'bad␛]0;title␇.jsonl'}:2: no problem text (looked for: problem, question)",
        f"{shown / 'rows.csv'}:2: a quoted field opened here is never closed; the lines after it are read as rows",
    ]


# -- many files in worker processes ---------------------------------------------------------


def test_a_parallel_import_gives_what_a_serial_one_gives(tmp_path, monkeypatch):
    """Workers parse chunks of small files; records, issues and their order are the same as in-process."""
    monkeypatch.setattr(parallel, "SMALL_FILE_BYTES", 4096)  # so that the big file below is read here, streamed
    data = tmp_path / "REL release (v1)"
    for n in range(300):
        folder = data / f"part {n % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        body = {"problem": f"problem {n % 250}", "solution": f"draft {n}", "ground_truth": "\\boxed{1}"}
        (folder / f"{n:04d}.json").write_text(json.dumps(body) if n % 50 else "{broken")
    (data / "part 1" / "0150 big.jsonl").write_text("".join(row(f"big {n}", answer="2") for n in range(400)))
    os.mkfifo(data / "part 2" / "0200 pipe.json")

    def run(workers: int) -> tuple[list[str], list[str], object, int]:
        db = tmp_path / f"w{workers}.db"
        with Store(db) as store:
            outcome = import_paths(store, [data], workers=workers)
            texts = [
                r[0]
                for r in store.conn.execute(
                    "select p.text || '|' || coalesce(a.text, '') from problems p left join attempts a on a.problem_id = p.id order by p.id, a.id"
                )
            ]
        return texts, [str(e) for e in outcome.errors], vars(outcome.summary), outcome.files

    serial, in_workers = run(1), run(2)
    assert in_workers == serial
    texts, errors, summary, files = serial
    assert files == 302 and len(errors) == 7  # six broken files and the FIFO
    assert texts[:3] == ["problem 3|draft 3", "problem 3|draft 253", "problem 6|draft 6"]  # file order: part 0 first
    assert summary == {"problems_added": 245 + 400, "problems_existing": 49, "attempts_added": 294}


# -- the readers on adversarial input (linear time, never an exception) ----------------------

CSV_CHARS = '",\n\r\t ab\\'


@settings(max_examples=150, deadline=3000, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=CSV_CHARS, max_size=4000))
def test_csv_rows_take_any_text(text):
    lines = [number for number, _ in csv_rows(io.StringIO("problem,answer\n" + text, newline=""))]
    assert lines == sorted(lines)


@pytest.mark.parametrize(
    "body",
    [
        '"x\n' * 50_000,  # every line opens a quote
        '"\n' * 100_000,
        "a," * 100_000 + '"' + "b\n" * 50_000,  # one unclosed quote, then many lines
        '""' * 100_000 + "\n" + '"""\n' * 20_000,
    ],
)
def test_csv_worst_cases_finish(body):
    start = time.monotonic()
    rows = list(csv_rows(io.StringIO("problem\n" + body, newline="")))
    assert rows and time.monotonic() - start < 20


@settings(max_examples=100, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=3000), st.sampled_from(["utf-16", "utf-32", "utf-8-sig"]))
def test_json_lines_split_on_newline_only_in_every_encoding(tmp_path, text, encoding):
    """U+2028, \r and friends stay inside their line, in UTF-8 and in the chunked UTF-16/32 reader."""
    path = tmp_path / "rows.jsonl"
    path.write_bytes(("x" + text).encode(encoding))
    with patch.object(common, "_CHUNK_CHARS", 7), open_input(path) as source:  # lines across many chunks
        lines = [line for _, line in source.lines()]
    expected = ("x" + text).split("\n")
    if expected[-1] == "":
        expected.pop()
    assert lines == expected


def _worker_dies(*args: object) -> None:
    os._exit(3)  # as an OOM kill would end it


def _no_pool(workers: int) -> None:
    raise OSError(38, "Function not implemented")  # as sem_open fails without /dev/shm


@pytest.mark.parametrize("failure", ["worker dies", "no pool"])
def test_when_workers_die_or_cannot_start_their_files_are_read_in_process(tmp_path, monkeypatch, failure):
    data = tmp_path / "many"
    data.mkdir()
    for n in range(parallel.MIN_FILES + 20):
        (data / f"{n:04d}.jsonl").write_text(row(f"problem {n}") if n % 100 else "{broken\n")
    if failure == "worker dies":
        monkeypatch.setattr(parallel, "read_chunk", _worker_dies)
    else:
        monkeypatch.setattr(parallel, "pool", _no_pool)
    with Store(tmp_path / "rel.db") as store:
        outcome = import_paths(store, [data], workers=2)
    assert outcome.files == parallel.MIN_FILES + 20
    assert [str(e) for e in outcome.errors] == [
        f"{data / f'{n:04d}.jsonl'}:1: invalid JSON: Expecting property name enclosed in double quotes (column 2)"
        for n in (0, 100, 200)
    ]
    assert problems(tmp_path) == [f"problem {n}" for n in range(parallel.MIN_FILES + 20) if n % 100]


def test_workers_are_kept_only_a_few_chunks_ahead(tmp_path):
    """Memory stays bounded in a parallel import too: files are handed out as results are used."""
    paths = []
    for n in range(2000):
        paths.append(tmp_path / f"{n:04d}.jsonl")
        paths[-1].write_text(row(f"problem {n}"))
    handed_out = 0

    def counted():
        nonlocal handed_out
        for path in paths:
            handed_out += 1
            yield path

    records = PathReader(counted(), workers=2).records()
    assert next(records).problem.text == "problem 0"
    ahead = parallel.MIN_FILES + (2 * 3 + 1) * parallel.CHUNK_FILES
    assert handed_out <= ahead < len(paths)
    assert [r.problem.text for r in records] == [f"problem {n}" for n in range(1, 2000)]
