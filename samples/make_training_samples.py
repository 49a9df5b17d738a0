"""Make the training-format samples from the bundled data plus scripted expert actions.

    .venv/bin/python samples/make_training_samples.py        # rewrites the files listed in FILES and hf/

What the "experts" do (through the same core functions the review screen calls):
- ana rates every step of the square problem's worked solution (worked_01): the step that first
  guesses the area 18 is -1, flagged and commented, every other step +1; she accepts it. A short
  wrong draft of the same problem, imported beside it, is checked incorrect by the answer check.
- ana rates the first four steps of the divisibility solution (worked_02) +1 and stops there
  (PRM800K's give_up), and accepts it.
- ana edits the lattice-path solution (worked_03), adding a closing check, and accepts her edit.
- bob rejects the cubic-roots solution (worked_04).
The remaining worked solutions are left as the answer check marked them.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

from rel_core import exporters, labels
from rel_core.answers import AnswerChecker
from rel_core.bundled import load_bundled
from rel_core.checking import check_unchecked
from rel_core.labels import Rating
from rel_core.models import (
    Attempt,
    AttemptKind,
    Decision,
    ImportRecord,
    Problem,
    Review,
)
from rel_core.steps import split_steps
from rel_core.store import Store

FILES = {
    "labelled.prm800k.jsonl": "prm800k",
    "labelled.trl-steps.jsonl": "trl-steps",
    "pairs.dpo.jsonl": "dpo",
    "labelled.kto.jsonl": "kto",
}
HF_FOLDER = "hf"
WRONG_DRAFT = (
    "F is in the middle of the square, so it is 6 from the right edge.\n\n"
    "The area of triangle BEF is then 1/2 * 6 * 6 = 18.\n\n<ANSWER>18</ANSWER>"
)


def solution_of(store: Store, question_start: str) -> tuple[int, Attempt]:
    for problem_id in store.iter_problem_ids():
        history = store.history(problem_id)
        if history.problem.text.startswith(question_start) and history.attempts:
            return problem_id, history.attempts[0]
    raise LookupError(question_start)


def review(store: Store, problem_id: int, decision: Decision, attempt_id: int, who: str, seconds: float, note: str | None = None) -> None:
    store.record_review(
        Review(problem_id=problem_id, decision=decision, attempt_id=attempt_id, annotator=who, seconds_spent=seconds, note=note)
    )


def expert_actions(store: Store) -> None:
    square, worked = solution_of(store, "Square $ABCD$")
    for step in split_steps(worked.text):
        guess = "My first thought was" in step.text
        labels.label_step(store, worked.id, step.number, Rating.BAD if guess else Rating.GOOD, "ana")
        if guess:
            labels.flag_step(store, worked.id, step.number, "ana")
            labels.comment_step(store, worked.id, step.number, "ana", "assumes F is on the vertical midline")
    review(store, square, Decision.ACCEPTED, worked.id, "ana", 240)

    divisors, worked = solution_of(store, "Find the sum of all positive integers $n$")
    for number in range(1, 5):
        labels.label_step(store, worked.id, number, Rating.GOOD, "ana")
    review(store, divisors, Decision.ACCEPTED, worked.id, "ana", 150)

    paths, worked = solution_of(store, "A path from $(0,0)$")
    edited = worked.text.replace("<ANSWER>", "A last check: the count is symmetric in right and up steps, as it should be.\n\n<ANSWER>", 1)
    edit_id = store.save_human_edit(paths, "ana", worked.id, edited)
    review(store, paths, Decision.ACCEPTED, edit_id, "ana", 310)

    roots, worked = solution_of(store, "Let $r$, $s$, $t$ be the roots")
    review(store, roots, Decision.REJECTED, worked.id, "bob", 95, "the sign of the constant term is mishandled")


def build_database(db_path: Path) -> None:
    with Store(db_path) as store:
        load_bundled(store)
        problem = store.get_problem(solution_of(store, "Square $ABCD$")[0])
        wrong = Attempt(kind=AttemptKind.IMPORTED, text=WRONG_DRAFT, final_answer="18")
        store.import_records([ImportRecord(problem=Problem(text=problem.text), attempts=[wrong])])
        asyncio.run(_check(store))
        expert_actions(store)


async def _check(store: Store) -> None:
    checker = AnswerChecker(workers=1)
    try:
        await check_unchecked(store, checker, None)
    finally:
        checker.close()


def write_samples(db_path: Path, out_dir: Path) -> None:
    build_database(db_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    with Store(db_path, read_only=True) as store:
        for name, fmt in FILES.items():
            exporters.export_to_path(store, out_dir / name, fmt, exporters.default_status(fmt))
        hf = out_dir / HF_FOLDER
        exporters.export_folder(store, hf)


if __name__ == "__main__":
    import tempfile

    here = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as scratch:
        write_samples(Path(scratch) / "rel.db", here)
    print(f"wrote {', '.join(FILES)} and {HF_FOLDER}/ in {here}", file=sys.stderr)
    shutil.rmtree(here / "__pycache__", ignore_errors=True)
