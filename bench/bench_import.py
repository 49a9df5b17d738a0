"""Import throughput on generated REL/ReasonSet files.

Run: .venv/bin/python bench/bench_import.py [--files 15000] [--problems 1200] [--runs 3] [--profile]

Writes --files JSON files (3-8 KB, string and object `solution`s with REL's repr()-quoted values
and string booleans, ~--problems distinct problems repeated as in the real ReasonSet) into nested
folders whose names have spaces and parentheses, then imports them with the real code path
(rel_core.importers.import_paths) into a fresh database, --runs times. Reports files/s, median.
Target on a 2-core machine: at least 1,500 files/s.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from rel_core.importers import import_paths
from rel_core.store import Store

WORDS = (
    "so the sum of both roots is then we check that this works wait that cannot be right let me "
    "try another approach instead the triangle has area equal to half base times height and the "
    "probability of each case follows from counting favourable outcomes over all outcomes"
).split()
FOLDERS = ["competition_math", "gpqa (diamond)", "custom set", "Reason Set (v2)/algebra", "Reason Set (v2)/geometry"]


def prose(rng: random.Random, size: int) -> str:
    words, length = [], 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word + ("\n\n" if rng.random() < 0.02 else " "))
        length += len(word) + 1
    return "".join(words)


def problem_text(index: int, rng: random.Random) -> str:
    return (
        f"Problem {index}: find the value of $x$ when ${rng.randint(2, 99)}x + {index} = {rng.randint(100, 10**6)}$. "
        + prose(rng, 300)
    )


def rel_file(problem: str, rng: random.Random) -> dict:
    draft = prose(rng, rng.randint(2500, 6500)) + f"\n\n<ANSWER>\\boxed{{{rng.randint(1, 999)}}}</ANSWER>"
    truth = prose(rng, 400) + f" so the answer is $\\boxed{{\\frac{{{rng.randint(1, 9)}}}{{{rng.randint(2, 9)}}}}}$."
    if rng.random() < 0.4:
        solution: object = draft
    else:
        empty_final = rng.random() < 0.6
        solution = {
            "final_solution": "''" if empty_final else repr(draft),
            "working_out": repr(draft),
            "is_correct": rng.choice([True, False, "True", "False"]),
            "iterations": rng.choice([1, 2, "1", "3"]),
            "error_description": "None" if rng.random() < 0.8 else repr("The sign of the root is wrong."),
            "log_directory": "'logs/solutions/20241115_112619'",
        }
    return {"problem": problem, "solution": solution, "ground_truth": truth}


def generate(root: Path, files: int, problems: int, seed: int = 11) -> int:
    rng = random.Random(seed)
    texts = [problem_text(i, rng) for i in range(problems)]
    total_bytes = 0
    for index in range(files):
        folder = root / FOLDERS[index % len(FOLDERS)] / f"batch {index // 1000} (part {index % 7})"
        folder.mkdir(parents=True, exist_ok=True)
        body = json.dumps(rel_file(rng.choice(texts), rng), indent=4)
        (folder / f"synthetic_20241115_{index:06d}.json").write_text(body, encoding="utf-8")
        total_bytes += len(body)
    return total_bytes


def run_once(root: Path, db_path: Path) -> tuple[float, int, object]:
    with Store(db_path) as store:
        start = time.perf_counter()
        outcome = import_paths(store, [root])
        elapsed = time.perf_counter() - start
    if outcome.errors:
        raise SystemExit(f"unexpected import errors, first: {outcome.errors[0]}")
    return elapsed, outcome.files, outcome.summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=15_000)
    parser.add_argument("--problems", type=int, default=1_200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile one extra run with cProfile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ReasonSet (export)"
        size = generate(root, args.files, args.problems)
        print(f"generated {args.files} files, {size / args.files / 1024:.1f} KB average, {args.problems} problems")
        rates = []
        for run in range(args.runs):
            elapsed, files, summary = run_once(root, Path(tmp) / f"run{run}.db")
            rates.append(files / elapsed)
            print(f"run {run + 1}: {files} files in {elapsed:.2f} s = {files / elapsed:,.0f} files/s  {summary}")
        print(f"median: {statistics.median(rates):,.0f} files/s (target 1,500)")
        if args.profile:
            import cProfile
            import pstats

            cProfile.runctx("run_once(root, Path(tmp) / 'profile.db')", globals(), locals(), str(Path(tmp) / "prof"))
            pstats.Stats(str(Path(tmp) / "prof")).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
