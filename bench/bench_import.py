"""Import throughput on generated REL-like files, through `rel-tui import`; JSONL memory.

Run: .venv/bin/python bench/bench_import.py [--files 15000] [--problems 10000] [--runs 3] [--profile]
     .venv/bin/python bench/bench_import.py --jsonl-mb 200    # peak RSS of importing a big JSONL

Throughput: writes --files JSON files shaped like REL's release (see /work/shared/rel-samples):
indent=2 JSON with `\\u` escapes for non-ASCII, LaTeX-heavy text (many backslashes), drafts of
4-24 KB (long `working_out`), `solution` as a string or an object whose `final_solution` is often
empty, some values `repr()`-quoted, GPQA-style multiple-choice problems, REL's "No solution
provided" placeholder, and ~--problems distinct problems among the files (REL's ReasonSet: 1,778
files, 1,193 distinct problems), plus 100 markdown traces, in nested folders whose names have
spaces and parentheses. Each run imports the tree into a fresh database with `rel-tui import` in a
subprocess and reports files/s (wall time of the whole command, interpreter start included); the
median of --runs is printed. Target on a 2-core machine: at least 1,500 files/s.

Memory: --jsonl-mb writes a JSONL of about that size and imports it in a subprocess, reporting
its peak RSS (ru_maxrss) against the file size.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = [
    "so",
    "the",
    "sum",
    "of",
    "both",
    "roots",
    "is",
    "then",
    "we",
    "check",
    "that",
    "this",
    "works",
    "wait",
    "that",
    "cannot",
    "be",
    "right",
    "let",
    "me",
    "try",
    "another",
    "approach",
    "instead",
    "the",
    "triangle",
    "has",
    "area",
    "equal",
    "to",
    "half",
    "base",
    "times",
    "height",
    "and",
    "the",
    "probability",
    "of",
    "each",
    "case",
    "follows",
    "from",
    "counting",
    "favourable",
    "outcomes",
    "over",
    "all",
    "outcomes",
    "**Reflection:**",
    "##",
    "**Step**",
    "-",
    "(B)",
    "\\(",
    "x^2",
    "-",
    "5x",
    "+",
    "c",
    "\\)",
    "\\[",
    "\\frac{25}{4}",
    "\\]",
    "$\\pi",
    "r^2$",
    "\\left(\\frac{5}{2}\\right)",
    "β-hydroxy",
    "→",
    "≤",
    "✓",
]
FOLDERS = [
    "ReasonSet/competition_math",
    "ReasonSet/gpqa (diamond)",
    "ReasonSet/custom set",
    "Reason Set (v2)/algebra",
    "Reason Set (v2)/geometry (hard)",
]
PLACEHOLDER = "No solution provided. Please verify your answer independently."
CLI = [sys.executable, "-c", "from rel_tui.cli import main; main()"]


def prose(rng: random.Random, size: int) -> str:
    words, length = [], 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word + ("\n\n" if rng.random() < 0.04 else " "))
        length += len(word) + 1
    return "".join(words)


def problem_text(index: int, rng: random.Random) -> str:
    if index % 3 == 1:  # GPQA: a question with options
        options = "\n".join(f"({letter}) {rng.randint(1, 99)}" for letter in "ABCD")
        return f"Question: {index} {prose(rng, rng.randint(150, 900))}\n\nOptions:\n{options}"
    return f"Find $x$ when ${rng.randint(2, 99)}x + {index} = {rng.randint(100, 10**6)}$. " + prose(rng, 200)


def draft_text(rng: random.Random) -> str:
    size = rng.choice([4000, 5000, 6000, 7000, 9000, 11000]) if rng.random() < 0.9 else 24000
    return prose(rng, size) + f"\n\n<ANSWER>\\boxed{{{rng.randint(1, 999)}}}</ANSWER>"


def reference(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return PLACEHOLDER
    return prose(rng, rng.randint(150, 1000)) + f" so $\\boxed{{\\frac{{{rng.randint(1, 9)}}}{{{rng.randint(2, 9)}}}}}$."


def rel_file(problem: str, rng: random.Random) -> dict:
    draft = draft_text(rng)
    if rng.random() < 0.4:
        solution: object = draft
    else:
        quoted = rng.random() < 0.3  # REL sometimes wrote repr() of its strings
        final = "" if rng.random() < 0.5 else prose(rng, 4000)
        solution = {
            "final_solution": repr(final) if quoted else final,
            "working_out": repr(draft) if quoted else draft,
            "is_correct": rng.choice([True, False, "True"]),
            "iterations": rng.choice([1, 1, 2, "1"]),
            "error_description": None if rng.random() < 0.8 else "The sign of the root is wrong.",
            "log_directory": "logs/solutions/20241115_112619",
        }
    return {"problem": problem, "solution": solution, "ground_truth": reference(rng)}


TABLE = "| n | n^2 | remainder |\n|-----|-----|-----|\n" + "".join(f"| {n} | {n * n} | {n * n % 7} |\n" for n in range(1, 9))


def markdown_trace(index: int, rng: random.Random) -> str:
    # Like REL's human traces; every third one has a markdown table (a separator row once hung the importer).
    table = f"\n\n{TABLE}\n" if index % 3 == 0 else ""
    answer = f"{prose(rng, rng.randint(3000, 15000))}{table}"
    return f"### Question:\nTrace {index}: {prose(rng, 300)}\n\n\n### Answer:\n\n{answer}\n"


def generate(root: Path, files: int, problems: int, markdown: int = 100, seed: int = 11) -> int:
    rng = random.Random(seed)
    texts = [problem_text(i, rng) for i in range(problems)]
    total_bytes = 0
    for index in range(files):
        folder = root / FOLDERS[index % len(FOLDERS)] / f"batch {index // 1000} (part {index % 7})"
        folder.mkdir(parents=True, exist_ok=True)
        body = json.dumps(rel_file(texts[index] if index < problems else rng.choice(texts), rng), indent=2)
        (folder / f"synthetic_20241115_{index:06d}_{index % 97}.json").write_text(body, encoding="utf-8")
        total_bytes += len(body)
    human = root / "dataset" / "human traces"
    human.mkdir(parents=True, exist_ok=True)
    for index in range(markdown):
        (human / f"{'hard' if index % 2 else 'easy'}_question{index}.md").write_text(markdown_trace(index, rng))
    return total_bytes


def run_cli(args: list[str], db_path: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run([*CLI, "--db", str(db_path), "import", *args], capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done


def run_once(root: Path, db_path: Path) -> tuple[float, str]:
    elapsed, done = run_cli([str(root)], db_path)
    if done.returncode != 0:
        raise SystemExit(f"import failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, done.stdout.strip()


def throughput(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = args.tree or Path(tmp) / "REL release (export)"
        count = args.files + 100
        if not root.exists():
            size = generate(root, args.files, args.problems)
            print(f"generated {count} files, JSON {size / args.files / 1024:.1f} KB average, {args.problems} problems")
        rates = []
        for run in range(args.runs):
            elapsed, summary = run_once(root, Path(tmp) / f"run{run}.db")
            rates.append(count / elapsed)
            print(f"run {run + 1}: {count} files in {elapsed:.2f} s = {count / elapsed:,.0f} files/s  {summary}")
        print(f"median: {statistics.median(rates):,.0f} files/s (target 1,500)")
        if args.profile:
            profile(root, Path(tmp))


def profile(root: Path, tmp: Path) -> None:
    """cProfile of the CLI end to end, in-process (same code path as the subprocess)."""
    import cProfile
    import pstats

    from click.testing import CliRunner

    from rel_tui.cli import main

    def invoke() -> None:
        CliRunner().invoke(main, ["--db", str(tmp / "profile.db"), "import", str(root)])

    cProfile.runctx("invoke()", globals(), {"invoke": invoke}, str(tmp / "prof"))
    pstats.Stats(str(tmp / "prof")).sort_stats("tottime").print_stats(30)


def write_jsonl(path: Path, megabytes: int, seed: int = 5) -> int:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        index = 0
        while out.tell() < megabytes * 1024 * 1024:
            row = {"problem": problem_text(index, rng), "answer": str(rng.randint(1, 999)), "worked_solution": draft_text(rng)}
            out.write(json.dumps(row) + "\n")
            index += 1
    return index


def memory(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.jsonl"
        rows = write_jsonl(path, args.jsonl_mb)
        size = path.stat().st_size
        for strict in ([], ["--strict"]):
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            elapsed, done = run_cli([*strict, str(path)], Path(tmp) / f"mem{len(strict)}.db")
            peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            note = "" if peak_kb > before else " (no higher than an earlier run)"
            print(
                f"{' '.join(strict) or 'default'}: {rows} rows, {size / 2**20:.0f} MB JSONL, {elapsed:.1f} s, "
                f"peak RSS {peak_kb / 1024:.0f} MB{note}; {done.stdout.strip()}"
            )
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            os.remove(Path(tmp) / f"mem{len(strict)}.db")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=15_000)
    parser.add_argument("--problems", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile one extra run with cProfile")
    parser.add_argument("--jsonl-mb", type=int, help="measure peak RSS importing a JSONL of this many MB instead")
    parser.add_argument("--tree", type=Path, help="generate the files here, or reuse them if it exists (A/B runs)")
    args = parser.parse_args()
    if args.jsonl_mb:
        memory(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
