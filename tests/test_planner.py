"""The loop's pure planner (rel_core.planner): histories built in memory, no database, no server."""

from __future__ import annotations

import subprocess
import sys

from rel_core.config import LoopSettings, Settings
from rel_core.models import Attempt, AttemptKind, Critique, CritiqueSource, Problem, ProblemHistory, Verdict
from rel_core.planner import (
    GENERIC_HINT,
    Step,
    hint_from,
    plan_next,
    reference_answer_of,
    temperature_for,
)


class History:
    """A problem's history grown step by step, as the engine would commit it."""

    def __init__(self, **problem):
        self.problem = Problem(id=1, text="What is 6 x 7?", **problem)
        self.attempts: list[Attempt] = []
        self.critiques: list[Critique] = []

    def attempt(self, kind: AttemptKind, iteration: int) -> int:
        attempt_id = len(self.attempts) + 1
        self.attempts.append(Attempt(id=attempt_id, problem_id=1, kind=kind, text="...", iteration=iteration))
        return attempt_id

    def critique(self, attempt_id: int, source: CritiqueSource, verdict: Verdict, **fields) -> None:
        self.critiques.append(Critique(attempt_id=attempt_id, source=source, verdict=verdict, **fields))

    def plan(self, **loop):
        history = ProblemHistory(problem=self.problem, attempts=self.attempts, critiques=self.critiques, reviews=[])
        return plan_next(history, Settings(loop=LoopSettings(**loop)))


def test_a_fresh_problem_is_generated_first():
    assert History(reference_answer="42").plan() == plan_next(
        ProblemHistory(problem=Problem(id=1, text="x"), attempts=[], critiques=[], reviews=[]), Settings()
    )
    assert History().plan().step == Step.GENERATE


def test_a_decisive_correct_check_ends_the_loop_without_the_critic_unless_asked():
    history = History(reference_answer="42")
    first = history.attempt(AttemptKind.GENERATED, 0)
    assert (history.plan().step, history.plan().attempt.id) == (Step.CRITIQUE, first)
    history.critique(first, CritiqueSource.CHECK, Verdict.CORRECT)
    assert history.plan().step == Step.DONE
    assert history.plan(critic_when_correct=True).step == Step.CRITIQUE


def test_revisions_run_out_into_the_final_rewrite_then_failure():
    history = History(reference_solution="It is \\boxed{42}.")
    first = history.attempt(AttemptKind.GENERATED, 0)
    history.critique(first, CritiqueSource.CHECK, Verdict.INCORRECT)
    history.critique(first, CritiqueSource.LLM, Verdict.INCORRECT)
    assert (history.plan(max_iterations=1).step, history.plan(max_iterations=1).iteration) == (Step.REVISE, 1)
    assert history.plan(max_iterations=0).step == Step.FINAL_REWRITE
    rewrite = history.attempt(AttemptKind.FINAL_REWRITE, 1)
    history.critique(rewrite, CritiqueSource.CHECK, Verdict.INCORRECT)
    history.critique(rewrite, CritiqueSource.LLM, Verdict.INCORRECT)
    failed = history.plan(max_iterations=0)
    assert failed.step == Step.FAILED and "final rewrite" in failed.detail


def test_no_reference_means_no_final_rewrite():
    history = History()
    first = history.attempt(AttemptKind.GENERATED, 0)
    history.critique(first, CritiqueSource.CHECK, Verdict.UNKNOWN)
    history.critique(first, CritiqueSource.LLM, Verdict.INCORRECT)
    planned = history.plan(max_iterations=0)
    assert planned.step == Step.FAILED and planned.detail == "no reference solution for the final rewrite"


def test_a_verified_final_rewrite_is_cleaned_up_when_configured():
    history = History(reference_answer="42")
    first = history.attempt(AttemptKind.GENERATED, 0)
    history.critique(first, CritiqueSource.CHECK, Verdict.INCORRECT)
    history.critique(first, CritiqueSource.LLM, Verdict.INCORRECT)
    rewrite = history.attempt(AttemptKind.FINAL_REWRITE, 1)
    history.critique(rewrite, CritiqueSource.CHECK, Verdict.CORRECT)
    assert history.plan(max_iterations=0).step == Step.DONE
    assert (history.plan(max_iterations=0, cleanup=True).step, history.plan(max_iterations=0, cleanup=True).iteration) == (
        Step.CLEANUP,
        2,
    )
    cleaned = history.attempt(AttemptKind.CLEANED, 2)
    history.critique(cleaned, CritiqueSource.CHECK, Verdict.INCORRECT)
    history.critique(cleaned, CritiqueSource.LLM, Verdict.INCORRECT)
    done = history.plan(max_iterations=0, cleanup=True)
    assert done.step == Step.DONE and "clean-up" in done.detail


def test_an_expert_edit_is_not_part_of_the_loop_chain():
    history = History(reference_answer="42")
    first = history.attempt(AttemptKind.GENERATED, 0)
    history.critique(first, CritiqueSource.CHECK, Verdict.CORRECT)
    history.attempt(AttemptKind.HUMAN_EDIT, 1)
    assert history.plan().step == Step.DONE  # the planner still looks at the loop's own last attempt


def test_temperature_decays_with_the_iteration():
    settings = Settings(loop=LoopSettings(temperature=1.0, temperature_decay=0.9))
    assert [temperature_for(i, settings) for i in range(3)] == [1.0, 0.9, 0.81]


def test_hints_and_reference_answers():
    assert hint_from([]) == GENERIC_HINT
    critic = Critique(
        source=CritiqueSource.LLM, verdict=Verdict.INCORRECT, first_error_step="3", error_description="6 x 7 is 42."
    )
    assert hint_from([critic]) == "The first error is in step 3. 6 x 7 is 42."
    assert reference_answer_of(Problem(text="x", reference_answer=" ", reference_solution="so \\boxed{42}")) == "42"
    assert reference_answer_of(Problem(text="x", reference_answer="7", reference_solution="\\boxed{42}")) == "7"


def test_the_planner_imports_no_store_no_provider_and_no_engine():
    code = "import sys, rel_core.planner; print(sorted(m for m in sys.modules if m.startswith(('rel_core', 'openai', 'anthropic', 'sqlite3', 'httpx'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for module in ("rel_core.store", "rel_core.loop", "rel_core.providers", "openai", "anthropic", "sqlite3", "httpx"):
        assert f"'{module}" not in loaded, loaded
