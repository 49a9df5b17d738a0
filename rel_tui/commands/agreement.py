"""`rel-tui agreement`: how well the experts agree, per pair and overall (kappa and alpha)."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rel_core.agreement import Agreement, AgreementReport, reports
from rel_tui.context import CliContext


@click.command("agreement")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON instead of tables.")
@click.pass_obj
def agreement_command(obj: CliContext, as_json: bool) -> None:
    """Inter-annotator agreement on accept/reject (and per-step labels): Cohen's kappa and Krippendorff's alpha.

    Per pair of annotators and overall, with the number of items behind each figure (items both
    decided; each annotator's latest decision that is not undone; skips and adjudications left out;
    for step labels, the steps both rated, with alpha ordinal).
    Reads only: works on a read-only database.
    """
    if not obj.db_path.exists():
        raise click.ClickException(f"{obj.db_path}: no such database")
    with obj.open_store(read_only=True) as store:
        found = reports(store.conn)
    if as_json:
        click.echo(json.dumps([report.model_dump(mode="json") for report in found], indent=2))
        return
    console = Console()
    for report in found:
        console.print(report_table(report))


def _figure(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _row(agreement: Agreement) -> list[str | Text]:
    share = "–" if agreement.percent_agreement is None else f"{agreement.percent_agreement:.0%}"
    return [
        Text(" · ".join(agreement.annotators)),  # Text: names are data, never Rich markup
        str(agreement.items),
        share,
        _figure(agreement.kappa),
        _figure(agreement.alpha),
    ]


def report_table(report: AgreementReport) -> Table:
    table = Table(title=f"Agreement on {report.subject} (alpha: {report.metric})")
    for name, justify in (("annotators", "left"), ("items", "right"), ("agree", "right"), ("kappa", "right"), ("alpha", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for pair in report.pairs:
        table.add_row(*_row(pair))
    table.add_section()
    overall = _row(report.overall)
    overall[0] = Text("overall" if len(report.annotators) != 2 else "overall (the one pair)")
    table.add_row(*overall)
    if not report.pairs:
        table.caption = f"No two annotators have given {report.subject} on the same items yet."
    return table


COMMANDS: list[click.Command] = [agreement_command]
