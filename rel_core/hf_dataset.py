"""A Hugging Face dataset folder: parquet files under data/ and a README.md dataset card.

    OUT/README.md                              YAML front matter (license, task_categories,
                                               annotations_creators, size_categories, configs)
    OUT/data/<config>/train-00000-of-00001.parquet   one per config: sft, steps, dpo, kto

Load it with `datasets.load_dataset("parquet", data_dir="OUT/data/dpo")` or, once pushed to the
Hub, by config name. pyarrow is an optional extra (`pip install 'rel-tui[hf]'`).

The folder is built beside OUT and renamed into place, so an interrupted export leaves OUT as it
was. An existing OUT is replaced only when it is empty or an earlier rel-tui export (its card says
so); any other folder is refused.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .exporters import TEMP_MARK, ExportError, current_umask

CARD_MARK = "<!-- written by rel-tui export --format hf -->"
PARQUET_NAME = "train-00000-of-00001.parquet"
CONFIGS = ("sft", "steps", "dpo", "kto")
DEFAULT_CONFIG = "sft"

# What each config's rows hold, for the card.
DESCRIPTIONS = {
    "sft": "accepted worked solutions: `prompt`, `completion`, `label_source`, `verified`, `edited`, reference answer and metadata",
    "steps": "TRL stepwise supervision: `prompt`, `completions` (steps), `labels` (bool per step), `label_source`",
    "dpo": "TRL preference pairs: `prompt`, `chosen`, `rejected`, `pair_reason`, `chosen_source`, `rejected_source`",
    "kto": "TRL unpaired labels: `prompt`, `completion`, `label`, `label_source`",
}


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ExportError("--format hf needs pyarrow, which is not installed: pip install 'rel-tui[hf]'") from None
    return pyarrow


def schemas(pa) -> dict[str, Any]:
    """Explicit column types, so an empty config and all-null columns still have a schema."""
    ids = [("problem_id", pa.int64())]
    return {
        "sft": pa.schema(
            [
                ("prompt", pa.string()),
                ("completion", pa.string()),
                ("label_source", pa.string()),
                ("verified", pa.bool_()),
                ("edited", pa.bool_()),
                ("reference_answer", pa.string()),
                ("source", pa.string()),
                ("subject", pa.string()),
                ("level", pa.string()),
                *ids,
                ("attempt_id", pa.int64()),
            ]
        ),
        "steps": pa.schema(
            [
                ("prompt", pa.string()),
                ("completions", pa.list_(pa.string())),
                ("labels", pa.list_(pa.bool_())),
                ("label_source", pa.string()),
                ("ruled_by", pa.string()),
                *ids,
                ("attempt_id", pa.int64()),
            ]
        ),
        "dpo": pa.schema(
            [
                ("prompt", pa.string()),
                ("chosen", pa.string()),
                ("rejected", pa.string()),
                ("pair_reason", pa.string()),
                ("chosen_source", pa.string()),
                ("rejected_source", pa.string()),
                *ids,
                ("chosen_attempt_id", pa.int64()),
                ("rejected_attempt_id", pa.int64()),
            ]
        ),
        "kto": pa.schema(
            [
                ("prompt", pa.string()),
                ("completion", pa.string()),
                ("label", pa.bool_()),
                ("label_source", pa.string()),
                *ids,
                ("attempt_id", pa.int64()),
            ]
        ),
    }


def size_category(rows: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < bound:
            return name
    return "1M<n<10M"


def write_folder(out: Path, rows: dict[str, list[dict[str, Any]]], license_id: str, sources: Iterable[str]) -> int:
    """Write the folder; returns the number of rows over every config."""
    pa = _pyarrow()
    target = _usable_target(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}{TEMP_MARK}{os.getpid()}-"))
    try:
        for config, schema in schemas(pa).items():
            folder = building / "data" / config
            folder.mkdir(parents=True)
            table = pa.Table.from_pylist([{k: row.get(k) for k in schema.names} for row in rows[config]], schema=schema)
            pa.parquet.write_table(table, folder / PARQUET_NAME)
        counts = {config: len(rows[config]) for config in CONFIGS}
        (building / "README.md").write_text(card(counts, license_id, sorted(set(sources))), encoding="utf-8")
        building.chmod(0o777 & ~current_umask())  # mkdtemp makes it private; a dataset folder is not
        _swap_into_place(building, target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return sum(counts.values())


def _usable_target(out: Path) -> Path:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ExportError(f"{out}: exists and is not a folder; --format hf writes a dataset folder")
    if out.is_dir() and any(out.iterdir()) and not _is_our_export(out):
        raise ExportError(f"{out}: a folder that is not an earlier rel-tui hf export; choose a new or empty folder")
    return out


def _is_our_export(folder: Path) -> bool:
    card_path = folder / "README.md"
    try:
        return card_path.is_file() and CARD_MARK in card_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _swap_into_place(building: Path, target: Path) -> None:
    """Rename the new folder in; an earlier export is moved aside first and removed after."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}{TEMP_MARK}{os.getpid()}-old"
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    try:
        building.rename(target)
    except BaseException:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def card(counts: dict[str, int], license_id: str, sources: list[str]) -> str:
    """The dataset card: YAML front matter the Hub reads, then what is in each config."""
    yaml = [
        "---",
        f"license: {license_id}",
        "task_categories:",
        "- text-generation",
        "annotations_creators:",
        "- expert-generated",
        "- machine-generated",
        "size_categories:",
        f"- {size_category(max(counts.values(), default=0))}",
        "tags:",
        "- math",
        "- reasoning",
        "- process-supervision",
        "- preference",
        "configs:",
    ]
    for config in CONFIGS:
        yaml += [f"- config_name: {config}", "  data_files:", "  - split: train", f"    path: data/{config}/*.parquet"]
        if config == DEFAULT_CONFIG:
            yaml.append("  default: true")
    yaml.append("---")
    body = [
        "",
        CARD_MARK,
        "",
        "# Worked solutions and process supervision from rel-tui",
        "",
        (
            "Made with rel-tui (the Reasoning Enhancement Loop, arXiv 2412.04645): LLM drafts, an LLM critic, "
            "an automatic answer check and domain experts' decisions, step labels and edits."
        ),
        "",
        "Every label says where it came from: `expert:<annotator>`, `critic:<model>` or `answer_check`.",
        "",
        "| config | rows | what each row is |",
        "| --- | --- | --- |",
        *(f"| `{c}` | {counts[c]} | {DESCRIPTIONS[c]} |" for c in CONFIGS),
        "",
        f"Problem sources: {', '.join(sources) or 'unknown'}. Licence: `{license_id}`"
        + (" (set it with `--license`; check the licence of each source)." if license_id == "other" else "."),
        "",
        "```python",
        "from datasets import load_dataset",
        'pairs = load_dataset("parquet", data_files="data/dpo/*.parquet", split="train")',
        "```",
        "",
    ]
    return "\n".join(yaml + body)
