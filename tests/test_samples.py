"""The shipped samples are what the code produces and accepts today."""

from __future__ import annotations

import json
from pathlib import Path

from rel_core.config import load_settings
from rel_core.importers import import_paths
from rel_core.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_sample_config_is_valid(tmp_path):
    settings = load_settings(tmp_path / "rel.db", SAMPLES / "rel.toml", environ={})
    assert settings.generator.startswith("anthropic:")
    assert settings.models["openai:qwen2.5-7b-instruct"].base_url.startswith("http://127.0.0.1")


def test_sample_exports_import_back(tmp_path):
    openai_lines = [json.loads(line) for line in (SAMPLES / "accepted.openai.jsonl").read_text().splitlines()]
    assert all([m["role"] for m in line["messages"]] == ["user", "assistant"] for line in openai_lines)
    full = [json.loads(line) for line in (SAMPLES / "accepted.full.jsonl").read_text().splitlines()]
    assert {row["status"] for row in full} == {"accepted"} and all(row["verified"] for row in full)
    for name in ("accepted.openai.jsonl", "accepted.anthropic.jsonl", "accepted.reasonset.json", "accepted.full.jsonl"):
        with Store(tmp_path / f"{name}.db") as store:
            import_paths(store, [SAMPLES / name])
            problems = {store.get_problem(pid).text for pid in store.iter_problem_ids()}
            assert problems == {row["problem"] for row in full}, name
