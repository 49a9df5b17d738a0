"""`rel-tui config`: the effective configuration, secrets shown only as set/unset."""

from __future__ import annotations

import click

from rel_core.config import config_path_for, render_settings, user_config_path
from rel_tui.context import CliContext


@click.command("config")
@click.pass_obj
def config(obj: CliContext) -> None:
    """Show the effective configuration: the user config, rel.toml, then environment overrides.

    API keys are read from the environment at call time and shown only as set/unset.
    """
    settings = obj.settings()
    project = config_path_for(obj.db_path, obj.config_path)
    click.echo(render_settings(settings, config_path=project, user_config=user_config_path()), nl=False)


COMMANDS: list[click.Command] = [config]
