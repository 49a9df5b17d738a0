"""The provider layer over a real wire: the official SDKs against the loopback server (tests/llm_server.py)."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
from llm_server import Reply

from rel_core.config import ModelSettings, ProviderSettings, Settings
from rel_core.providers import ChatMessage, CompletionRequest, ErrorKind, LLMClient, ProviderError
from rel_core.store import Store

OPENAI_KEY = "sk-test-SECRET-0penai-key"
ANTHROPIC_KEY = "sk-ant-test-SECRET-anthr0pic-key"
SPECS = {"openai": "openai:gpt-4o-mini", "anthropic": "anthropic:claude-haiku-4-5"}
KEY_HEADER_VALUES = {"openai": f"Bearer {OPENAI_KEY}", "anthropic": f"Bearer {ANTHROPIC_KEY}"}


@pytest.fixture
def env(llm_server, monkeypatch, tmp_path):
    """Keys and base URLs in the environment, as a user would set them; nothing from the real home."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", llm_server.anthropic_base_url)
    for name in (
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
        "ANTHROPIC_AUTH_TOKEN",
        "OPENAI_CUSTOM_HEADERS",
        "ANTHROPIC_CUSTOM_HEADERS",
    ):
        monkeypatch.delenv(name, raising=False)
    return llm_server


def fast(max_retries: int = 2, timeout: float = 5.0, **fields) -> ProviderSettings:
    return ProviderSettings(max_retries=max_retries, timeout=timeout, **fields)


# The loopback server is not the hosted API, so the bundled price table does not apply: priced here.
PRICED = {spec: ModelSettings(input_per_million=1.0, output_per_million=2.0) for spec in SPECS.values()}


@pytest.fixture
def settings():
    return Settings(openai=fast(), anthropic=fast(), models=PRICED)


@pytest.fixture
async def client(settings, store, env):
    async with LLMClient(settings, store) as client:
        yield client


def ask(spec: str, text: str = "What is 6 x 7?", **fields) -> CompletionRequest:
    return CompletionRequest(
        model=spec, system="You write worked solutions.", messages=[ChatMessage(role="user", content=text)], **fields
    )


def calls(store: Store) -> list[dict]:
    return [dict(row) for row in store.db.query("select * from llm_calls order by id")]


async def failure(client: LLMClient, request: CompletionRequest, **kwargs) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await client.complete(request, **kwargs)
    error = caught.value
    assert "\n" not in str(error)
    return error


both = pytest.mark.parametrize("provider", ["openai", "anthropic"])


# -- completions ---------------------------------------------------------------------------------


@both
async def test_plain_completion_is_returned_and_recorded(client, store, env, provider):
    env.enqueue(Reply(text="It is 42.", input_tokens=120, output_tokens=30))
    completion = await client.complete(ask(SPECS[provider], temperature=0.7, max_tokens=500, purpose="generate", problem_id=None))

    assert completion.text == "It is 42."
    assert (completion.input_tokens, completion.output_tokens, completion.tokens_estimated) == (120, 30, False)
    assert completion.finish_reason == ("stop" if provider == "openai" else "end_turn")
    assert completion.model == SPECS[provider].split(":")[1]
    assert completion.latency_ms > 0
    [row] = calls(store)
    assert row["id"] == completion.llm_call_id
    assert (row["provider"], row["model"], row["purpose"]) == (provider, SPECS[provider].split(":")[1], "generate")
    assert (row["response"], row["input_tokens"], row["output_tokens"], row["error"]) == ("It is 42.", 120, 30, None)
    assert row["cost_usd"] == pytest.approx(completion.cost_usd) and completion.cost_usd > 0
    recorded = json.loads(row["request"])
    assert recorded["system"] == "You write worked solutions."
    assert recorded["messages"] == [{"role": "user", "content": "What is 6 x 7?"}]
    assert recorded["stream"] is False


async def test_openai_wire_format(client, env):
    await client.complete(ask(SPECS["openai"], temperature=0.7, max_tokens=500))
    [request] = env.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["messages"][0] == {"role": "system", "content": "You write worked solutions."}
    assert (request.body["max_tokens"], request.body["temperature"]) == (500, 0.7)
    assert request.headers["authorization"] == KEY_HEADER_VALUES["openai"]


async def test_openai_reasoning_models_get_max_completion_tokens_and_no_temperature(client, env):
    await client.complete(ask("openai:o4-mini", temperature=0.7, max_tokens=500))
    body = env.requests[0].body
    assert body["max_completion_tokens"] == 500 and "max_tokens" not in body and "temperature" not in body


async def test_anthropic_wire_format_puts_the_system_prompt_on_top(client, env):
    await client.complete(ask(SPECS["anthropic"], temperature=0.7, max_tokens=500))
    [request] = env.requests
    assert request.path == "/v1/messages"
    assert request.body["system"] == "You write worked solutions."
    assert request.body["messages"] == [{"role": "user", "content": "What is 6 x 7?"}]
    assert request.body["max_tokens"] == 500
    assert "temperature" not in request.body  # the current Messages API has no sampling parameters
    assert not request.stream


@both
async def test_streamed_completion_delivers_deltas_in_order(client, store, env, provider):
    env.enqueue(Reply(text="Six sevens are forty-two.", input_tokens=50, output_tokens=6))
    deltas: list[str] = []
    completion = await client.complete(ask(SPECS[provider]), on_delta=deltas.append)

    assert deltas == ["Six ", "sevens ", "are ", "forty-two."]
    assert completion.text == "".join(deltas)
    assert (completion.input_tokens, completion.output_tokens, completion.tokens_estimated) == (50, 6, False)
    assert completion.finish_reason in ("stop", "end_turn")
    [request] = env.requests
    assert request.stream
    if provider == "openai":
        assert request.body["stream_options"] == {"include_usage": True}
    [row] = calls(store)
    assert (row["response"], row["input_tokens"], row["output_tokens"]) == (completion.text, 50, 6)
    assert json.loads(row["request"])["stream"] is True


async def test_anthropic_streams_long_generations_without_a_callback(client, env):
    env.enqueue(Reply(text="a long worked solution"))
    completion = await client.complete(ask(SPECS["anthropic"], max_tokens=32_000))
    assert env.requests[0].stream
    assert completion.text == "a long worked solution"


@both
@pytest.mark.parametrize("stream", [False, True])
async def test_a_server_without_usage_gets_estimated_tokens(client, store, env, provider, stream):
    env.enqueue(Reply(text="x" * 40, usage=False))
    completion = await client.complete(ask(SPECS[provider], "y" * 400), on_delta=(lambda d: None) if stream else None)
    assert completion.tokens_estimated
    assert completion.output_tokens == 10
    assert completion.input_tokens > 100
    [row] = calls(store)
    assert (row["tokens_estimated"], row["output_tokens"]) == (1, 10)


async def test_the_answer_names_the_model_that_answered(client, env):
    env.enqueue(Reply(text="ok", model="gpt-4o-mini-2024-07-18"))
    completion = await client.complete(ask(SPECS["openai"]))
    assert completion.model == "gpt-4o-mini-2024-07-18"
    assert completion.cost_usd is not None


async def test_replies_can_be_scripted_per_prompt(client, env):
    env.respond_with(lambda request: "42" if "6 x 7" in request.prompt else "I don't know")
    assert (await client.complete(ask(SPECS["openai"], "What is 6 x 7?"))).text == "42"
    assert (await client.complete(ask(SPECS["anthropic"], "What is 2 + 2?"))).text == "I don't know"


# -- retries and failures -------------------------------------------------------------------------


@both
async def test_429_with_retry_after_ms_is_retried_by_the_sdk(client, store, env, provider):
    env.enqueue(Reply.rate_limited(retry_after_ms=100), "after the wait")
    started = time.perf_counter()
    completion = await client.complete(ask(SPECS[provider]))
    assert completion.text == "after the wait"
    assert time.perf_counter() - started >= 0.1  # the SDK honoured retry-after-ms, not its 0.5 s default
    assert len(env.requests) == 2
    assert [row["error"] for row in calls(store)] == [None]


@both
async def test_500s_until_the_retries_run_out(client, store, env, provider):
    env.default = Reply.server_error(500)
    error = await failure(client, ask(SPECS[provider]))
    assert error.kind == ErrorKind.SERVER and not error.fatal
    assert "server error" in str(error) and "after 2 retries" in str(error)
    assert len(env.requests) == 3  # one try and max_retries=2 retries
    [row] = calls(store)
    assert row["error"] == str(error) and row["id"] == error.llm_call_id


@both
async def test_rate_limited_after_the_retries_run_out(client, env, provider):
    env.default = Reply.rate_limited(retry_after_ms=1)
    error = await failure(client, ask(SPECS[provider]))
    assert error.kind == ErrorKind.RATE_LIMIT
    assert "rate limited after 2 retries" in str(error) and "concurrency" in str(error)
    assert len(env.requests) == 3


@both
async def test_insufficient_quota_is_fatal_and_never_retried(client, env, provider):
    env.default = Reply.insufficient_quota()
    error = await failure(client, ask(SPECS[provider]))
    assert error.kind == ErrorKind.QUOTA and error.fatal
    assert "quota" in str(error)
    assert len(env.requests) == 1


@both
async def test_authentication_error_names_the_key_variable(client, env, provider):
    env.enqueue(Reply.auth_failed())
    error = await failure(client, ask(SPECS[provider]))
    assert error.kind == ErrorKind.AUTH and error.fatal and error.status == 401
    assert f"check {provider.upper()}_API_KEY" in str(error)
    assert len(env.requests) == 1


@both
async def test_unknown_model_is_not_found(client, env, provider):
    env.enqueue(Reply.model_not_found("gpt-9"))
    error = await failure(client, ask(SPECS[provider]))
    assert error.kind == ErrorKind.NOT_FOUND and error.fatal
    assert "model not found" in str(error) and "gpt-9" in str(error)


@both
async def test_context_length_exceeded(client, env, provider):
    env.enqueue(Reply.context_length_exceeded())
    error = await failure(client, ask(SPECS[provider]))
    assert error.kind == ErrorKind.CONTEXT_LENGTH and not error.fatal
    assert "lower max_tokens" in str(error)
    assert len(env.requests) == 1


async def test_anthropic_prompt_too_long_wording_is_context_length(client, env):
    env.enqueue(Reply.error(400, "prompt is too long: 210000 tokens > 200000 maximum"))
    assert (await failure(client, ask(SPECS["anthropic"]))).kind == ErrorKind.CONTEXT_LENGTH


async def test_other_400s_are_bad_requests(client, env):
    env.enqueue(Reply.error(400, "temperature must be at most 2"))
    error = await failure(client, ask(SPECS["openai"]))
    assert error.kind == ErrorKind.BAD_REQUEST and "temperature must be at most 2" in str(error)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@both
async def test_connection_refused_names_the_base_url(store, env, monkeypatch, provider):
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv(f"{provider.upper()}_BASE_URL", url + ("/v1" if provider == "openai" else ""))
    settings = Settings(openai=fast(max_retries=1), anthropic=fast(max_retries=1))
    async with LLMClient(settings, store) as client:
        error = await failure(client, ask(SPECS[provider]))
    assert error.kind == ErrorKind.CONNECTION
    assert url in str(error) and "connection refused" in str(error) and "2 attempts" in str(error)
    assert calls(store)[0]["error"] == str(error)


@both
async def test_a_slow_server_hits_the_timeout(store, env, provider):
    env.enqueue(Reply(text="too late", delay=3))
    settings = Settings(openai=fast(max_retries=0, timeout=0.3), anthropic=fast(max_retries=0, timeout=0.3))
    started = time.perf_counter()
    async with LLMClient(settings, store) as client:
        error = await failure(client, ask(SPECS[provider]))
    assert error.kind == ErrorKind.TIMEOUT
    assert "within 0.3 s" in str(error) and "timeout" in str(error)
    assert time.perf_counter() - started < 2


@both
async def test_a_stream_cut_off_midway_keeps_the_partial_text(client, store, env, provider):
    env.enqueue(Reply(text="one two three four five six", cut_after=4))
    deltas: list[str] = []
    error = await failure(client, ask(SPECS[provider]), on_delta=deltas.append)
    assert error.kind == ErrorKind.STREAM and not error.fatal
    assert error.partial_text == "".join(deltas) and error.partial_text
    assert "broke off" in str(error)
    [row] = calls(store)
    assert (row["response"], row["error"]) == (error.partial_text, str(error))


@both
async def test_a_stream_that_ends_before_the_model_finished_is_broken(client, env, provider):
    env.enqueue(Reply(text="one two three four five six", cut_after=4, end_cleanly=True))
    error = await failure(client, ask(SPECS[provider]), on_delta=lambda d: None)
    assert error.kind == ErrorKind.STREAM and "ended before the model finished" in str(error)
    assert error.partial_text


async def test_a_stall_mid_stream_is_a_broken_stream(store, env):
    env.enqueue(Reply(text="one two three", chunk_delay=1.0))
    settings = Settings(openai=fast(max_retries=0, timeout=0.3))
    async with LLMClient(settings, store) as client:
        error = await failure(client, ask(SPECS["openai"]), on_delta=lambda d: None)
    assert error.kind in (ErrorKind.STREAM, ErrorKind.TIMEOUT)


async def test_a_failing_callback_is_recorded_and_raised(client, store, env):
    def explode(delta: str) -> None:
        raise RuntimeError("widget gone")

    with pytest.raises(RuntimeError, match="widget gone"):
        await client.complete(ask(SPECS["openai"]), on_delta=explode)
    assert calls(store)[0]["error"] == "RuntimeError: widget gone"


async def test_a_cancelled_call_is_recorded(client, store, env):
    env.enqueue(Reply(text="never read", delay=5))
    task = asyncio.create_task(client.complete(ask(SPECS["openai"])))
    while not env.requests:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls(store)[0]["error"] == "cancelled"


# -- configuration errors --------------------------------------------------------------------------


@both
async def test_missing_api_key_names_the_variable(client, store, env, monkeypatch, provider):
    monkeypatch.delenv(f"{provider.upper()}_API_KEY")
    monkeypatch.delenv(f"{provider.upper()}_BASE_URL")
    error = await failure(client, ask(SPECS[provider]))
    assert error.kind == ErrorKind.CONFIG and error.fatal
    assert str(error).startswith(f"{provider.upper()}_API_KEY is not set")
    assert env.requests == []
    assert calls(store)[0]["error"] == str(error)


@pytest.mark.parametrize("spec", ["gpt-4o-mini", "mistral:large", "openai:"])
async def test_a_bad_spec_lists_the_providers(client, store, spec):
    error = await failure(client, ask(spec))
    assert error.kind == ErrorKind.CONFIG
    assert "openai, anthropic" in str(error)
    assert calls(store)[0]["error"] == str(error)


async def test_a_local_server_with_its_own_base_url_needs_no_key(store, env, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL")
    settings = Settings(openai=fast(), models={"openai:qwen2.5-7b": ModelSettings(base_url=env.openai_base_url)})
    async with LLMClient(settings, store) as client:
        completion = await client.complete(ask("openai:qwen2.5-7b"))
        monkeypatch.delenv("OPENAI_API_KEY")
        await client.complete(ask("openai:qwen2.5-7b"))
    assert completion.text == "OK"
    # The hosted provider's key is never sent to another server.
    assert {r.headers["authorization"] for r in env.requests} == {"Bearer no-key-needed"}


async def test_a_model_server_key_comes_from_its_api_key_env(store, env, monkeypatch):
    monkeypatch.setenv("VLLM_KEY", "vllm-secret")
    model = ModelSettings(base_url=env.openai_base_url, api_key_env="VLLM_KEY")
    async with LLMClient(Settings(models={"openai:qwen": model}), store) as client:
        await client.complete(ask("openai:qwen"))
        monkeypatch.delenv("VLLM_KEY")
        client._providers.clear()  # a new client would read the environment afresh
        error = await failure(client, ask("openai:qwen"))
    assert env.requests[0].headers["authorization"] == "Bearer vllm-secret"
    assert error.kind == ErrorKind.CONFIG and str(error).startswith("VLLM_KEY is not set")


async def test_a_local_openai_base_url_in_the_environment_needs_no_key(store, env, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    async with LLMClient(Settings(openai=fast()), store) as client:
        assert (await client.complete(ask(SPECS["openai"]))).text == "OK"


async def test_provider_base_url_from_settings_wins_over_the_environment(store, env, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{closed_port()}/v1")
    async with LLMClient(Settings(openai=fast(base_url=env.openai_base_url)), store) as client:
        assert (await client.complete(ask(SPECS["openai"]))).text == "OK"


# -- metering ------------------------------------------------------------------------------------


async def test_cost_from_an_override_and_unknown_models(store, env):
    env.default = Reply(text="ok", input_tokens=1_000_000, output_tokens=1_000_000)
    settings = Settings(
        openai=fast(),
        models={
            "openai:gpt-4o": ModelSettings(input_per_million=1.0, output_per_million=2.0),
            "openai:my-finetune": ModelSettings(base_url=env.openai_base_url),
        },
    )
    async with LLMClient(settings, store) as client:
        mini = await client.complete(ask("openai:gpt-4o-mini"))
        overridden = await client.complete(ask("openai:gpt-4o"))
        unknown = await client.complete(ask("openai:my-finetune"))
    # The loopback is not api.openai.com: the hosted list price of gpt-4o-mini does not apply there.
    assert mini.cost_usd is None
    assert overridden.cost_usd == pytest.approx(3.0)
    assert unknown.cost_usd is None
    costs = [row["cost_usd"] for row in calls(store)]
    assert costs == [None, pytest.approx(3.0), None]


def test_the_bundled_table_prices_the_hosted_apis():
    from rel_core.providers import price_for

    settings = Settings()
    assert price_for("openai:gpt-4o-mini", settings, hosted=True).cost(1_000_000, 1_000_000) == pytest.approx(0.75)
    # A dated snapshot has its family's price.
    haiku = price_for("anthropic:claude-haiku-4-5-20251001", settings, hosted=True)
    assert haiku.cost(1_000_000, 1_000_000) == pytest.approx(1.0 + 5.0)
    assert price_for("openai:my-finetune", settings, hosted=True) is None


async def test_api_keys_never_reach_the_database(tmp_path, env):
    env.enqueue("fine", Reply.auth_failed(), Reply(text="a b c d", cut_after=3))
    store = Store(tmp_path / "keys.db")
    async with LLMClient(Settings(openai=fast(), anthropic=fast()), store) as client:
        await client.complete(ask(SPECS["openai"]))
        with pytest.raises(ProviderError):
            await client.complete(ask(SPECS["anthropic"]))
        with pytest.raises(ProviderError):
            await client.complete(ask(SPECS["openai"]), on_delta=lambda d: None)
    store.close()
    # The keys went over the wire...
    assert env.requests[0].headers["authorization"] == KEY_HEADER_VALUES["openai"]
    assert env.requests[1].headers["authorization"] == KEY_HEADER_VALUES["anthropic"]
    # ...and nowhere into the database files.
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("keys.db*"))
    assert b"llm_calls" in stored
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, "SECRET"):
        assert secret.encode() not in stored


async def test_without_a_store_nothing_is_recorded(env, settings):
    async with LLMClient(settings) as client:
        completion = await client.complete(ask(SPECS["openai"]))
    assert completion.llm_call_id is None and completion.text == "OK"


# -- limits --------------------------------------------------------------------------------------


async def test_concurrency_is_limited_per_provider(store, env):
    env.latency = 0.2
    settings = Settings(openai=fast(concurrency=2), anthropic=fast(concurrency=4))
    async with LLMClient(settings, store) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client.complete(ask(SPECS["openai"])) for _ in range(4)))
        openai_seconds = time.perf_counter() - started
        started = time.perf_counter()
        await asyncio.gather(*(client.complete(ask(SPECS["anthropic"])) for _ in range(4)))
        anthropic_seconds = time.perf_counter() - started
    assert openai_seconds >= 0.4  # two waves of two
    assert anthropic_seconds < 0.38  # one wave of four


async def test_requests_per_minute_spaces_the_starts(store, env):
    async with LLMClient(Settings(openai=fast(requests_per_minute=600)), store) as client:
        await asyncio.gather(*(client.complete(ask(SPECS["openai"])) for _ in range(4)))
    arrivals = sorted(r.received_at for r in env.requests)
    assert arrivals[-1] - arrivals[0] >= 0.25  # 600/min is one every 0.1 s


# -- a key echoed back in an error body ------------------------------------------------------------

KEYS = {"openai": OPENAI_KEY, "anthropic": ANTHROPIC_KEY}


def echo_the_key(status: int, padding: int = 0):
    """A proxy that quotes the credentials it was sent in its error text (after `padding` characters)."""

    def reply(request):
        sent = request.headers.get("x-api-key") or request.headers["authorization"]
        return Reply.error(status, "p" * padding + f"Rejected; you sent: {sent} (see the docs)")

    return reply


def database_bytes(path) -> bytes:
    files = [p for p in path.parent.glob(path.name + "*")]
    assert {p.name for p in files} >= {path.name, path.name + "-wal"}  # read while open: the WAL holds the latest writes
    return b"".join(p.read_bytes() for p in files)


@both
@pytest.mark.parametrize("status", [400, 401])
@pytest.mark.parametrize("padding", [0, 262], ids=["whole", "cut"])  # cut: one_line() ends the text 10 characters into the key
async def test_an_api_key_echoed_by_the_server_is_masked_in_errors_and_the_database(tmp_path, env, provider, status, padding):
    from rel_core.loop import LoopEngine
    from rel_core.models import Problem

    key, spec = KEYS[provider], SPECS[provider]
    env.respond_with(echo_the_key(status, padding))
    db = tmp_path / "rel.db"
    settings = Settings(generator=spec, critic=spec, openai=fast(), anthropic=fast())
    with Store(db) as store:
        problem_id, _ = store.add_problem(Problem(text="What is 6 x 7?", reference_answer="42"))
        async with LLMClient(settings, store) as client:
            error = await failure(client, ask(spec))
            engine = LoopEngine(store, client, settings)
            try:
                if error.fatal:
                    with pytest.raises(ProviderError) as caught:
                        await engine.run_problem(problem_id)
                    problem_error = str(caught.value)
                else:
                    assert await engine.run_problem(problem_id) == "errored"
                    problem_error = store.get_problem(problem_id).state_detail
            finally:
                engine.close()
        stored = database_bytes(db)

    assert key in env.requests[0].headers.get("x-api-key", env.requests[0].headers.get("authorization", ""))
    for message in (str(error), problem_error):
        assert key not in message and key[:8] not in message, message
        assert ("***…" if padding else "*** (see the docs)") in message  # the echo reached us, masked
    assert problem_error in stored.decode("utf-8", "replace")  # the masked text is what was written
    assert key.encode() not in stored and key[:8].encode() not in stored
    # Nor in what a traceback of the error would print: the SDK error quoting the body is cut off.
    import traceback

    printed = "".join(traceback.format_exception(error))
    assert key not in printed and key[:8] not in printed
    after_close = b"".join(p.read_bytes() for p in tmp_path.glob("rel.db*"))
    assert key.encode() not in after_close and key[:8].encode() not in after_close


def test_keys_shorter_than_eight_characters_are_not_masked():
    from rel_core.providers.base import redact

    assert redact("the model said no", "no") == "the model said no"
    assert redact("key sk-1234567 refused", "sk-1234567") == "key *** refused"
    assert redact("key sk-12345…", "sk-1234567") == "key ***…"


@both
async def test_a_proxy_page_instead_of_json_is_one_line_server_error(client, store, env, provider):
    env.enqueue(Reply(raw_body="<html><body>Bad Gateway</body></html>", headers={"content-type": "text/html"}))
    error = await failure(client, ask(SPECS[provider]))
    assert error.kind == ErrorKind.SERVER
    assert "unexpected answer" in str(error) and "Bad Gateway" in str(error)
    [row] = calls(store)
    assert row["error"] == str(error)
