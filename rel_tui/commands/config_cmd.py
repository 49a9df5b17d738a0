"""`rel-tui config`: the effective configuration, secrets shown only as set/unset."""

from __future__ import annotations

import click

from rel_core.config import config_path_for, render_settings
from rel_tui.cli import CliContext


@click.command("config")
@click.pass_obj
def config(obj: CliContext) -> None:
    """Show the effective configuration: rel.toml, then environment overrides.

    API keys are read from the environment at call time and shown only as set/unset.
    """
    settings = obj.settings()
    click.echo(render_settings(settings, config_path=config_path_for(obj.db_path, obj.config_path)), nl=False)


COMMANDS: list[click.Command] = [config]
