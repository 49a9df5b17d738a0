"""`rel-tui` with no subcommand: the review TUI."""

from __future__ import annotations

import sys

import click

from rel_core.terminal_text import one_line
from rel_tui.context import CliContext, busy_timeout_from_env, load_bundled_if_empty


def run_review(obj: CliContext, adjudicate: bool = False) -> None:
    from rel_tui.app import ReviewApp

    if adjudicate and obj.annotator_name() not in obj.settings().team.adjudicators:
        raise click.ClickException(
            f"{one_line(obj.annotator_name())} is not an adjudicator: add the name to team.adjudicators in the config"
        )

    with obj.open_store() as store:
        load_bundled_if_empty(store)
    app = ReviewApp(
        db_path=obj.db_path,
        settings=obj.settings(),
        annotator=obj.annotator_name(),
        handle_signals=True,
        busy_timeout=busy_timeout_from_env(),
        adjudicate=adjudicate,
    )
    app.run()
    if app.return_code:
        sys.exit(app.return_code)
