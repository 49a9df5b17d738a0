"""`rel-tui serve`: the review app in a browser tab, through textual-serve.

textual-serve starts one process per browser connection, running a shell command. Each page names
its annotator in its address (`/?annotator=alice`); the page's websocket then goes to
`/ws/alice`, and that session's process is `rel-tui --annotator alice` on the same database. The
name is checked against a strict pattern and the command is built from an argument list
(`shlex.join`), so a name can never reach the shell as anything but one quoted word.

Bound to 127.0.0.1 unless told otherwise: experts reach it through an SSH tunnel. There is no
login, so the server also refuses what a browser would let other web pages do to a loopback
server: requests for a host name that is not this server (DNS rebinding), and websockets opened
from another origin (cross-site websocket hijacking).
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import click

from rel_core.config import is_loopback
from rel_core.terminal_text import one_line
from rel_tui.context import CliContext, ConfigFailure, err_console, load_bundled_if_empty

ANNOTATOR_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
"""Names a session may carry: letters, digits and `._@-`, up to 64 characters, no leading punctuation."""
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
PUBLIC_FLAG = "--i-understand-this-is-public"


def valid_annotator(name: str | None) -> str | None:
    """`name` if it is a valid annotator name, else None."""
    return name if name is not None and ANNOTATOR_PATTERN.fullmatch(name) else None


def session_command(obj: CliContext) -> Callable[[str], str]:
    """The command line of one browser session's review app, for a validated annotator name."""
    base = [sys.executable, "-m", "rel_tui", "--db", str(obj.db_path.resolve())]
    if obj.config_path:
        base += ["--config", str(Path(obj.config_path).resolve())]

    def command(annotator: str) -> str:
        if valid_annotator(annotator) is None:  # checked by the server already; never skipped (-O)
            raise ValueError(f"not an annotator name: {annotator!r}")
        return shlex.join([*base, "--annotator", annotator])

    return command


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; loopback is for an SSH tunnel.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--public-url", help="Address browsers use, when a proxy puts the server elsewhere (e.g. https://review.example.org)."
)
@click.option(
    PUBLIC_FLAG,
    "public",
    is_flag=True,
    help="Allow listening on a non-loopback address: anyone who reaches it can review, as any name.",
)
@click.pass_obj
def serve_command(obj: CliContext, host: str, port: int, public_url: str | None, public: bool) -> None:
    """Serve the review app to browsers (textual-serve): one review session per tab.

    Open http://127.0.0.1:PORT/?annotator=NAME; each tab's decisions are recorded under its NAME
    (the global --annotator sets the name of tabs that give none).
    """
    loopback = is_loopback(host)
    if not loopback and not public:
        raise ConfigFailure(
            f"--host {one_line(host)} is not loopback: anyone who reaches it could review without logging in; add {PUBLIC_FLAG} to do it anyway"
        )
    default_annotator = obj.annotator
    if default_annotator is not None and valid_annotator(default_annotator) is None:
        raise click.BadParameter(f"{one_line(default_annotator)!r}: letters, digits and ._@- only", param_hint="--annotator")
    obj.settings()  # a bad config fails here, not in every browser tab
    with obj.open_store() as store:
        load_bundled_if_empty(store)  # once, before tabs open sessions at the same time
    if not loopback:
        err_console().print(
            f"WARNING: serving on {one_line(host)}:{port}, beyond this machine, with no login: anyone who reaches "
            "this port can read the data and record decisions under any name. Prefer the default 127.0.0.1 "
            "and an SSH tunnel (see README, Serving in a browser).",
            style="bold red", markup=False, highlight=False,
        )  # fmt: skip
    from rel_tui.browser_server import ReviewServer

    server = ReviewServer(
        session_command(obj), host=host, port=port, public_url=public_url,
        default_annotator=default_annotator, check_host=loopback or public_url is not None,
    )  # fmt: skip
    server.serve()


COMMANDS: list[click.Command] = [serve_command]
