"""`rel-tui import` and `rel-tui export`, end to end through the real entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from rel_core.models import Decision, ProblemState, Review
from rel_core.store import Store

FIXTURES = Path(__file__).parent / "fixtures"


def clean_env(home: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`environ` (default os.environ) minus a developer's REL_* settings, API keys and base URLs.

    HOME is `home`, so nothing from the developer's home directory is read either.
    """
    environ = os.environ if environ is None else environ
    env = {
        name: value
        for name, value in environ.items()
        if not name.upper().startswith("REL_") and not name.upper().endswith(("_API_KEY", "_BASE_URL"))
    }
    env["HOME"] = str(home)
    return env


_home: Path | None = None  # the running test's HOME for rel_tui(), set by fresh_home


@pytest.fixture(autouse=True)
def fresh_home(tmp_path_factory) -> Iterator[None]:
    global _home
    _home = tmp_path_factory.mktemp("home")
    yield
    _home = None


def rel_tui(*args: str, cwd=None) -> subprocess.CompletedProcess:
    assert _home is not None, "rel_tui() runs inside a test"
    return subprocess.run(
        [sys.executable, "-m", "rel_tui", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env=clean_env(_home),
    )


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "rel.db"


def test_clean_env_drops_settings_keys_and_base_urls(tmp_path):
    environ = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "HOME": "/home/dev",
        "REL_DB": "/home/dev/rel.db",
        "REL_CONFIG": "/home/dev/rel.toml",
        "rel_loop__concurrency": "9",
        "OPENAI_API_KEY": "sk-dev",
        "ANTHROPIC_API_KEY": "sk-ant-dev",
        "MY_PROXY_API_KEY": "k",
        "OPENAI_BASE_URL": "http://dev.invalid/v1",
        "ANTHROPIC_BASE_URL": "http://dev.invalid",
    }
    assert clean_env(tmp_path, environ) == {"PATH": "/usr/bin", "LANG": "C.UTF-8", "HOME": str(tmp_path)}


def test_the_cli_under_test_sees_none_of_the_developers_environment(tmp_path, db, monkeypatch):
    broken = tmp_path / "developer.toml"
    broken.write_text("this is = [not toml")
    monkeypatch.setenv("REL_CONFIG", str(broken))
    monkeypatch.setenv("REL_DB", str(tmp_path / "developer.db"))
    monkeypatch.setenv("REL_BUSY_TIMEOUT", "not a number")
    monkeypatch.setenv("REL_GENERATOR", "openai:developer-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-developer")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://developer.invalid/v1")
    result = rel_tui("--db", str(db), "import", str(FIXTURES / "tabular"))
    assert result.returncode == 0, result.stderr
    shown = rel_tui("--db", str(db), "config")
    assert shown.returncode == 0, shown.stderr
    assert "developer" not in shown.stdout and '"set"' not in shown.stdout
    assert not (tmp_path / "developer.db").exists()


def test_import_folder_then_again_adds_nothing(db):
    first = rel_tui("--db", str(db), "import", str(FIXTURES / "reasonset"), str(FIXTURES / "markdown"))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "Read 7 files: 6 problems added, 1 already present, 7 attempts added, 0 skipped."
    again = rel_tui("--db", str(db), "import", str(FIXTURES / "reasonset"), str(FIXTURES / "markdown"))
    assert again.returncode == 0
    assert "0 problems added, 7 already present, 0 attempts added, 0 skipped" in again.stdout
    with Store(db) as store:
        # a new database gets only what was imported: no bundled problems
        assert store.count_problems() == 6
        assert store.counts()[ProblemState.AWAITING_REVIEW] == 6


def test_bad_files_are_reported_the_rest_imported_exit_nonzero(tmp_path, db):
    folder = tmp_path / "data (mixed)"
    shutil.copytree(FIXTURES / "reasonset", folder)
    (folder / "broken.json").write_text('{"problem": ')
    (folder / "binary.json").write_bytes(b"\x00\x01\x02garbage")
    (folder / "number.json").write_text("3.14")
    missing = tmp_path / "missing.json"
    result = rel_tui("--db", str(db), "import", str(folder), str(missing))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"created new database {db}",
        f"{folder / 'binary.json'}: binary file, not text",
        f"{folder / 'broken.json'}:1: invalid JSON: Expecting value (column 13)",
        f"{folder / 'number.json'}:1: expected a JSON object or an array of objects, found a number",
        f"{missing}: no such file or directory",
    ]
    assert result.stdout.strip() == "Read 8 files: 4 problems added, 1 already present, 5 attempts added, 4 skipped."
    with Store(db) as store:
        assert store.count_problems() == 4


def test_strict_imports_nothing_when_anything_is_bad(tmp_path, db):
    bad = tmp_path / "rows.jsonl"
    bad.write_text('{"problem": "ok"}\n{"nope": 1}\n')
    result = rel_tui("--db", str(db), "import", "--strict", str(FIXTURES / "tabular"), str(bad))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"created new database {db}",
        f"{bad}:2: no problem text (looked for: problem, question)",
    ]
    assert result.stdout.startswith("Nothing imported (--strict)")
    with Store(db) as store:
        assert store.count_problems() == 0


def test_custom_fields_format_and_source(db):
    path = FIXTURES / "custom_fields" / "planets.jsonl"
    result = rel_tui(
        "--db",
        str(db),
        "import",
        str(path),
        "--format",
        "jsonl",
        "--problem-field",
        "prompt",
        "--answer-field",
        "target",
        "--solution-field",
        "explanation",
        "--source",
        "planets",
    )
    assert result.returncode == 0, result.stderr
    with Store(db) as store:
        problem = store.get_problem(1)
    assert (problem.text, problem.reference_answer, problem.source) == (
        "Name the largest planet.",
        "Jupiter",
        "planets",
    )


def test_nothing_to_import_is_an_error(tmp_path, db):
    (tmp_path / "empty folder").mkdir()
    result = rel_tui("--db", str(db), "import", str(tmp_path / "empty folder"))
    assert result.returncode == 1
    assert "Nothing to import" in result.stdout


def accept_all(db: Path) -> None:
    with Store(db) as store:
        for item in store.queue(limit=1000):
            attempt = store.history(item.id).latest_attempt
            store.record_review(Review(problem_id=item.id, decision=Decision.ACCEPTED, attempt_id=attempt.id, annotator="ana"))


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "reasonset", "jsonl"])
def test_export_then_import_round_trips(tmp_path, db, fmt):
    assert rel_tui("--db", str(db), "import", str(FIXTURES / "reasonset")).returncode == 0
    accept_all(db)
    out = tmp_path / "out" / f"export.{'json' if fmt == 'reasonset' else 'jsonl'}"
    out.parent.mkdir()  # export makes no folders (a mistyped one is an error)
    result = rel_tui("--db", str(db), "export", str(out), "--format", fmt)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == f"Exported 4 problems ({fmt}, accepted) to {out}."
    again = tmp_path / "again.db"
    reimport = rel_tui("--db", str(again), "import", str(out))
    assert reimport.returncode == 0, reimport.stderr
    assert texts_and_solutions(again) == accepted_texts_and_solutions(db)


def texts_and_solutions(db: Path) -> set[tuple[str, str]]:
    with Store(db) as store:
        return {(h.problem.text, h.latest_attempt.text) for h in map(store.history, store.iter_problem_ids())}


def accepted_texts_and_solutions(db: Path) -> set[tuple[str, str]]:
    with Store(db) as store:
        return {(h.problem.text, h.accepted_attempt.text) for h in map(store.history, store.iter_problem_ids())}


def test_export_to_stdout_and_status_all(db):
    assert rel_tui("--db", str(db), "import", str(FIXTURES / "tabular")).returncode == 0
    accepted = rel_tui("--db", str(db), "export", "-")
    assert accepted.returncode == 0 and accepted.stdout == ""
    everything = rel_tui("--db", str(db), "export", "-", "--status", "all")
    items = [json.loads(line) for line in everything.stdout.splitlines()]
    assert len(items) == 7
    assert {item["status"] for item in items} == {"pending", "awaiting_review"}


def test_export_without_database_is_one_line_error(tmp_path):
    result = rel_tui("--db", str(tmp_path / "none.db"), "export", str(tmp_path / "out.jsonl"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: no database at {tmp_path / 'none.db'}"
    assert not (tmp_path / "none.db").exists()


def test_export_to_unwritable_place_is_one_line_error(tmp_path, db):
    assert rel_tui("--db", str(db), "import", str(FIXTURES / "tabular")).returncode == 0
    blocker = tmp_path / "a file"
    blocker.write_text("")
    result = rel_tui("--db", str(db), "export", str(blocker / "out.jsonl"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {blocker / 'out.jsonl'}: cannot write")
    assert "Traceback" not in result.stderr
