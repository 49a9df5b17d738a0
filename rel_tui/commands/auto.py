"""`rel-tui --auto`: the headless loop."""

from __future__ import annotations

from rel_tui.cli import CliContext, err_console


def run_auto(obj: CliContext, **options) -> int:
    err_console().print("rel-tui --auto is not available yet: the headless loop has not landed.")
    return 2
