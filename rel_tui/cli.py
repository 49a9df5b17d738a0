"""The `rel-tui` command: the review TUI by default, `--auto` for the headless loop, and subcommands."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click

from rel_core.providers.pricing import recorded_spend
from rel_core.store import database_error
from rel_tui.context import CliContext


class RelGroup(click.Group):
    """Turns database errors that escape a command (a lock held past the busy timeout, a full
    disk, a page found damaged) into the one-line error every other failure gets."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except sqlite3.DatabaseError as exc:  # also a file found damaged half-way through a command
            where = ctx.obj.db_path if isinstance(ctx.obj, CliContext) else Path("database")
            raise click.ClickException(database_error(where, exc)) from None

    # The subcommands' modules are imported when a subcommand is named or listed (click's lazy-loading
    # pattern), so `rel-tui --auto` and the review TUI start without them.
    _subcommands_loaded = False

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load_subcommands()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_subcommands()
        return super().list_commands(ctx)

    def _load_subcommands(self) -> None:
        if not self._subcommands_loaded:
            self._subcommands_loaded = True
            _register_commands()


@click.group(cls=RelGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="rel.db",
    envvar="REL_DB",
    show_default=True,
    help="SQLite database file (env REL_DB).",
)
@click.option(
    "--config", "config_path", envvar="REL_CONFIG", help="Config TOML (env REL_CONFIG; default rel.toml beside the database)."
)
@click.option("--annotator", help="Name recorded with review decisions (default: config, then login name).")
@click.option("--auto", "auto", is_flag=True, help="Run the Reasoning Enhancement Loop headless over pending problems.")
@click.option("--limit", type=click.IntRange(min=1), help="--auto: stop after this many problems.")
@click.option("--concurrency", type=click.IntRange(min=1), help="--auto: problems worked on at once.")
@click.option("--max-iterations", type=click.IntRange(min=0), help="--auto: critic-guided revisions before the final rewrite.")
@click.option("--generator", help="--auto: generator model spec, provider:model.")
@click.option("--critic", help="--auto: critic model spec, provider:model.")
@click.option("--budget", type=click.FloatRange(min=0), help="--auto: start no new LLM call once this many USD are spent.")
@click.option("--retry-errored", is_flag=True, help="--auto: also retry problems a provider error stopped.")
@click.option(
    "--batch", is_flag=True, help="--auto: send each round of steps as provider batches (half price, results within 24 h)."
)
@click.option("--no-wait", is_flag=True, help="--auto --batch: submit, then exit; a later --auto --batch collects.")
@click.option(
    "--poll-seconds",
    type=click.FloatRange(min=0.01),
    default=30.0,
    show_default=True,
    help="--auto --batch: how often to poll batches.",
)
@click.option("--adjudicate", is_flag=True, help="Open the adjudication screen (for names in team.adjudicators).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    help="--auto: runner processes sharing the queue, each with its share of the concurrency (default 1).",
)
@click.version_option(package_name="rel-tui")
@click.pass_context
def main(
    ctx: click.Context,
    db_path: Path,
    config_path: str | None,
    annotator: str | None,
    auto: bool,
    adjudicate: bool,
    **auto_options,
) -> None:
    """Build datasets of worked solutions with LLMs and human experts.

    Without a subcommand, opens the review TUI on the database (or, with --auto, runs the loop).
    """
    ctx.obj = CliContext(db_path=db_path, config_path=config_path, annotator=annotator)
    if ctx.invoked_subcommand is not None:
        if auto or adjudicate:
            raise click.UsageError(f"--{'auto' if auto else 'adjudicate'} takes no subcommand")
        return
    if auto:
        from rel_tui.commands.auto import run_auto

        sys.exit(run_auto(ctx.obj, **auto_options))
    from rel_tui.commands.review import run_review

    run_review(ctx.obj, adjudicate=adjudicate)


@main.command()
@click.pass_obj
def status(obj: CliContext) -> None:
    """Show how many problems are in each state (reads only: works on a read-only database)."""
    from rich.console import Console  # here: `--auto` and the TUI start without Rich's tables
    from rich.table import Table
    from rich.text import Text

    from rel_core.batch import (  # here: the other commands need none of the loop
        in_progress_by_holder,
        open_batch_views,
    )
    from rel_core.models import ProblemState
    from rel_core.problem_marks import counts as mark_counts

    with obj.open_store(read_only=True) as store:
        counts = store.counts()
        marks = mark_counts(store)
        spend = recorded_spend(store.conn)
        batches = open_batch_views(store)
        holders = in_progress_by_holder(store)
    table = Table(title=f"rel-tui: {obj.db_path}")
    table.add_column("state")
    table.add_column("problems", justify="right")
    for state, count in counts.items():
        table.add_row(str(state), str(count))
        if state == ProblemState.IN_PROGRESS and count:  # a live run, or one that was stopped (Ctrl-C, kill)
            table.add_row("  worked on now", str(holders.worked_now))
            table.add_row("  in a batch", str(holders.in_batches))
            table.add_row("  waiting for a rerun", str(holders.waiting))
    table.add_section()
    table.add_row("total", str(sum(counts.values())))
    table.add_row("marked broken", describe_marks(marks))  # in their states above too, but out of the queue
    table.add_row("LLM calls", str(spend.calls))
    table.add_row("LLM calls failed", str(spend.failed))
    table.add_row("LLM spend", spend.describe())
    if batches:
        table.add_section()
        for batch in batches:  # provider batches in flight (`--auto --batch`)
            table.add_row(
                Text(f"batch {batch.label} {batch.provider_batch_id or '(submitting)'}"),
                Text(f"{batch.provider_status or batch.state} {batch.done}/{batch.requests}"),
            )
    table.add_row("cached input tokens", spend.describe_cached())
    if spend.cache_write_tokens:
        table.add_row("cache write tokens", f"{spend.cache_write_tokens:,}")
    Console().print(table)


def describe_marks(marks) -> str:
    """`0`, or `3 (2 wrong reference, 1 duplicate)`: problems marked broken and the marks by kind."""
    kinds = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(marks.by_kind.items()))
    return f"{marks.problems} ({kinds})" if kinds else str(marks.problems)


def _register_commands() -> None:
    from rel_tui.commands import registered

    for command in registered():
        main.add_command(command)
