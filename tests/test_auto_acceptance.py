"""`--auto` findings of the acceptance review (ACCEPTANCE.md §7, §8), each through the real `--auto`:
a web server that is no LLM API, the exit code of a run in which problems errored, and the spend
shown on the progress lines when calls have no price."""

from __future__ import annotations

import io
import os
import re
import socket
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import CountingHandler
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llm_server import Reply
from loop_helpers import Script, critic_json, solution

from rel_core.models import Problem
from rel_core.store import Store
from rel_tui.cli import main
from rel_tui.commands.auto_workers import combined_exit_code

EXIT_STOPPED, EXIT_ERRORED = 1, 3

# What `python -m http.server` and friends send: a page, with a head the excerpt leaves out.
PAGE = (
    '<!DOCTYPE HTML>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error response</title>\n'
    "<style>body { font-family: sans-serif; }</style>\n</head>\n<body>\n<h1>Error response</h1>\n"
    "<p>Error code: {status}</p>\n<p>Message: this server does not do that &amp; never will.</p>\n"
    + "<p>filler text of a long page</p>\n" * 200
    + "</body>\n</html>\n"
)


def write_config(directory, *, generator="openai:acc-gen", critic="openai:acc-critic", retries=2, extra=""):
    (directory / "rel.toml").write_text(
        f'generator = "{generator}"\ncritic = "{critic}"\n'
        f"[openai]\nmax_retries = {retries}\ntimeout = 20\n[anthropic]\nmax_retries = {retries}\ntimeout = 20\n"
        f"[loop]\nconcurrency = 1\nmax_iterations = 0\n{extra}"
    )


def add_problems(db, markers):
    with Store(db) as store:
        for marker in markers:
            store.add_problem(Problem(text=f"{marker} What is 6 x 7?", reference_answer="42", reference_solution="6 x 7 = 42"))


def rows(db, sql):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def run_auto_in_process(db, *args):
    return CliRunner().invoke(main, ["--db", str(db), "--auto", *args])


def assert_short_and_tag_free(text: str) -> None:
    """An excerpt at most: no tags, and not the whole page (200 lines of filler)."""
    assert "<" not in text and text.count("filler text") < 10, text
    assert len(text) < 600, len(text)


# -- §8: a base URL that points at a web server, not an LLM API ------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_plain_web_server_as_base_url_stops_the_run_at_its_first_answer_with_no_retry(tmp_path, plain_web_server, provider):
    db = tmp_path / "rel.db"
    add_problems(db, ["[W1]", "[W2]", "[W3]"])
    write_config(tmp_path, generator=f"{provider}:acc-gen", critic=f"{provider}:acc-critic")
    base_url = f"{plain_web_server}/v1" if provider == "openai" else plain_web_server
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        f"{provider.upper()}_BASE_URL": base_url,
        f"{provider.upper()}_API_KEY": "sk-test-not-an-api",
    }
    result = subprocess.run(
        [sys.executable, "-m", "rel_tui", "--db", str(db), "--auto"], env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == EXIT_STOPPED, result.stderr
    assert len(CountingHandler.posts) == 1, CountingHandler.posts  # max_retries = 2: no retry of a 501
    api = "OpenAI-compatible" if provider == "openai" else "Anthropic Messages API"
    path = "/v1/chat/completions" if provider == "openai" else "/v1/messages"
    [stopped] = [line for line in result.stderr.splitlines() if line.startswith("Error: run stopped:")]
    assert f"this does not look like an {api} endpoint (HTTP 501 from {plain_web_server}{path}" in stopped
    assert "Unsupported method" in stopped and "try again later" not in result.stderr
    assert_short_and_tag_free(stopped)
    [(error,)] = rows(db, "select error from llm_calls")
    assert_short_and_tag_free(error)
    states = rows(db, "select state, state_detail from problems")
    assert [state for state, _ in states] == ["pending"] * 3  # nothing lost: a later run works them
    for _, detail in states:
        assert_short_and_tag_free(detail or "")


NOT_AN_API = {
    "404 page": Reply(status=404, raw_body=PAGE.replace("{status}", "404"), headers={"content-type": "text/html"}),
    "405 page": Reply(status=405, raw_body=PAGE.replace("{status}", "405"), headers={"content-type": "text/html"}),
    "501 page": Reply(status=501, raw_body=PAGE.replace("{status}", "501"), headers={"content-type": "text/html"}),
    # FastAPI's answer to a path it lacks (a vLLM base URL without /v1): JSON, but no API error object.
    "404 detail": Reply(status=404, raw_body='{"detail":"Not Found"}', headers={"content-type": "application/json"}),
}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("case", list(NOT_AN_API))
def test_a_page_or_a_non_api_404_is_not_transient_and_says_so_in_a_short_line(tmp_path, llm_env, provider, case):
    db = tmp_path / "rel.db"
    add_problems(db, ["[P1]", "[P2]"])
    write_config(tmp_path, generator=f"{provider}:acc-gen", critic=f"{provider}:acc-critic")
    llm_env.default = NOT_AN_API[case]

    result = run_auto_in_process(db)

    assert result.exit_code == EXIT_STOPPED, result.output
    assert len(llm_env.requests) == 1  # neither retried by the SDK nor tried again on the next problem
    status = case.split()[0]
    [stopped] = [line for line in result.stderr.splitlines() if line.startswith("Error: run stopped:")]
    assert "does not look like an" in stopped and f"(HTTP {status} from {llm_env.url}" in stopped, stopped
    assert "try again later" not in result.stderr and "model not found" not in result.stderr
    assert_short_and_tag_free(stopped)
    [(error,)] = rows(db, "select error from llm_calls")
    assert_short_and_tag_free(error)
    if "page" in case:
        assert "this server does not do that & never will" in error  # the page's text, entities decoded


def test_a_gateway_page_is_still_transient_but_kept_to_a_short_excerpt(tmp_path, llm_env):
    """A 502/503 page from a proxy in front of a restarting server clears up: the SDK retries it."""
    db = tmp_path / "rel.db"
    add_problems(db, ["[G1]"])
    write_config(tmp_path)
    llm_env.default = Reply(status=502, raw_body=PAGE.replace("{status}", "502"), headers={"content-type": "text/html"})

    result = run_auto_in_process(db)

    assert len(llm_env.requests) == 3  # max_retries = 2
    [(state, detail)] = rows(db, "select state, state_detail from problems")
    assert state == "errored" and "server error" in detail and "Error code: 502" in detail
    assert_short_and_tag_free(detail)
    for line in result.stderr.splitlines():
        assert_short_and_tag_free(line)
    assert result.exit_code == EXIT_ERRORED


# -- §8: exit codes for overnight scripts -----------------------------------------------------------------


def test_limit_1_against_an_unreachable_port_exits_non_zero(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = tmp_path / "rel.db"
    add_problems(db, ["[U1]", "[U2]"])
    write_config(tmp_path, retries=0)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "OPENAI_API_KEY": "sk-test-unreachable",
    }
    result = subprocess.run(
        [sys.executable, "-m", "rel_tui", "--db", str(db), "--auto", "--limit", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == EXIT_ERRORED, result.stderr
    assert [state for (state,) in rows(db, "select state from problems order by id")] == ["errored", "pending"]
    [said] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "1 problem errored" in said and "--retry-errored" in said


def test_a_run_where_one_problem_errored_and_others_succeeded_exits_non_zero(tmp_path, llm_env):
    db = tmp_path / "rel.db"
    add_problems(db, ["[S1]", "[E2]", "[S3]"])
    write_config(tmp_path, retries=0)
    llm_env.respond_with(lambda request: Reply.error(500, "the GPU fell over") if "[E2]" in request.prompt else None)
    llm_env.default = solution("42")

    result = run_auto_in_process(db)

    assert result.exit_code == EXIT_ERRORED, result.output
    states = [state for (state,) in rows(db, "select state from problems order by id")]
    assert states == ["awaiting_review", "errored", "awaiting_review"]
    assert "Error: 1 problem errored in this run" in result.stderr


def test_a_run_with_no_errored_problem_still_exits_0(tmp_path, llm_env):
    db = tmp_path / "rel.db"
    add_problems(db, ["[S1]", "[S2]"])
    write_config(tmp_path)
    llm_env.default = solution("42")
    result = run_auto_in_process(db)
    assert result.exit_code == 0, result.output
    assert "Error:" not in result.stderr


@pytest.mark.parametrize(
    ("codes", "combined"),
    [([0, 3], 3), ([3, 1], 1), ([3, 2], 2), ([0, 0], 0), ([3, 130], 130)],
)
def test_workers_pass_on_errored_problems_unless_something_more_serious_happened(codes, combined):
    assert combined_exit_code(codes, interrupted=False) == combined


# -- §7: the spend on the progress lines, shown as the summary shows it ------------------------------------

PRICE = '[models."openai:acc-gen"]\ninput_per_million = 1.0\noutput_per_million = 2.0\n'


def test_progress_lines_say_the_spend_is_unknown_when_no_call_has_a_price(tmp_path, llm_env):
    db = tmp_path / "rel.db"
    add_problems(db, ["[L1]", "[L2]"])
    write_config(tmp_path)
    llm_env.default = solution("42")

    result = run_auto_in_process(db)

    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert len(progress) == 2 and "$0.0000" not in result.stderr, result.stderr
    assert all(re.search(r"run: \d+ tokens, spend unknown \(\d+ calls? unpriced\)", line) for line in progress), progress
    summary_spend = re.search(r"spend\s*│\s*(unknown \(\d+ calls unpriced\))", result.stderr)
    assert summary_spend and f"spend {summary_spend.group(1)})" in progress[-1]  # the same words, the same count


def test_progress_lines_show_a_partly_priced_spend_as_a_lower_bound(tmp_path, llm_env):
    db = tmp_path / "rel.db"
    add_problems(db, ["[L1]"])
    write_config(tmp_path, extra=PRICE)  # the generator priced, the critic not
    script = Script()
    script.on("[L1]", "generate", solution("41"))
    script.on("[L1]", "critic", critic_json("incorrect", 1, "Recount the sevens."))
    script.on("[L1]", "revise", solution("42"))
    llm_env.respond_with(script)

    result = run_auto_in_process(db, "--max-iterations", "1")

    [line] = [line for line in result.stderr.splitlines() if line.startswith("[1/1]")]
    assert re.search(r"spend ≥ \$0\.\d{4} \(\d+ calls? unpriced\)", line), line


class TerminalBuffer(io.StringIO):
    """stderr as a terminal: `--auto` then draws its Rich progress bar."""

    def isatty(self) -> bool:
        return True


def test_the_rich_progress_bar_says_the_spend_is_unknown_too(tmp_path, llm_env, monkeypatch):
    import asyncio

    from rel_core.config import load_settings
    from rel_tui.commands import auto

    db = tmp_path / "rel.db"
    add_problems(db, ["[B1]", "[B2]"])
    write_config(tmp_path)
    llm_env.default = solution("42")
    terminal = TerminalBuffer()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("COLUMNS", "200")
    with Store(db) as store:
        code = asyncio.run(auto._main(store, load_settings(db, None), None, False))

    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal.getvalue())
    assert code == 0, shown
    bar = [line for line in shown.splitlines() if line.lstrip().startswith("REL") and " 0 tok" not in line]
    assert bar and all(re.search(r"[1-9][\d,]* tok unknown \(\d+ calls unpriced\)", line) for line in bar), bar
    assert not re.search(r"[1-9][\d,]* tok \$", shown)  # "0 tok $0.0000" before the first call is true


# -- the excerpt of a server's page: bounded whatever the page ---------------------------------------------

ADVERSARIAL = ["<script" * 40_000, "<html><p" + "<" * 200_000, "<head>" + "x" * 200_000, "<!doctype html>" + "&amp;" * 50_000]


@settings(deadline=3000, max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ADVERSARIAL), st.text(max_size=200))
def test_an_excerpt_is_short_and_one_line_on_any_page(page, noise):
    from rel_core.providers.base import EXCERPT_CHARS, excerpt

    shown = excerpt(noise + page)
    assert len(shown) <= EXCERPT_CHARS and "\n" not in shown


def test_an_excerpt_of_a_page_is_its_text():
    from rel_core.providers.base import excerpt

    shown = excerpt(PAGE.replace("{status}", "501"))
    assert shown.startswith("Error response Error code: 501 Message: this server does not do that & never will.")
    assert "<" not in shown and "font-family" not in shown and len(shown) <= 200
    assert excerpt("model `x` does not exist <see docs>") == "model `x` does not exist <see docs>"  # not a page: as sent
