"""`rel-tui config`: the effective configuration, secrets shown only as set/unset."""

import click

COMMANDS: list[click.Command] = []
