"""`rel-tui import` and `rel-tui export`."""

import click

COMMANDS: list[click.Command] = []
