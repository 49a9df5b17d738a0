"""Shared fixtures, one block per heading; add yours below with a heading (imports at the top)."""

from __future__ import annotations

import http.server
import os
import threading

import pytest
from llm_server import LLMServer

from rel_core.store import Store

# -- isolation from the developer's machine -----------------------------------------------------


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path_factory):
    """No test sees the developer's database, config, keys or home directory."""
    for variable in list(os.environ):
        if variable.startswith("REL_") or variable.endswith(("_API_KEY", "_BASE_URL")):
            monkeypatch.delenv(variable)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))


# -- the loopback LLM server (tests/llm_server.py) ------------------------------------------------


@pytest.fixture
def llm_server():
    """A scripted OpenAI/Anthropic-compatible server on 127.0.0.1 with an ephemeral port.

    `llm_server.enqueue("text", Reply.rate_limited(10))`, `llm_server.respond_with(fn)`,
    `llm_server.requests`; point clients at `.openai_base_url` / `.anthropic_base_url`.
    """
    with LLMServer() as server:
        yield server


@pytest.fixture
def llm_env(llm_server, monkeypatch, tmp_path):
    """The SDKs' environment pointed at the loopback server, with dummy keys and no real user dirs."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-loopback")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-loopback")
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", llm_server.anthropic_base_url)
    for variable in (
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
        "ANTHROPIC_AUTH_TOKEN",
        "OPENAI_CUSTOM_HEADERS",
        "ANTHROPIC_CUSTOM_HEADERS",
    ):
        monkeypatch.delenv(variable, raising=False)
    return llm_server


# -- an empty database ------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    """A new store at tmp_path / "rel.db"; a test file that needs another one defines its own."""
    with Store(tmp_path / "rel.db") as store:
        yield store


# -- a plain web server (not an LLM API) -------------------------------------------------------------


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """`python -m http.server` as it is: a POST gets its 501 page. Counts the POSTs it was sent."""

    posts: list[str] = []

    def log_request(self, code="-", size="-"):
        if self.command == "POST":
            self.posts.append(self.path)

    def log_message(self, *args):
        pass


@pytest.fixture
def plain_web_server(tmp_path):
    CountingHandler.posts = []
    handler = lambda *a, **kw: CountingHandler(*a, directory=str(tmp_path), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
