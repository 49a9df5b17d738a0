"""Training exports and the report on a generated database with step labels and rulings.

Run: .venv/bin/python bench/bench_training_export.py [--problems 3000] [--labelled-every 3]

Each problem gets a wrong draft (checked incorrect, an LLM critique naming step 2) and a right
revision (checked correct); every --labelled-every-th one also gets step labels, a "first error
here", a ruling on the critique and an accept of the revision. Then each training format is
written to memory, the report built and the hf folder written (if pyarrow is installed), timed.
Measured on the 2-core dev machine shared with other jobs (3,000 problems, two runs): each JSONL
format 0.4-1.2 s, the report 0.6-1.2 s, the hf folder 1.0-1.5 s.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

from rel_core import exporters, labels
from rel_core.models import (
    Attempt,
    AttemptKind,
    Critique,
    CritiqueSource,
    Decision,
    Problem,
    Review,
    Verdict,
)
from rel_core.report import build_report
from rel_core.store import Store

TEXT = "Step one of {}.\n\nStep two.\n\nStep three.\n\nStep four.\n\n<ANSWER>{}</ANSWER>"


def build(path: Path, problems: int, every: int) -> None:
    with Store(path) as store, store.transaction():
        for number in range(problems):
            problem_id, _ = store.add_problem(Problem(text=f"Problem {number}", reference_answer="1", source="bench"))
            draft = store.add_attempt(
                Attempt(problem_id=problem_id, kind=AttemptKind.GENERATED, text=TEXT.format(number, 2), model="g")
            )
            store.add_critique(Critique(attempt_id=draft, verdict=Verdict.INCORRECT, source=CritiqueSource.CHECK))
            raw = json.dumps({"verdict": "incorrect", "first_error_step": 2})
            critique = store.add_critique(
                Critique(attempt_id=draft, verdict=Verdict.INCORRECT, source=CritiqueSource.LLM, model="c", raw=raw)
            )
            revision = store.add_attempt(
                Attempt(problem_id=problem_id, kind=AttemptKind.REVISED, parent_id=draft, text=TEXT.format(number, 1), model="g")
            )
            store.add_critique(Critique(attempt_id=revision, verdict=Verdict.CORRECT, source=CritiqueSource.CHECK))
            if number % every == 0:
                labels.label_step(store, draft, 1, labels.Rating.GOOD, "ana")
                labels.mark_first_error(store, draft, 2, "ana")
                labels.rule_on_critique(store, critique, labels.RulingAspect.VERDICT, True, "ana")
                store.record_review(
                    Review(
                        problem_id=problem_id, decision=Decision.ACCEPTED, attempt_id=revision, annotator="ana", seconds_spent=30
                    )
                )


def timed(name: str, run) -> None:
    start = time.perf_counter()
    count = run()
    print(f"{name:>10}: {time.perf_counter() - start:6.2f} s  ({count} records)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=3000)
    parser.add_argument("--labelled-every", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "bench.db"
        build(path, args.problems, args.labelled_every)
        with Store(path, read_only=True) as store:
            for fmt in exporters.TRAINING_FORMATS:
                timed(fmt, lambda fmt=fmt: exporters.write_export(store, io.StringIO(), fmt, "all"))
            timed("report", lambda: build_report(store).problems)
            try:
                timed("hf", lambda: exporters.export_folder(store, Path(scratch) / "hf"))
            except exporters.ExportError as exc:
                print(f"        hf: skipped ({exc})")


if __name__ == "__main__":
    main()
