"""`rel-tui report`: how often the critic was right, the generator, the annotators, the spend."""

from __future__ import annotations

import json
from datetime import datetime

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rel_core.report import Report, ReportFilter, build_report
from rel_core.terminal_text import one_line
from rel_tui.commands.agreement import agreement_command
from rel_tui.context import CliContext


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _name(value: str) -> Text:
    """A model or annotator name from the database: never markup, never terminal commands."""
    return Text(one_line(value))


def _day(value: datetime | None):
    return value.date() if value else None


@click.command("report")
@click.option("--source", help="Only problems from this source.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="From this UTC date on (YYYY-MM-DD, inclusive).")
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), help="Up to this UTC date (YYYY-MM-DD, inclusive).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object, for machines.")
@click.option(
    "--agreement", is_flag=True, help="Inter-annotator agreement instead (kappa and alpha; the same as `rel-tui agreement`)."
)
@click.pass_context
def report_command(
    ctx: click.Context, source: str | None, since: datetime | None, until: datetime | None, as_json: bool, agreement: bool
) -> None:
    """The critic's precision, recall and step accuracy against expert rulings and the answer check;
    the generator's first-try accuracy; each annotator's pace and decisions; spend per verified
    worked solution. `--agreement`: how well the annotators agree instead. Reads only: works on a
    read-only database."""
    if agreement:
        if source or since or until:  # agreement is over every standing decision: a silent filter would mislead
            raise click.UsageError("--agreement takes no --source, --since or --until")
        ctx.invoke(agreement_command, as_json=as_json)
        return
    obj: CliContext = ctx.obj
    filters = ReportFilter(source=source, since=_day(since), until=_day(until))
    if filters.since and filters.until and filters.since > filters.until:
        raise click.BadParameter("--since is after --until", param_hint="--since")
    with obj.open_store(read_only=True) as store:
        if source and source not in store.sources():  # a mistyped source would read as "no work done"
            known = ", ".join(one_line(name)[:40] for name in sorted(store.sources())[:10]) or "none"
            raise click.BadParameter(f"no problem has source {one_line(source)[:80]!r} (sources: {known})", param_hint="--source")
        report = build_report(store, filters)
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json", exclude={"annotators": {"__all__": {"seconds"}}})))
        return
    print_report(report, Console())


def print_report(report: Report, console: Console) -> None:
    for table in critic_tables(report):
        console.print(table)
    console.print(generator_table(report))
    console.print(annotator_table(report))
    console.print(spend_table(report))
    console.print(marks_table(report))


def critic_tables(report: Report) -> list[Table]:
    """Two tables, so each fits 80 columns: the critic against experts, and against the answer check."""
    experts = _table(
        "Critic against expert rulings (positive: incorrect)",
        "critic model",
        "critiques",
        "ruled",
        "precision",
        "recall",
        "step accuracy",
    )
    check = _table("Critic against the answer check", "critic model", "compared", "told", "precision", "recall")
    for row in report.critics:
        ruled, checked = row.against_experts, row.against_check
        steps = f"{_percent(row.step_accuracy)} ({row.steps_right}/{row.steps_compared})"
        experts.add_row(
            _name(row.model), str(row.critiques), str(ruled.compared), _percent(ruled.precision), _percent(ruled.recall), steps
        )
        check.add_row(
            _name(row.model), str(checked.compared), str(row.told), _percent(checked.precision), _percent(checked.recall)
        )
    check.caption = "told: left out, the check's verdict was in the critic's prompt"
    return [experts, check]


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    return table


def generator_table(report: Report) -> Table:
    table = _table("Generator", "generator model", "generations", "judged", "first try", "solved", "revisions")
    for row in report.generators:
        table.add_row(
            _name(row.model),
            str(row.generations),
            str(row.judged),
            _percent(row.first_try_accuracy),
            str(row.solved),
            _number(row.revisions_needed, 2),
        )
    return table


def annotator_table(report: Report) -> Table:
    table = _table("Annotators", "annotator", "items", "median s", "items/h", "accept", "reject", "edit", "skipped")
    for row in report.annotators:
        table.add_row(
            _name(row.annotator),
            str(row.items),
            _number(row.median_seconds),
            _number(row.items_per_hour),
            _percent(row.accept_rate),
            _percent(row.reject_rate),
            _percent(row.edit_rate),
            str(row.skipped),
        )
    return table


def spend_table(report: Report) -> Table:
    spend = report.spend
    table = _table("Spend", "what", "value")
    table.add_row("problems", str(report.problems))
    table.add_row("LLM calls", str(spend.calls))
    table.add_row("LLM spend", spend.spend().describe())
    table.add_row("verified worked solutions", str(spend.verified_solutions))
    table.add_row("spend per verified solution", spend.describe_per_solution())
    return table


def marks_table(report: Report) -> Table:
    """Problems marked broken: left out of the critic, generator and verified figures above."""
    marks = report.marks
    table = _table("Problems marked broken", "what", "value")
    table.add_row("problems marked", str(marks.problems))
    for kind, count in sorted(marks.by_kind.items()):
        table.add_row(f"  {kind.replace('_', ' ')}", str(count))
    for annotator, count in sorted(marks.by_annotator.items()):
        table.add_row(Text.assemble("  by ", _name(annotator)), str(count))
    if marks.problems:
        table.caption = "left out of the critic, generator and verified-solution figures"
    return table


COMMANDS: list[click.Command] = [report_command]
