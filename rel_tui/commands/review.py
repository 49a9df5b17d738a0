"""`rel-tui` with no subcommand: the review TUI."""

from __future__ import annotations

import sys

from rel_tui.cli import CliContext, busy_timeout_from_env, load_bundled_if_empty


def run_review(obj: CliContext) -> None:
    from rel_tui.app import ReviewApp

    with obj.open_store() as store:
        load_bundled_if_empty(store)
    app = ReviewApp(
        db_path=obj.db_path,
        settings=obj.settings(),
        annotator=obj.annotator_name(),
        handle_signals=True,
        busy_timeout=busy_timeout_from_env(),
    )
    app.run()
    if app.return_code:
        sys.exit(app.return_code)
