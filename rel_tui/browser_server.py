"""The aiohttp server behind `rel-tui serve` (rel_tui/commands/serve.py says why it works this way).

Its own module so textual-serve is imported only by `serve`, not by every `rel-tui` start (each
browser session's review process is one).
"""

from __future__ import annotations

import asyncio
import copy
import html
from collections.abc import Callable
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web
from textual_serve.server import Server, to_int

from rel_core.terminal_text import one_line
from rel_tui.commands.serve import LOOPBACK_NAMES, valid_annotator


class ReviewServer(Server):
    """textual-serve's server with one annotator per page, and loopback-safe request checks."""

    def __init__(
        self,
        command_for: Callable[[str], str],
        *,
        host: str,
        port: int,
        public_url: str | None,
        default_annotator: str | None,
        check_host: bool,
    ) -> None:
        super().__init__("rel-tui review", host=host, port=port, title="rel-tui review", public_url=public_url)
        self.command_for = command_for
        self.default_annotator = default_annotator
        self.fixed_public_url = public_url
        self.allowed_hosts = set(LOOPBACK_NAMES) | {host}
        if public_url:
            self.allowed_hosts.add(urlsplit(public_url).hostname or "")
        self.check_host = check_host
        self.sessions: set[asyncio.Task] = set()

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        # The annotator goes in the websocket's path: textual.js appends its own `?width=…` query.
        app.router.add_get("/ws/{annotator}", self.handle_websocket)
        return app

    async def on_startup(self, app: web.Application) -> None:
        example = self.default_annotator or "NAME"
        self.console.print(f"Serving the review app on {self.public_url}/?annotator={example}", highlight=False)
        self.console.print("Press Ctrl+C to stop.", highlight=False)

    async def on_shutdown(self, app: web.Application) -> None:
        # aiohttp waits for open websockets before it exits; textual-serve's handler, cancelled,
        # closes its socket and tells that session's app to quit (the app releases its claim).
        for task in list(self.sessions):
            task.cancel()

    # -- requests ---------------------------------------------------------------------------------

    def refuse_foreign_host(self, request: web.Request) -> None:
        """A page reached under a name that is not this server is another site's (DNS rebinding)."""
        if self.check_host and (urlsplit(f"//{request.host}").hostname or "") not in self.allowed_hosts:
            raise web.HTTPForbidden(text=f"rel-tui serve: unknown host {one_line(request.host)}\n")

    def base_url(self, request: web.Request) -> str:
        """Where the browser reached us: a tunnel's local port works without --public-url."""
        return self.fixed_public_url or f"{request.scheme}://{request.host}"

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        self.refuse_foreign_host(request)
        asked = request.query.get("annotator")
        if asked is None and self.default_annotator is None:
            return name_form()
        annotator = valid_annotator(asked if asked is not None else self.default_annotator)
        if annotator is None:
            return name_form(error=f"{one_line(asked)!r} is not a valid annotator name.", status=400)
        base = self.base_url(request)
        websocket = request.app.router["websocket"].url_for()  # /ws, then the name as one path segment
        scheme = "wss" if base.startswith("https") else "ws"
        context = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{scheme}:{base.split(':', 1)[1]}{websocket}/{annotator}",
            "config": {"static": {"url": f"{base}/static/"}},
            "application": {"name": f"rel-tui review · {annotator}"},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        self.refuse_foreign_host(request)
        origin = request.headers.get("Origin")
        if origin is None or urlsplit(origin).netloc != request.host:
            raise web.HTTPForbidden(text="rel-tui serve: websocket from another origin refused\n")
        annotator = valid_annotator(request.match_info.get("annotator", self.default_annotator))
        if annotator is None:
            raise web.HTTPBadRequest(text="rel-tui serve: the session names no valid annotator\n")
        # textual-serve runs `self.command`: a copy per session carries this session's command.
        session = copy.copy(self)
        session.command = self.command_for(annotator)
        task = asyncio.current_task()
        assert task is not None
        self.sessions.add(task)
        try:
            return await Server.handle_websocket(session, request)
        finally:
            self.sessions.discard(task)


def name_form(error: str | None = None, status: int = 200) -> web.Response:
    """The page asking who is reviewing, when the address names nobody."""
    notice = f'<p style="color:#b00">{html.escape(error)}</p>' if error else ""
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>rel-tui review</title></head>"
        "<body style='font-family:sans-serif;max-width:32em;margin:4em auto'>"
        f"<h1>rel-tui review</h1>{notice}<form method='get' action='/'>"
        "<label>Your annotator name <input name='annotator' required pattern='[A-Za-z0-9][A-Za-z0-9._@\\-]{0,63}' autofocus></label> "
        "<button type='submit'>Start reviewing</button></form>"
        "<p>Letters, digits and <code>. _ @ -</code>; recorded with every decision you make.</p></body></html>"
    )
    return web.Response(text=body, content_type="text/html", status=status)
