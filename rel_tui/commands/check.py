"""`rel-tui check`: the deterministic answer check for attempts that have none (imported drafts)."""

from __future__ import annotations

import asyncio

import click

from rel_core.answers import AnswerChecker
from rel_core.checking import CheckTally, check_unchecked
from rel_core.models import ProblemState
from rel_core.store import Store
from rel_tui.context import CliContext


@click.command("check")
@click.option("--all", "all_problems", is_flag=True, help="Check every problem's attempts, not only those awaiting review.")
@click.pass_obj
def check_command(obj: CliContext, all_problems: bool) -> None:
    """Check final answers against reference answers with math-verify (offline, no LLM).

    Only attempts with no answer check yet are checked, so running it again is cheap. The result is
    what the Critic pane shows as "Answer check" and what the export calls `verified`.
    """
    if not obj.db_path.exists():
        raise click.ClickException(f"{obj.db_path}: no such database")
    states = None if all_problems else (ProblemState.AWAITING_REVIEW,)
    with obj.open_store() as store:
        tally = asyncio.run(_check(store, states))
    click.echo(summary(tally))


async def _check(store: Store, states: tuple[ProblemState, ...] | None) -> CheckTally:
    checker = AnswerChecker(workers=1)  # one attempt at a time: a second worker would sit idle
    checker.warm()  # sympy imports in the worker while the first pages are read
    try:
        return await check_unchecked(store, checker, states)
    finally:
        checker.close()


def summary(tally: CheckTally) -> str:
    return (
        f"Checked {tally.checked} attempt{'' if tally.checked == 1 else 's'}: {tally.correct} correct, {tally.incorrect} incorrect, "
        f"{tally.undecided} undecided; {tally.not_checkable} not checkable (no reference answer)."
    )


COMMANDS: list[click.Command] = [check_command]
