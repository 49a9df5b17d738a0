"""Each text parser on its worst inputs (tests/fixtures/nasty/*.json) at two sizes.

Run: .venv/bin/python bench/bench_parsers.py [--size 200000] [--runs 5]

Prints the median time at --size and at 4 × --size, and their ratio: ~4 means linear time,
~16 quadratic. The recipes and the parsers they feed are in tests/parser_corpus.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from parser_corpus import PARSERS, build, recipes


def median_seconds(parse, text: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        parse(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    small, large = args.size, 4 * args.size
    print(f"{'worst input':32} {'parser':26} {small // 1000:>6} kB {large // 1000:>6} kB  ratio")
    for name, recipe in recipes().items():
        parse = PARSERS[recipe["parser"]]
        parse(build(recipe, 1000))  # warm up
        t_small = median_seconds(parse, build(recipe, small), args.runs)
        t_large = median_seconds(parse, build(recipe, large), args.runs)
        ratio = t_large / t_small if t_small else float("nan")
        print(f"{name:32} {recipe['parser']:26} {t_small * 1000:7.1f} ms {t_large * 1000:7.1f} ms {ratio:6.1f}")


if __name__ == "__main__":
    main()
