"""Prompt caching: one identical prefix per role over a problem's calls, Anthropic cache_control on it
when it is long enough, and cached input tokens read from both providers' usage (plain and streamed,
through the real SDKs against the loopback server), stored per call, priced and shown by `status`."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner
from llm_server import Reply
from loop_helpers import Script, critic_json, solution, step_of

from rel_core.config import LoopSettings, ModelSettings, ProviderSettings, Settings
from rel_core.loop import LoopEngine
from rel_core.models import Problem, ProblemState
from rel_core.providers.anthropic_provider import min_cacheable_tokens
from rel_core.providers.base import ChatMessage, CompletionRequest
from rel_core.providers.client import LLMClient
from rel_core.providers.pricing import cost_usd, recorded_spend
from rel_core.store import Store

PRICE = ModelSettings(input_per_million=1.0, output_per_million=2.0)
GENERATOR_STEPS = ("generate", "revise", "final_rewrite", "cleanup")
REFERENCE = "Use the identity: six sevens are forty-two."


def settings_for(server, generator: str, critic: str, **loop) -> Settings:
    return Settings(
        generator=generator,
        critic=critic,
        openai=ProviderSettings(base_url=server.openai_base_url, max_retries=0, timeout=10),
        anthropic=ProviderSettings(base_url=server.anthropic_base_url, max_retries=0, timeout=10),
        models={generator: PRICE, critic: PRICE},
        loop=LoopSettings(**loop),
    )


def never_right_script(marker: str) -> Script:
    """Wrong until the final rewrite, which is right: every step of the loop is called."""
    return (
        Script()
        .on(marker, "generate", solution("40"))
        .on(marker, "critic", critic_json("incorrect", 1, "Check the product."))
        .on(marker, "revise", solution("41"), solution("43"))
        .on(marker, "final_rewrite", solution("42"))
        .on(marker, "cleanup", solution("42", "cleaned"))
    )


async def run_loop(store, llm_env, generator: str, critic: str, text: str) -> list:
    marker = text.split()[0]
    llm_env.respond_with(never_right_script(marker))
    problem_id, _ = store.add_problem(Problem(text=text, reference_answer="42", reference_solution=REFERENCE))
    settings = settings_for(llm_env, generator, critic, max_iterations=2, cleanup=True)
    engine = LoopEngine(store, LLMClient(settings, store), settings)
    try:
        assert await engine.run_problem(problem_id) == ProblemState.AWAITING_REVIEW
    finally:
        engine.close()
        await engine.client.aclose()
    return llm_env.requests


def first_message(request) -> str:
    """What a request starts with, as sent: the system message (OpenAI) or `system` (Anthropic)."""
    if request.protocol == "anthropic":
        return json.dumps(request.body["system"])
    assert request.messages[0]["role"] == "system"
    return json.dumps(request.messages[0])


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_problems_calls_start_with_one_identical_prefix_per_role(store, llm_env, provider):
    requests = await run_loop(store, llm_env, f"{provider}:gen", f"{provider}:critic", "[C1] What is 6 x 7?")
    steps = [step_of(r) for r in requests]
    assert steps == ["generate", "critic", "revise", "critic", "revise", "critic", "final_rewrite", "cleanup"]
    generator = [r for r in requests if step_of(r) in GENERATOR_STEPS]
    critic = [r for r in requests if step_of(r) == "critic"]
    # Each role's calls begin with the same bytes: the part a provider's prompt cache can reuse.
    assert len({first_message(r) for r in generator}) == 1
    assert len({first_message(r) for r in critic}) == 1
    assert "[C1] What is 6 x 7?" in generator[0].system and "[C1] What is 6 x 7?" in critic[0].system
    # The reference is in the critic's prefix, never in the generator's (only the final rewrite's own text).
    assert REFERENCE in critic[0].system and REFERENCE not in generator[0].system
    assert [REFERENCE in r.prompt for r in generator] == [False, False, False, True, False]
    # What varies (the attempt being judged or continued) comes after the prefix.
    assert "<ANSWER>41</ANSWER>" in critic[1].prompt and "<ANSWER>41</ANSWER>" not in critic[1].system


async def test_anthropic_marks_a_long_enough_prefix_for_the_cache_and_a_short_one_not(store, llm_env):
    long_problem = "[C2] " + "A long statement of the problem with many conditions. " * 120
    assert len(long_problem) // 4 > min_cacheable_tokens("gen")
    requests = await run_loop(store, llm_env, "anthropic:gen", "anthropic:critic", long_problem)
    systems = [r.body["system"] for r in requests]
    assert all(isinstance(s, list) and s[0]["cache_control"] == {"type": "ephemeral"} for s in systems)
    assert all(s[0]["text"].count("A long statement") == 120 for s in systems)

    llm_env.clear()
    short = await run_loop(store, llm_env, "anthropic:gen", "anthropic:critic", "[C3] What is 6 x 7?")
    assert all(isinstance(r.body["system"], str) for r in short)


def test_the_minimum_cacheable_length_follows_the_model():
    assert min_cacheable_tokens("claude-sonnet-4-5-20250929") == 1024
    assert min_cacheable_tokens("claude-opus-4-5") == 4096
    assert min_cacheable_tokens("claude-haiku-4-5-20251001") == 4096
    assert min_cacheable_tokens("claude-3-haiku-20240307") == 2048


# -- usage as the providers report it --------------------------------------------------------------
# Recorded shapes: OpenAI counts cached tokens inside prompt_tokens (prompt_tokens_details.cached_tokens);
# Anthropic reports input_tokens for the uncached part only, with cache reads and writes beside it.

OPENAI_CACHED = Reply(text="hi", input_tokens=2006, output_tokens=300, cached_tokens=1920)
ANTHROPIC_WRITE = Reply(text="hi", input_tokens=21, output_tokens=393, cache_write_tokens=188086, cached_tokens=0)
ANTHROPIC_READ = Reply(text="hi", input_tokens=21, output_tokens=393, cache_write_tokens=0, cached_tokens=188086)


async def one_call(llm_env, store, spec: str, reply: Reply, stream: bool):
    llm_env.enqueue(reply)
    settings = settings_for(llm_env, spec, spec)
    async with LLMClient(settings, store) as client:
        request = CompletionRequest(model=spec, system="stable prefix", messages=[ChatMessage(role="user", content="q")])
        return await client.complete(request, on_delta=(lambda _delta: None) if stream else None)


def stored_usage(store, call_id: int) -> tuple:
    return store.conn.execute(
        "select input_tokens, cached_input_tokens, cache_write_tokens, cost_usd from llm_calls where id = ?", [call_id]
    ).fetchone()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_openai_cached_tokens_are_read_and_stored(store, llm_env, stream):
    completion = await one_call(llm_env, store, "openai:gpt-4o-mini", OPENAI_CACHED, stream)
    assert llm_env.requests[-1].stream is stream
    assert (completion.input_tokens, completion.cached_input_tokens, completion.cache_write_tokens) == (2006, 1920, None)
    # A config price knows no cache discount: every input token at its input price.
    assert stored_usage(store, completion.llm_call_id) == (2006, 1920, None, pytest.approx((2006 * 1.0 + 300 * 2.0) / 1e6))


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize(
    ("reply", "read", "written"), [(ANTHROPIC_WRITE, 0, 188086), (ANTHROPIC_READ, 188086, 0)], ids=["write", "read"]
)
async def test_anthropic_cache_reads_and_writes_are_read_and_stored(store, llm_env, stream, reply, read, written):
    completion = await one_call(llm_env, store, "anthropic:claude-loopback", reply, stream)
    assert llm_env.requests[-1].stream is stream
    # input_tokens counts every prompt token, as OpenAI's does; the cache's share is named apart.
    assert (completion.input_tokens, completion.cached_input_tokens, completion.cache_write_tokens) == (
        21 + 188086,
        read,
        written,
    )
    assert stored_usage(store, completion.llm_call_id)[:3] == (21 + 188086, read, written)


async def test_usage_without_cache_fields_stays_null(store, llm_env):
    completion = await one_call(
        llm_env, store, "anthropic:claude-loopback", Reply(text="hi", input_tokens=50, output_tokens=5), True
    )
    assert (completion.input_tokens, completion.cached_input_tokens, completion.cache_write_tokens) == (50, None, None)
    completion = await one_call(llm_env, store, "openai:gpt-4o-mini", Reply(text="hi", input_tokens=50, output_tokens=5), False)
    assert (completion.input_tokens, completion.cached_input_tokens) == (50, None)


# -- prices ------------------------------------------------------------------------------------------


def test_cached_tokens_are_priced_at_the_cached_rates():
    settings = Settings()
    # gpt-4o-mini: input 0.15, cached input 0.075, output 0.60 per million.
    openai_cost = cost_usd("openai:gpt-4o-mini", settings, 2006, 300, hosted=True, cached_input_tokens=1920)
    assert openai_cost == pytest.approx((86 * 0.15 + 1920 * 0.075 + 300 * 0.60) / 1e6)
    # claude-sonnet-4-5: input 3.00, cache write 3.75, cache read 0.30, output 15.00 per million.
    write = cost_usd(
        "anthropic:claude-sonnet-4-5", settings, 188107, 393, hosted=True, cache_write_tokens=188086, cached_input_tokens=0
    )
    read = cost_usd(
        "anthropic:claude-sonnet-4-5", settings, 188107, 393, hosted=True, cache_write_tokens=0, cached_input_tokens=188086
    )
    assert write == pytest.approx((21 * 3.0 + 188086 * 3.75 + 393 * 15.0) / 1e6)
    assert read == pytest.approx((21 * 3.0 + 188086 * 0.30 + 393 * 15.0) / 1e6)
    assert read < write / 10
    uncached = cost_usd("openai:gpt-4o-mini", settings, 2006, 300, hosted=True)
    assert uncached == pytest.approx((2006 * 0.15 + 300 * 0.60) / 1e6)


def test_an_unknown_cached_price_leaves_the_cost_unknown():
    settings = Settings()
    assert cost_usd("openai:gpt-4-turbo", settings, 2000, 10, hosted=True) is not None
    assert cost_usd("openai:gpt-4-turbo", settings, 2000, 10, hosted=True, cached_input_tokens=1024) is None
    assert cost_usd("openai:gpt-4-turbo", settings, 2000, 10, hosted=True, cached_input_tokens=0) is not None


# -- the store and `status` ----------------------------------------------------------------------------


def test_the_migration_adds_the_cache_columns(store):
    columns = {row[1] for row in store.conn.execute("pragma table_info(llm_calls)")}
    assert {"cached_input_tokens", "cache_write_tokens"} <= columns
    names = [row[0] for row in store.conn.execute("select name from _migrations")]
    assert "m007_cached_tokens" in names


async def test_status_shows_the_cached_input_tokens(tmp_path, llm_env):
    from rel_tui.cli import main

    db = tmp_path / "status.db"
    with Store(db) as store:
        await one_call(llm_env, store, "openai:gpt-4o-mini", OPENAI_CACHED, False)
        await one_call(llm_env, store, "anthropic:claude-loopback", ANTHROPIC_WRITE, False)
        spend = recorded_spend(store.conn)
    assert (spend.input_tokens, spend.cached_input_tokens, spend.cache_write_tokens) == (2006 + 188107, 1920, 188086)
    result = CliRunner().invoke(main, ["--db", str(db), "status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = {cells[1].strip(): cells[2].strip() for line in result.output.splitlines() if len(cells := line.split("│")) == 4}
    assert rows["cached input tokens"] == "1,920 (1% of input)"
    assert rows["cache write tokens"] == "188,086"


def test_status_reads_a_database_from_before_the_cache_columns(tmp_path):
    db = tmp_path / "old.db"
    with Store(db):
        pass
    conn = sqlite3.connect(db)
    conn.execute("alter table llm_calls drop column cached_input_tokens")
    conn.execute("alter table llm_calls drop column cache_write_tokens")
    spend = recorded_spend(conn)
    conn.close()
    assert spend.cached_input_tokens == 0 and spend.describe_cached() == "0"
