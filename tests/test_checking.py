"""The answer check for imported drafts: rel_core.checking on real SQLite with the real AnswerChecker,
and `rel-tui check` run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rel_core.answers import AnswerChecker
from rel_core.checking import check_attempt, check_unchecked, is_checkable
from rel_core.importers import import_paths
from rel_core.models import CritiqueSource, Decision, Problem, Review, Verdict
from rel_core.store import Store, verified

# Questions that pick out each imported problem; the answers need math-verify except the first.
SOLVE, HALF, SUM, SKY = "x + y = 8", "half of one", "3 + 5", "sky blue"


def write_drafts(folder) -> None:
    """One ReasonSet file and three markdown worked solutions, as REL and experts write them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "solve.json").write_text(
        json.dumps(
            {
                "problem": "Solve $x + y = 8$ and $x - y = 4$ for $x$.",
                "solution": {
                    "working_out": "'Adding the equations gives $2x = 12$, so $x = 6$.\\n\\n<ANSWER>6</ANSWER>'",
                    "is_correct": "False",  # REL's own verdict: imported, never trusted as verification
                },
                "ground_truth": "Adding the equations, $2x = 12$, so $x = \\boxed{6}$.",
            }
        )
    )
    markdown = {
        "half.md": ("What is half of one?", "Half of one is $\\boxed{0.5}$.", "\\frac{1}{2}"),
        "sum.md": ("What is $3 + 5$?", "Counting on from 3 gives $\\boxed{7}$.", "8"),
        "sky.md": ("Why is the sky blue?", "Because of Rayleigh scattering.", None),
    }
    for name, (question, answer, reference) in markdown.items():
        text = f"### Question:\n{question}\n\n### Answer:\n{answer}\n"
        if reference:
            text += f"\n### Reference Answer:\n{reference}\n"
        (folder / name).write_text(text)


def problem_ids(store: Store) -> dict[str, int]:
    ids = {}
    for problem_id in store.iter_problem_ids():
        text = store.get_problem(problem_id).text
        ids.update({key: problem_id for key in (SOLVE, HALF, SUM, SKY) if key in text})
    return ids


def checks_of(store: Store, problem_id: int) -> list:
    history = store.history(problem_id)
    return [c for c in history.critiques_for(history.latest_attempt.id) if c.source == CritiqueSource.CHECK]


@pytest.fixture
def store(tmp_path):
    write_drafts(tmp_path / "drafts")
    with Store(tmp_path / "rel.db") as store:
        outcome = import_paths(store, [tmp_path / "drafts"])
        assert outcome.summary.attempts_added == 4 and not outcome.errors
        yield store


@pytest.fixture(scope="module")
def checker():
    checker = AnswerChecker(workers=1)
    checker.warm()
    yield checker
    checker.close()


@pytest.mark.parametrize(("key", "verdict"), [(SOLVE, Verdict.CORRECT), (HALF, Verdict.CORRECT), (SUM, Verdict.INCORRECT)])
async def test_check_attempt_stores_the_verdict_on_an_imported_draft(store, checker, key, verdict):
    history = store.history(problem_ids(store)[key])
    attempt = history.latest_attempt
    assert verified(history.critiques_for(attempt.id)) is None  # imported: nothing trusted says yet

    critique = await check_attempt(store, checker, history.problem, attempt)

    assert critique.id is not None and critique.verdict == verdict
    assert critique.source == CritiqueSource.CHECK and critique.model == "math-verify"
    assert checks_of(store, history.problem.id) == [critique]
    assert verified(store.history(history.problem.id).critiques_for(attempt.id)) is (verdict == Verdict.CORRECT)


async def test_check_attempt_is_idempotent(store, checker):
    history = store.history(problem_ids(store)[SUM])
    first = await check_attempt(store, checker, history.problem, history.latest_attempt)
    again = await check_attempt(store, checker, history.problem, history.latest_attempt)
    assert again == first
    assert len(checks_of(store, history.problem.id)) == 1


async def test_a_check_stored_meanwhile_by_another_process_is_not_repeated(store, checker, tmp_path):
    history = store.history(problem_ids(store)[HALF])
    attempt = history.latest_attempt

    class OtherProcessFirst(AnswerChecker):
        """Another `rel-tui check` stores its result while this one waits for math-verify."""

        async def check(self, text, reference):
            result = await super().check(text, reference)
            with Store(tmp_path / "rel.db") as other:
                self.theirs = await check_attempt(other, checker, history.problem, attempt)
            return result

    racing = OtherProcessFirst(workers=1)
    try:
        critique = await check_attempt(store, racing, history.problem, attempt)
    finally:
        racing.close()
    assert critique == racing.theirs
    assert checks_of(store, history.problem.id) == [critique]


async def test_no_reference_answer_means_nothing_to_check(store, checker):
    history = store.history(problem_ids(store)[SKY])
    assert not is_checkable(history.problem)
    assert await check_attempt(store, checker, history.problem, history.latest_attempt) is None
    assert store.history(history.problem.id).critiques == []


def test_a_boxed_reference_solution_is_checkable():
    assert is_checkable(Problem(text="q", reference_solution="so $x = \\boxed{6}$"))
    assert not is_checkable(Problem(text="q", reference_solution="six"))


async def test_check_unchecked_tallies_and_skips_what_is_checked(store, checker):
    tally = await check_unchecked(store, checker)
    assert (tally.checked, tally.correct, tally.incorrect, tally.undecided, tally.not_checkable) == (3, 2, 1, 0, 1)
    again = await check_unchecked(store, checker)
    assert (again.checked, again.not_checkable) == (0, 1)


# -- `rel-tui check`, the real entry point ------------------------------------------------------------


def rel_tui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rel_tui", *args], capture_output=True, text=True, timeout=120)


def exported_verified(db) -> dict[str, bool | None]:
    result = rel_tui("--db", str(db), "export", "--status", "all", "--format", "jsonl", "-")
    assert result.returncode == 0, result.stderr
    items = [json.loads(line) for line in result.stdout.splitlines()]
    return {key: item["verified"] for item in items for key in (SOLVE, HALF, SUM, SKY) if key in item["problem"]}


def test_check_command_verifies_imported_drafts(tmp_path):
    db = tmp_path / "rel.db"
    write_drafts(tmp_path / "drafts")
    assert rel_tui("--db", str(db), "import", str(tmp_path / "drafts")).returncode == 0
    assert exported_verified(db) == {SOLVE: None, HALF: None, SUM: None, SKY: None}

    result = rel_tui("--db", str(db), "check")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "Checked 3 attempts: 2 correct, 1 incorrect, 0 undecided; 1 not checkable (no reference answer)."
    )
    assert exported_verified(db) == {SOLVE: True, HALF: True, SUM: False, SKY: None}
    again = rel_tui("--db", str(db), "check")
    assert again.stdout.startswith("Checked 0 attempts:"), again.stdout


def test_check_command_takes_only_the_review_queue_unless_all(tmp_path):
    db = tmp_path / "rel.db"
    write_drafts(tmp_path / "drafts")
    with Store(db) as store:
        import_paths(store, [tmp_path / "drafts"])
        decided = problem_ids(store)[SUM]
        store.record_review(Review(problem_id=decided, decision=Decision.ACCEPTED, annotator="alice"))

    assert rel_tui("--db", str(db), "check").stdout.startswith("Checked 2 attempts: 2 correct, 0 incorrect")
    assert exported_verified(db)[SUM] is None
    assert rel_tui("--db", str(db), "check", "--all").stdout.startswith("Checked 1 attempt: 0 correct, 1 incorrect")
    assert exported_verified(db)[SUM] is False


def test_check_command_on_a_missing_database_is_one_line_error(tmp_path):
    result = rel_tui("--db", str(tmp_path / "missing.db"), "check")
    assert result.returncode != 0
    assert result.stderr.strip() == f"Error: {tmp_path / 'missing.db'}: no such database"
    assert not (tmp_path / "missing.db").exists()


def test_quick_check_stores_only_what_needs_no_math_verify(store):
    from rel_core.checking import quick_check_attempt

    checker = AnswerChecker(workers=1)
    try:
        ids = problem_ids(store)
        solve, half = store.history(ids[SOLVE]), store.history(ids[HALF])
        first = quick_check_attempt(store, checker, solve.latest_attempt, solve.problem)  # "6" against "6"
        assert (first.source, first.verdict) == (CritiqueSource.CHECK, Verdict.CORRECT)
        assert quick_check_attempt(store, checker, solve.latest_attempt, solve.problem).id == first.id  # never two
        assert quick_check_attempt(store, checker, half.latest_attempt, half.problem) is None  # 0.5 vs 1/2: math-verify
        assert checks_of(store, ids[HALF]) == []
    finally:
        checker.close()
