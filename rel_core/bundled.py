"""The starter dataset that ships with rel-tui: problems.jsonl plus human worked solutions.

In an installed wheel it lives at rel_core/_dataset (pyproject force-include); in a checkout at
<repo>/dataset. Worked solutions join the bundled problem with the same text (the store matches
problems by content hash); one whose question matches no problem becomes a problem of its own.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rel_core.importers import FieldMap, ImportResult, read_paths
from rel_core.store import ImportSummary, Store

SOURCE = "bundled"


def bundled_dir() -> Path:
    """The installed copy if there is one, else the checkout's dataset/ folder."""
    installed = Path(str(resources.files("rel_core") / "_dataset"))
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "dataset"


def read_bundled() -> ImportResult:
    """Problems first, then worked solutions, so each solution finds its problem already there."""
    folder = bundled_dir()
    fields = FieldMap(source=SOURCE)
    problems = read_paths([folder / "problems.jsonl"], "jsonl", fields)
    worked = read_paths(sorted((folder / "worked").glob("*.md")), "markdown", fields)
    return ImportResult(problems.records + worked.records, problems.errors + worked.errors, problems.files + worked.files)


def load_bundled(store: Store) -> ImportSummary:
    """Add the bundled problems and worked solutions (in one transaction); nothing twice."""
    return store.import_records(read_bundled().records)
