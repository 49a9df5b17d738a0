"""A model with its own base_url (`[models."openai:x"] base_url`): every message about a failed call
names the URL that was called and the setting that holds it, never the provider section's, through
the real `rel-tui --auto` against a plain web server (the URL is never shown with user:password@)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from conftest import CountingHandler
from test_auto_acceptance import add_problems, assert_short_and_tag_free, rows

from rel_core.providers.base import ErrorKind, status_error_message, transport_error

EXIT_STOPPED = 1
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}


def closed_port_url() -> str:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def api_url(provider: str, server: str) -> str:
    """The base URL as a user writes it: OpenAI-compatible ones end in /v1, Anthropic's do not."""
    return f"{server}/v1" if provider == "openai" else server


def run_auto(tmp_path, provider: str, *, section_url: str, model_url: str) -> subprocess.CompletedProcess:
    """--auto with the generator at its own `model_url` and the provider section pointing elsewhere."""
    spec = f"{provider}:own-server"
    (tmp_path / "rel.toml").write_text(
        f'generator = "{spec}"\ncritic = "{spec}"\n'
        f'[{provider}]\nbase_url = "{api_url(provider, section_url)}"\nmax_retries = 0\ntimeout = 20\n'
        "[loop]\nconcurrency = 1\nmax_iterations = 0\n"
        f'[models."{spec}"]\nbase_url = "{api_url(provider, model_url)}"\n'
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        f"{provider.upper()}_API_KEY": "sk-test-own-server",
    }
    return subprocess.run(
        [sys.executable, "-m", "rel_tui", "--db", str(tmp_path / "rel.db"), "--auto"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_names_the_model_setting(text: str, provider: str, called: str, elsewhere: str) -> None:
    assert called in text, text
    assert f'base_url for [models."{provider}:own-server"] in rel.toml' in text, text
    assert elsewhere not in text and f"[{provider}] base_url" not in text and "_BASE_URL" not in text, text


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_not_an_api_names_the_models_own_url_and_setting(tmp_path, plain_web_server, provider):
    db = tmp_path / "rel.db"
    add_problems(db, ["[M1]", "[M2]"])
    decoy = closed_port_url()  # the provider section's base_url: never called, never named

    result = run_auto(tmp_path, provider, section_url=decoy, model_url=plain_web_server)

    assert result.returncode == EXIT_STOPPED, result.stderr
    assert CountingHandler.posts == [PATHS[provider]]
    called = f"HTTP 501 from {plain_web_server}{PATHS[provider]}"
    [stopped] = [line for line in result.stderr.splitlines() if line.startswith("Error: run stopped:")]
    assert_names_the_model_setting(stopped, provider, called, decoy)
    assert_short_and_tag_free(stopped)
    [(error,)] = rows(db, "select error from llm_calls")
    assert_names_the_model_setting(error, provider, called, decoy)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_cannot_connect_names_the_models_own_url_and_setting(tmp_path, plain_web_server, provider):
    db = tmp_path / "rel.db"
    add_problems(db, ["[C1]"])
    unreachable = closed_port_url()

    result = run_auto(tmp_path, provider, section_url=plain_web_server, model_url=unreachable)

    assert result.returncode != 0, result.stderr
    assert CountingHandler.posts == []  # the section's server is not the one called
    [(error,)] = rows(db, "select error from llm_calls")
    called = f"cannot connect to {api_url(provider, unreachable)} (connection refused)"
    assert_names_the_model_setting(error, provider, called, plain_web_server)
    [(detail,)] = rows(db, "select state_detail from problems")
    assert_names_the_model_setting(detail, provider, called, plain_web_server)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_without_an_own_url_the_messages_name_the_provider_section(provider):
    """The section's setting, and the SDK's environment variable that can stand in for it."""
    url = "http://127.0.0.1:9/v1"
    not_an_api = status_error_message(ErrorKind.NOT_AN_API, f"{provider}:m", url, 405, "page", 0, None)
    refused = transport_error(ConnectionRefusedError(), f"{provider}:m", url, 5, 0)
    for text in (not_an_api, str(refused)):
        assert f"[{provider}] base_url in rel.toml or {provider.upper()}_BASE_URL" in text and "models." not in text
