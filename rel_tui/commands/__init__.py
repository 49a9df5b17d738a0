"""Subcommands of `rel-tui`, one module per group of commands; each module lists its COMMANDS."""

from __future__ import annotations

import importlib

import click

MODULES = (
    "rel_tui.commands.transfer",
    "rel_tui.commands.config_cmd",
    "rel_tui.commands.check",
    "rel_tui.commands.report",
    "rel_tui.commands.serve",
    "rel_tui.commands.agreement",
)


def registered() -> list[click.Command]:
    commands: list[click.Command] = []
    for name in MODULES:
        commands.extend(importlib.import_module(name).COMMANDS)
    return commands
