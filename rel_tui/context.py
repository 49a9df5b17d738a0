"""What every command shares: the database and settings it works on, and a few CLI helpers.

Its own module so that `rel_tui/commands/*` need not import `rel_tui.cli`, which loads them.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rel_core.config import ConfigError, Settings, load_settings
from rel_core.store import BUSY_TIMEOUT_SECONDS, Store, StoreError
from rel_core.terminal_text import one_line

if TYPE_CHECKING:
    from rich.console import Console


class ConfigFailure(click.ClickException):
    """A refused or invalid configuration: one line, exit 2, as `--auto` exits on a bad config."""

    exit_code = 2


@dataclass
class CliContext:
    """What every command needs: where the database is and the effective settings."""

    db_path: Path
    config_path: str | None
    annotator: str | None = None
    _settings: Settings | None = field(default=None, repr=False)

    def open_store(self, read_only: bool = False, say_if_new: bool = False) -> Store:
        """`read_only` for commands that only read: nothing is created, migrated or written.

        A new database is made only in a folder that exists: a mistyped `--db` folder is an error,
        never a new folder. `say_if_new` says on stderr that the file was created.
        """
        new = not read_only and not os.path.lexists(self.db_path)
        if new:
            require_folder_of(self.db_path, "the database")
        try:
            store = Store(self.db_path, busy_timeout=busy_timeout_from_env(), read_only=read_only)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
        if new and say_if_new:
            click.echo(f"created new database {one_line(str(self.db_path))}", err=True)
        return store

    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.db_path, self.config_path)
            except ConfigError as exc:
                raise ConfigFailure(str(exc)) from None
        return self._settings

    def annotator_name(self) -> str:
        return self.annotator or self.settings().review.annotator or getpass.getuser()


class MissingFolder(click.ClickException):
    """A path whose folder does not exist: most likely mistyped, so nothing is created. Exit 2."""

    exit_code = 2


def require_folder_of(path: Path, what: str) -> None:
    """MissingFolder unless the folder `path` would be created in exists."""
    folder = path.parent
    if not os.path.lexists(folder):  # one that is a file fails later, saying so
        raise MissingFolder(f"{one_line(str(folder))}: no such folder for {what} {one_line(str(path))}; create it first")


def busy_timeout_from_env() -> float:
    """`REL_BUSY_TIMEOUT`: seconds a write waits for another process's lock before giving up."""
    raw = os.environ.get("REL_BUSY_TIMEOUT")
    if not raw:
        return BUSY_TIMEOUT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise click.ClickException(f"REL_BUSY_TIMEOUT={raw!r}: must be a number of seconds above 0")
    return seconds


def err_console() -> Console:
    from rich.console import Console  # here: `--auto` writes plain lines and needs no Rich to start

    return Console(stderr=True)


def load_bundled_if_empty(store: Store) -> None:
    """A new database starts with the bundled problems, so there is something to work on."""
    if store.count_problems():
        return
    from rel_core.bundled import load_bundled

    summary = load_bundled(store)
    err_console().print(
        f"Empty database: loaded {summary.problems_added} bundled problems "
        f"({summary.attempts_added} worked solutions) into {store.path}"
    )
