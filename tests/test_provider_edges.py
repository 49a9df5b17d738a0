"""Provider answers at the edges (issue 8, item 6), through the real SDK clients and the loopback server:
empty answers and reasoning fields, a server that drips bytes, bodies that are not JSON, credentials in
URLs, the same error on every problem, /v1 on an Anthropic base URL, proxy usage, and unknown spend."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import pytest
from llm_server import Reply
from loop_helpers import Script, solution

from rel_core.config import LoopSettings, ModelSettings, ProviderSettings, Settings
from rel_core.loop import LoopEngine, Usage
from rel_core.models import LLMCall, Problem, ProblemState
from rel_core.providers import (
    ChatMessage,
    CompletionRequest,
    ErrorKind,
    LLMClient,
    ProviderError,
    price_for,
)
from rel_core.providers.base import EmptyAnswer, strip_url_credentials
from rel_core.providers.pricing import Spend, recorded_spend
from rel_core.store import Store

SPECS = {"openai": "openai:edge-model", "anthropic": "anthropic:edge-model"}
PRICED = {spec: ModelSettings(input_per_million=1.0, output_per_million=2.0) for spec in SPECS.values()}
REASONING = "Let me think. Six sevens: 7, 14, 21, 28, 35, 42."


def settings_with(timeout: float = 5.0, max_retries: int = 1, **fields) -> Settings:
    provider = ProviderSettings(max_retries=max_retries, timeout=timeout)
    return Settings(openai=provider, anthropic=provider, **{"models": PRICED, **fields})


@pytest.fixture
async def client(store, llm_env):
    async with LLMClient(settings_with(), store) as client:
        yield client


def ask(spec: str, text: str = "What is 6 x 7?") -> CompletionRequest:
    return CompletionRequest(model=spec, messages=[ChatMessage(role="user", content=text)])


def calls(store: Store) -> list[dict]:
    return [dict(row) for row in store.db.query("select * from llm_calls order by id")]


async def failure(client: LLMClient, request: CompletionRequest, stream: bool) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await client.complete(request, on_delta=(lambda _delta: None) if stream else None)
    assert "\n" not in str(caught.value)
    return caught.value


both = pytest.mark.parametrize("provider", ["openai", "anthropic"])
streamed = pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])


# -- 1. empty answers, and reasoning kept apart ---------------------------------------------------------


EMPTY_REPLIES = {
    "null content": {"text": None},
    "empty text": {"text": ""},
    "only reasoning_content": {"text": None, "reasoning": REASONING, "reasoning_field": "reasoning_content"},
    "only reasoning (Ollama)": {"text": "", "reasoning": REASONING, "reasoning_field": "reasoning"},
    "only reasoning, at the token limit": {"text": None, "reasoning": REASONING, "finish_reason": "length"},
}


@both
@streamed
@pytest.mark.parametrize("case", list(EMPTY_REPLIES))
async def test_an_empty_answer_is_a_recorded_failure_with_its_reasoning(client, store, llm_env, provider, stream, case):
    llm_env.enqueue(Reply(**EMPTY_REPLIES[case], input_tokens=50, output_tokens=700))
    error = await failure(client, ask(SPECS[provider]), stream)

    assert isinstance(error, EmptyAnswer) and error.kind == ErrorKind.EMPTY_ANSWER and not error.fatal
    assert llm_env.url in str(error)  # names the server
    [row] = calls(store)
    assert row["id"] == error.llm_call_id and row["error"] == str(error)
    assert (row["input_tokens"], row["output_tokens"]) == (50, 700)  # the tokens were spent: counted
    assert row["cost_usd"] == pytest.approx((50 * 1.0 + 700 * 2.0) / 1e6)
    if "reasoning" in case:
        assert row["reasoning"] == REASONING and "only reasoning" in str(error)
    if "token limit" in case:
        assert "raise max_tokens" in str(error)


@both
async def test_an_answer_with_no_choices_is_an_empty_answer(client, store, llm_env, provider):
    llm_env.enqueue(Reply(no_choices=True))
    error = await failure(client, ask(SPECS[provider]), stream=False)
    assert error.kind == ErrorKind.EMPTY_ANSWER and "no answer text" in str(error)
    assert calls(store)[0]["error"] == str(error)


@both
async def test_a_stream_with_no_choices_fails_and_is_recorded(client, store, llm_env, provider):
    llm_env.enqueue(Reply(no_choices=True))
    error = await failure(client, ask(SPECS[provider]), stream=True)
    # OpenAI: chunks without choices never finish; Anthropic: a message with no content blocks.
    assert error.kind in (ErrorKind.STREAM, ErrorKind.EMPTY_ANSWER)
    assert calls(store)[0]["error"] == str(error)


@both
@streamed
@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_beside_an_answer_is_kept_in_its_own_field(client, store, llm_env, provider, stream, field):
    if provider == "anthropic" and field == "reasoning":
        pytest.skip("Anthropic sends thinking blocks; one case covers them")
    llm_env.enqueue(Reply(text="The answer is 42.", reasoning=REASONING, reasoning_field=field))
    deltas: list[str] = []
    completion = await client.complete(ask(SPECS[provider]), on_delta=deltas.append if stream else None)
    assert completion.text == "The answer is 42." and completion.reasoning == REASONING
    assert REASONING not in "".join(deltas)  # the draft shown as it streams is the answer alone
    [row] = calls(store)
    assert (row["response"], row["reasoning"], row["error"]) == ("The answer is 42.", REASONING, None)


def loop_settings(server) -> Settings:
    price = ModelSettings(input_per_million=1.0, output_per_million=2.0)
    return Settings(
        generator="openai:edge-gen",
        critic="openai:edge-critic",
        openai=ProviderSettings(base_url=server.openai_base_url, max_retries=1, timeout=10),
        models={"openai:edge-gen": price, "openai:edge-critic": price},
        loop=LoopSettings(),
    )


async def run_one(store, server, marker: str, settings: Settings | None = None) -> tuple[int, ProblemState, Usage]:
    problem_id, _ = store.add_problem(Problem(text=f"{marker} What is 6 x 7?", reference_answer="42"))
    settings = settings or loop_settings(server)
    engine = LoopEngine(store, LLMClient(settings, store), settings)
    try:
        return problem_id, await engine.run_problem(problem_id), engine.usage
    finally:
        engine.close()
        await engine.client.aclose()


async def test_the_loop_stores_reasoning_on_the_attempt(store, llm_env):
    llm_env.respond_with(Script().on("[R1]", "generate", Reply(text=solution("42"), reasoning=REASONING)))
    problem_id, state, _ = await run_one(store, llm_env, "[R1]")
    assert state == ProblemState.AWAITING_REVIEW
    [attempt] = store.history(problem_id).attempts
    assert attempt.reasoning == REASONING and REASONING not in attempt.text
    assert store.get_attempt(attempt.id).reasoning == REASONING


async def test_the_loop_never_stores_an_empty_draft(store, llm_env):
    llm_env.respond_with(
        Script().on("[R2]", "generate", Reply(text=None, reasoning=REASONING, finish_reason="length", output_tokens=700))
    )
    problem_id, state, usage = await run_one(store, llm_env, "[R2]")
    assert state == ProblemState.ERRORED
    assert (usage.calls, usage.failed, usage.output_tokens) == (0, 1, 700)  # the failed call's tokens count
    history = store.history(problem_id)
    assert history.attempts == []  # nothing for an expert to review
    assert "only reasoning" in history.problem.state_detail and "raise max_tokens" in history.problem.state_detail
    [row] = calls(store)
    assert row["reasoning"] == REASONING and row["error"] == history.problem.state_detail


# -- 2. a whole-call deadline ------------------------------------------------------------------------------


@both
@streamed
async def test_a_server_that_drips_bytes_is_cut_at_the_whole_call_deadline(store, llm_env, provider, stream):
    # One byte every 0.1 s: the HTTP client's per-read timeout (1 s) never fires, and the whole answer
    # would take a minute or more.
    llm_env.enqueue("warm-up", Reply(text="forty-two " * 40, drip=0.1))
    async with LLMClient(settings_with(timeout=1.0, max_retries=2), store) as client:
        await client.complete(ask(SPECS[provider]))  # the SDK's first-call set-up is not the server's time
        started = time.monotonic()
        error = await failure(client, ask(SPECS[provider]), stream)
        elapsed = time.monotonic() - started
    assert error.kind == ErrorKind.TIMEOUT
    assert elapsed < 15, elapsed  # the dripped answer alone takes 40 s; 15 leaves room for a loaded machine
    assert "within 1 s" in str(error) and llm_env.url in str(error)
    [_, row] = calls(store)
    assert row["error"] == str(error)
    assert len(llm_env.requests) == 2  # the deadline covers the SDK's retries too


async def test_a_stream_cut_by_the_deadline_keeps_its_text_so_far(store, llm_env):
    llm_env.enqueue(Reply(text="Six sevens are forty-two, " * 50, chunk_delay=0.05))
    deltas: list[str] = []
    async with LLMClient(settings_with(timeout=1.0), store) as client:
        with pytest.raises(ProviderError) as caught:
            await client.complete(ask(SPECS["openai"]), on_delta=deltas.append)
    assert caught.value.kind == ErrorKind.TIMEOUT
    assert deltas and caught.value.partial_text == "".join(deltas)
    assert calls(store)[0]["response"] == "".join(deltas)


# -- 3. a 200 that is not JSON -------------------------------------------------------------------------


NOT_JSON = {
    "truncated JSON": ('{"id": "chatcmpl-1", "choices": [', "application/json"),
    "HTML page": ("<html><body><h1>Sign in to the proxy</h1></body></html>", "text/html"),
    "JSON error document": ('{"detail": "gateway misconfigured"}', "application/json"),
}


@both
@streamed
@pytest.mark.parametrize("case", list(NOT_JSON))
async def test_a_200_that_is_not_an_answer_is_a_server_error_naming_the_server(client, store, llm_env, provider, stream, case):
    body, content_type = NOT_JSON[case]
    llm_env.enqueue(Reply(raw_body=body, headers={"content-type": content_type}))
    error = await failure(client, ask(SPECS[provider]), stream)
    if case == "JSON error document" and not stream:
        assert error.kind == ErrorKind.EMPTY_ANSWER  # valid JSON, but no answer in it
    else:
        assert error.kind == ErrorKind.SERVER and "unexpected answer" in str(error)
    assert llm_env.url in str(error)
    assert calls(store)[0]["error"] == str(error)


@both
async def test_a_stream_event_that_is_not_json_is_a_server_error(client, store, llm_env, provider):
    event = "data: {not json\n\n" if provider == "openai" else "event: message_start\ndata: {not json\n\n"
    llm_env.enqueue(Reply(raw_body=event, headers={"content-type": "text/event-stream"}))
    error = await failure(client, ask(SPECS[provider]), stream=True)
    assert error.kind == ErrorKind.SERVER and "not valid JSON" in str(error) and llm_env.url in str(error)
    assert calls(store)[0]["error"] == str(error)


async def test_an_escape_sequence_from_a_server_never_reaches_the_message(client, llm_env):
    llm_env.enqueue(Reply(raw_body="<html>\x1b[31mred\x1b]52;c;aGk=\x07</html>", headers={"content-type": "text/html"}))
    error = await failure(client, ask(SPECS["openai"]), stream=False)
    assert "\x1b" not in str(error) and "\x07" not in str(error) and "red" in str(error)


# -- 4. credentials in a base URL -------------------------------------------------------------------------


@both
async def test_a_base_url_with_credentials_is_a_config_error_that_does_not_show_them(store, llm_env, monkeypatch, provider):
    url = llm_env.openai_base_url if provider == "openai" else llm_env.anthropic_base_url
    monkeypatch.setenv(f"{provider.upper()}_BASE_URL", url.replace("http://", "http://proxyuser:hunter2-secret@"))
    async with LLMClient(settings_with(), store) as client:
        with pytest.raises(ProviderError) as caught:
            await client.complete(ask(SPECS[provider]))
    assert caught.value.kind == ErrorKind.CONFIG and caught.value.fatal
    assert "credentials" in str(caught.value)
    assert "hunter2" not in str(caught.value) and "proxyuser" not in str(caught.value)
    assert all("hunter2" not in (row["request"] + (row["error"] or "")) for row in calls(store))


@both
async def test_a_provider_never_shows_or_stores_the_credentials_of_its_url(store, llm_env, provider):
    """Even a provider made with such a URL (bypassing the check) shows and records it without them."""
    from rel_core.providers.client import _make_provider

    base = llm_env.openai_base_url if provider == "openai" else llm_env.anthropic_base_url
    settings = settings_with()
    made = _make_provider(provider, settings.openai, base.replace("http://", "http://proxyuser:hunter2-secret@"), "sk-x", None)
    assert "hunter2" not in made.base_url and "proxyuser" not in made.base_url and made.base_url.startswith("http://127.0.0.1")
    client = LLMClient(settings, store)
    client._providers[(provider, None, f"{provider.upper()}_API_KEY")] = made
    llm_env.enqueue(Reply.error(400, "bad request from http://proxyuser:hunter2-secret@127.0.0.1/v1"))
    try:
        with pytest.raises(ProviderError) as caught:
            await client.complete(ask(SPECS[provider]))
    finally:
        await client.aclose()
    assert "hunter2" not in str(caught.value)
    [row] = calls(store)
    assert "hunter2" not in row["request"] and "hunter2" not in row["error"]


def test_url_credentials_are_stripped_from_any_text():
    text = "failed: https://u:p%40ss@host:8443/v1 and http://token@other/x, mail a@b.c"
    assert strip_url_credentials(text) == "failed: https://host:8443/v1 and http://other/x, mail a@b.c"


# -- 6. an Anthropic base URL that ends in /v1 -----------------------------------------------------------


@streamed
async def test_anthropic_base_url_ending_in_v1_is_trimmed_with_a_note(client, llm_env, monkeypatch, caplog, stream):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"{llm_env.anthropic_base_url}/v1/")
    llm_env.enqueue("42")
    with caplog.at_level(logging.WARNING, logger="rel_core.providers.anthropic_provider"):
        completion = await client.complete(ask(SPECS["anthropic"]), on_delta=(lambda _d: None) if stream else None)
    assert completion.text == "42"
    assert [r.path for r in llm_env.requests] == ["/v1/messages"]
    [note] = [r.getMessage() for r in caplog.records]
    assert "ends in /v1" in note and "\n" not in note


# -- 7. Anthropic stream usage from a proxy ----------------------------------------------------------------


async def test_streamed_anthropic_input_tokens_take_the_larger_count(client, store, llm_env):
    llm_env.enqueue(Reply(text="42", input_tokens=1234, output_tokens=5, start_input_tokens=0))
    completion = await client.complete(ask(SPECS["anthropic"]), on_delta=lambda _d: None)
    assert (completion.input_tokens, completion.output_tokens, completion.tokens_estimated) == (1234, 5, False)
    assert calls(store)[0]["input_tokens"] == 1234
    llm_env.enqueue(Reply(text="42", input_tokens=900, output_tokens=5))  # the real API: counted at the start
    completion = await client.complete(ask(SPECS["anthropic"]), on_delta=lambda _d: None)
    assert completion.input_tokens == 900


# -- 8. no hosted prices for a model behind another server -------------------------------------------------


async def test_a_hosted_model_name_behind_another_server_is_not_priced_from_the_table(store, llm_env):
    llm_env.default = Reply(text="ok", input_tokens=1_000_000, output_tokens=1_000_000)
    settings = settings_with(models={"openai:gpt-4o": ModelSettings(input_per_million=1.0, output_per_million=2.0)})
    async with LLMClient(settings, store) as client:
        unpriced = await client.complete(ask("openai:gpt-4o-mini"))  # in the table, but not api.openai.com
        priced = await client.complete(ask("openai:gpt-4o"))  # the config prices it
    assert unpriced.cost_usd is None and priced.cost_usd == pytest.approx(3.0)
    assert price_for("openai:gpt-4o-mini", settings) is None  # what the budget warning sees


def test_a_model_with_its_own_base_url_is_not_priced_from_the_table(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    own = Settings(models={"openai:gpt-4o-mini": ModelSettings(base_url="http://127.0.0.1:8000/v1")})
    assert price_for("openai:gpt-4o-mini", own) is None
    hosted = Settings(openai=ProviderSettings(base_url="https://api.openai.com/v1"))
    assert price_for("openai:gpt-4o-mini", hosted) is not None


# -- 9. spend that is unknown, and failed calls ------------------------------------------------------------


def test_spend_says_when_it_is_unknown_or_a_lower_bound():
    assert Spend(0.5).describe() == "$0.5000"
    assert Spend(0.5, unpriced=3).describe() == "≥ $0.5000 (3 calls unpriced)"
    assert Spend(0.0, unpriced=1).describe() == "unknown (1 call unpriced)"


async def test_the_loop_counts_calls_without_a_price(store, llm_env):
    llm_env.respond_with(Script().on("[R3]", "generate", solution("42")))
    settings = loop_settings(llm_env).model_copy(update={"models": {}})
    _, state, usage = await run_one(store, llm_env, "[R3]", settings)
    assert state == ProblemState.AWAITING_REVIEW and (usage.calls, usage.unpriced, usage.cost_usd) == (1, 1, 0.0)


def test_the_run_summary_says_the_spend_is_unknown_and_counts_failed_calls(capsys):
    from rel_core.runner import RunStats
    from rel_tui.commands.auto import print_summary

    print_summary(RunStats(calls=3, failed_calls=1, unpriced_calls=3, stop_reason="queue worked"))
    err = capsys.readouterr().err
    assert "unknown (3 calls unpriced)" in err and "4 (1 failed)" in err
    print_summary(RunStats(calls=3, unpriced_calls=1, cost_usd=0.125, stop_reason="queue worked"))
    assert "≥ $0.1250 (1 call unpriced)" in capsys.readouterr().err


def log(store: Store, **fields) -> None:
    store.log_call(LLMCall(provider="openai", model="m", purpose="generate", request="{}", **fields))


def status_output(db, tmp_path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "rel_tui", "--db", str(db), "status"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_status_counts_failed_calls_and_unpriced_spend(tmp_path):
    db = tmp_path / "rel.db"
    with Store(db) as store:
        log(store, input_tokens=10, output_tokens=10, cost_usd=0.25)
        log(store, input_tokens=10, output_tokens=10)  # no price known
        log(store, error="openai:m: request rejected (400: Invalid model name)")
        assert recorded_spend(store.conn) == Spend(0.25, calls=3, unpriced=1, failed=1)
    out = status_output(db, tmp_path)
    rows = {cells[1].strip(): cells[2].strip() for line in out.splitlines() if len(cells := line.split("│")) == 4}
    assert (rows["LLM calls"], rows["LLM calls failed"]) == ("3", "1")
    assert rows["LLM spend"] == "≥ $0.2500 (1 call unpriced)"
    with Store(db) as store:
        store.conn.execute("update llm_calls set cost_usd = null")
    assert "unknown (2 calls unpriced)" in status_output(db, tmp_path)


# -- 5. the same provider error on every problem stops the run ---------------------------------------------


def test_the_same_provider_error_on_problem_after_problem_stops_the_run_with_exit_1(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    with Store(db) as store:
        for n in range(8):
            store.add_problem(Problem(text=f"[S{n}] What is 6 x 7?", reference_answer="42"))
    (tmp_path / "rel.toml").write_text(
        'generator = "openai:not-on-the-proxy"\ncritic = "openai:not-on-the-proxy"\n'
        "[openai]\nmax_retries = 0\ntimeout = 20\n[loop]\nconcurrency = 1\n"
    )
    # What a LiteLLM proxy answers for an unknown model: 400, not 404, so not fatal by itself.
    llm_server.default = Reply.error(400, "Invalid model name passed in model=not-on-the-proxy. Call `/v1/models`.")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        "OPENAI_BASE_URL": llm_server.openai_base_url,
        "OPENAI_API_KEY": "sk-test-loopback",
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [sys.executable, "-m", "rel_tui", "--db", str(db), "--auto"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    [stopped] = [line for line in result.stderr.splitlines() if line.startswith("Error: run stopped")]
    assert "same provider error on 5 problems in a row" in stopped and "Invalid model name" in stopped
    assert len(llm_server.requests) == 5
    with Store(db) as store:
        counts = store.counts()
    assert (counts[ProblemState.ERRORED], counts[ProblemState.PENDING]) == (5, 3)
    assert "5 (5 failed)" in result.stderr  # the summary counts failed calls


async def test_problem_specific_errors_in_a_row_do_not_stop_the_run(tmp_path, llm_env):
    from rel_core.runner import Runner, StopReason

    db = tmp_path / "runner.db"
    with Store(db) as store:
        for n in range(7):
            store.add_problem(Problem(text=f"[T{n}] What is 6 x 7?", reference_answer="42"))
        llm_env.default = Reply.context_length_exceeded()  # each problem's own prompt is too long
        settings = loop_settings(llm_env).model_copy(update={"loop": LoopSettings(concurrency=1)})
        engine = LoopEngine(store, LLMClient(settings, store), settings)
        try:
            stats = await Runner(store, engine, settings).run()
        finally:
            engine.close()
            await engine.client.aclose()
        assert stats.stop_reason == StopReason.QUEUE_EMPTY and stats.errored == 7
        assert store.counts()[ProblemState.ERRORED] == 7
