"""The worst inputs found for the text parsers (tests/fixtures/nasty/), each in linear time,
and a REL-style markdown trace with tables imported end to end into a real SQLite store."""

from __future__ import annotations

import shutil
import time

import pytest
from parser_corpus import NASTY, PARSERS, build, recipes

from rel_core.importers import import_paths
from rel_core.store import Store

SIZE = 50_000  # and 4 × SIZE: the old quadratic parsers took seconds to minutes at 200 kB
MAX_RATIO = 10.0  # 4× the input: linear is ~4, quadratic ~16; generous because the machine is noisy
MEASURABLE_SECONDS = 0.05  # below this at 4n, timer noise swamps the ratio; the absolute cap still holds
MAX_SECONDS = 2.0  # at 200 kB; each bad case took 2 s to minutes before the fix
MEASUREMENTS = 3
RECIPES = recipes()


def _best_time(parse, text: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        parse(text)
        best = min(best, time.perf_counter() - started)
    return best


def test_the_corpus_covers_every_parser():
    assert {recipe["parser"] for recipe in RECIPES.values()} == set(PARSERS)
    assert len(RECIPES) >= 20


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_worst_input_parses_in_linear_time(name):
    recipe = RECIPES[name]
    parse = PARSERS[recipe["parser"]]
    small, large = build(recipe, SIZE), build(recipe, 4 * SIZE)
    parse(small)  # warm caches (compiled patterns, imports)
    for _ in range(MEASUREMENTS):  # a blow-up fails every time; a noisy neighbour only sometimes
        small_time, large_time = _best_time(parse, small), _best_time(parse, large)
        ratio = large_time / max(small_time, 1e-6)
        if large_time < MAX_SECONDS and (large_time < MEASURABLE_SECONDS or ratio < MAX_RATIO):
            return
    assert large_time < MAX_SECONDS, f"{name}: {large_time:.2f} s at {len(large)} characters ({recipe['why']})"
    assert ratio < MAX_RATIO, f"{name}: 4x the input took {ratio:.1f}x the time ({recipe['why']})"


def test_a_unit_repeated_cannot_hide_a_blow_up():
    """The ratio check can fail: a deliberately quadratic parser is caught by the same rule."""

    def quadratic(text: str) -> int:
        return sum(text.count("x", index) for index in range(0, len(text), 8))

    small, large = "x" * SIZE, "x" * (4 * SIZE)
    ratio = _best_time(quadratic, large, runs=1) / _best_time(quadratic, small, runs=2)
    assert ratio > MAX_RATIO


def test_markdown_trace_with_tables_imports_into_the_store(tmp_path):
    folder = tmp_path / "dataset" / "human traces"
    folder.mkdir(parents=True)
    shutil.copy(NASTY / "trace_with_tables.md", folder / "trace 1.md")
    with Store(tmp_path / "rel.db") as store:
        outcome = import_paths(store, [tmp_path / "dataset"])
        assert outcome.errors == [] and outcome.summary.problems_added == 1
        [problem_id] = list(store.iter_problem_ids(None))
        history = store.history(problem_id)
    problem, [attempt] = history.problem, history.attempts
    assert problem.text.startswith("A fair die is rolled twice.") and problem.text.endswith("is $7$?")
    assert problem.reference_answer == r"\frac{1}{6}"
    assert problem.reference_solution.startswith("There are $36$") and problem.reference_solution.endswith("|")
    assert "|:-----------------------------------------------------------:|:-----:|" in attempt.text
    assert attempt.text.endswith(r"<ANSWER>\boxed{\frac{1}{6}}</ANSWER>")  # the closing `---` rule is dropped
    assert attempt.final_answer == r"\frac{1}{6}"
