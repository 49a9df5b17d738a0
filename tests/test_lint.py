"""The linters stay clean: `ruff check` and `ruff format --check` on rel_core, rel_tui, tests and bench, and `mypy rel_core`
(config in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's tools, next to the interpreter running the tests


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool
    if not exe.exists():
        pytest.skip(f"{tool} is not installed next to {sys.executable} (pip install -e '.[test]')")
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", "rel_core", "rel_tui", "tests", "bench")
    assert result.returncode == 0, f"ruff check found problems:\n{result.stdout}{result.stderr}"


def test_code_is_formatted() -> None:
    result = _run("ruff", "format", "--check", "rel_core", "rel_tui", "tests", "bench")
    assert result.returncode == 0, f"ruff format would rewrite (run `ruff format rel_core rel_tui tests bench`):\n{result.stdout}"


def test_mypy_is_clean() -> None:
    result = _run("mypy", "rel_core")
    assert result.returncode == 0, f"mypy found problems:\n{result.stdout}{result.stderr}"
