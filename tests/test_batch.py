"""`--auto --batch` in-process: the batch driver (rel_core/batch.py) with the real SDK batch clients
against the loopback server's OpenAI Batch and Anthropic Message Batches, on real SQLite files."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from llm_server import Reply
from loop_helpers import Script, critic_json, solution

from rel_core.batch import BatchRunner, BatchStopReason, open_batch_views
from rel_core.config import LoopSettings, ModelSettings, ProviderSettings, Settings
from rel_core.loop import LoopEngine
from rel_core.models import Problem, ProblemState
from rel_core.providers.base import ProviderError
from rel_core.providers.batches import BatchItem
from rel_core.providers.client import LLMClient
from rel_core.providers.pricing import batch_price_for, price_for
from rel_core.runner import Runner, StopReason
from rel_core.store import Store

GEN, CRITIC = "openai:gen", "anthropic:critic"  # both providers' batch APIs in every run


def make_settings(server, **loop) -> Settings:
    price = ModelSettings(input_per_million=1.0, output_per_million=2.0)
    return Settings(
        generator=GEN,
        critic=CRITIC,
        openai=ProviderSettings(base_url=server.openai_base_url, max_retries=1, timeout=10),
        anthropic=ProviderSettings(base_url=server.anthropic_base_url, max_retries=1, timeout=10),
        models={GEN: price, CRITIC: price},
        loop=LoopSettings(**{"critic_when_correct": True, **loop}),
    )


def add_problems(db, markers):
    with Store(db) as store:
        for marker in markers:
            store.add_problem(Problem(text=f"{marker} What is 6 x 7?", reference_answer="42", reference_solution="6 x 7 = 42"))


def mixed_script(markers) -> Script:
    """Right at once, right after one revision, right only in the final rewrite, and never right."""
    script = Script()
    for n, marker in enumerate(markers):
        kind = n % 4
        script.on(marker, "critic", critic_json("incorrect", 1, "Recount."), critic_json("correct"))
        if kind == 0:
            script.on(marker, "generate", solution("42"))
            script.on(marker, "critic", critic_json("correct"))
        elif kind == 1:
            script.on(marker, "generate", solution("41"))
            script.on(marker, "revise", solution("42"))
        elif kind == 2:
            script.on(marker, "generate", solution("40"))
            script.on(marker, "revise", solution("41"))
            script.on(marker, "final_rewrite", solution("42"))
            script.on(marker, "cleanup", solution("42", "clean"))
        else:
            script.on(marker, "generate", solution("40"))
            script.on(marker, "revise", solution("43"))
            script.on(marker, "final_rewrite", solution("44"))
    return script


def outcome(db) -> dict[str, tuple]:
    """Per problem marker: state, detail, and the kinds and final answers of its attempts, in order."""
    with Store(db) as store:
        result = {}
        for problem_id in store.iter_problem_ids():
            history = store.history(problem_id)
            marker = history.problem.text.split()[0]
            attempts = tuple((str(a.kind), a.final_answer, a.iteration) for a in history.attempts)
            verdicts = tuple((str(c.source), str(c.verdict)) for c in history.critiques)
            result[marker] = (str(history.problem.state), history.problem.state_detail, attempts, verdicts)
        return result


async def direct_run(db, server, **loop):
    settings = make_settings(server, **loop)
    with Store(db) as store:
        engine = LoopEngine(store, LLMClient(settings, store), settings)
        try:
            return await Runner(store, engine, settings).run()
        finally:
            engine.close()
            await engine.client.aclose()


async def batch_run(db, server, wait=True, observer=None, **loop):
    settings = make_settings(server, **loop)
    with Store(db) as store:
        client = LLMClient(settings, store)
        engine = LoopEngine(store, client, settings)
        runner = BatchRunner(store, client, engine, settings, wait=wait, poll_seconds=0.05, observer=observer)
        try:
            await runner.check_batch_api()
            return await runner.run()
        finally:
            engine.close()
            await client.aclose()


def calls(db) -> list[dict]:
    with Store(db) as store:
        return store.rows("select * from llm_calls order by id")


async def test_a_batch_run_ends_every_problem_as_a_direct_run_does(tmp_path, llm_env):
    markers = [f"[Q{i}]" for i in range(24)]
    direct_db, batch_db = tmp_path / "direct.db", tmp_path / "batch.db"
    add_problems(direct_db, markers)
    add_problems(batch_db, markers)
    llm_env.respond_with(mixed_script(markers))
    await direct_run(direct_db, llm_env, max_iterations=1, cleanup=True)
    direct_requests = len(llm_env.requests)

    llm_env.clear()
    llm_env.respond_with(mixed_script(markers))
    llm_env.batches.delay = 0.1
    stats = await batch_run(batch_db, llm_env, max_iterations=1, cleanup=True)

    assert outcome(batch_db) == outcome(direct_db)
    states = {state for state, *_ in outcome(batch_db).values()}
    assert states == {"awaiting_review", "failed"}
    # every LLM call went in a batch: none was sent directly, and each provider got its own batches
    assert not [r for r in llm_env.requests if r.path.endswith(("/chat/completions", "/messages"))]
    providers = {provider for provider, _ in llm_env.batches.submissions}
    assert providers == {"openai", "anthropic"}
    sent = [cid for _, ids in llm_env.batches.submissions for cid in ids]
    assert len(sent) == len(set(sent)) == stats.calls == direct_requests
    assert stats.stop_reason == StopReason.QUEUE_EMPTY and not open_batch_views(Store(batch_db))


async def test_batch_calls_are_metered_at_half_the_price(tmp_path, llm_env):
    add_problems(tmp_path / "b.db", ["[M]"])
    llm_env.respond_with(mixed_script(["[M]"]))
    await batch_run(tmp_path / "b.db", llm_env)
    rows = calls(tmp_path / "b.db")
    assert [r["purpose"] for r in rows] == ["generate", "critic"]
    for row in rows:
        assert json.loads(row["request"])["batch"] is True
        assert row["input_tokens"] and row["output_tokens"]
        # the configured 1.0 / 2.0 USD per million, halved
        assert row["cost_usd"] == pytest.approx((row["input_tokens"] * 0.5 + row["output_tokens"] * 1.0) / 1e6)


async def test_batch_calls_keep_the_prompt_cache_tokens_each_provider_reports(tmp_path, llm_env):
    add_problems(tmp_path / "b.db", ["[C]"])
    script = Script()
    script.on("[C]", "generate", Reply(solution("42"), cached_tokens=7))  # OpenAI: prompt_tokens_details
    script.on("[C]", "critic", Reply(critic_json("correct"), cached_tokens=5, cache_write_tokens=3))  # Anthropic
    llm_env.respond_with(script)
    await batch_run(tmp_path / "b.db", llm_env)
    rows = {r["purpose"]: r for r in calls(tmp_path / "b.db")}
    assert (rows["generate"]["cached_input_tokens"], rows["generate"]["cache_write_tokens"]) == (7, None)
    assert (rows["critic"]["cached_input_tokens"], rows["critic"]["cache_write_tokens"]) == (5, 3)
    # a price set in the config knows no cache discount (cached tokens at its input rate), halved for the batch
    for row in rows.values():
        assert row["cost_usd"] == pytest.approx((row["input_tokens"] * 0.5 + row["output_tokens"] * 1.0) / 1e6)


async def test_a_result_for_a_problem_that_moved_on_is_kept_in_llm_calls_only(tmp_path, llm_env):
    db = tmp_path / "b.db"
    add_problems(db, ["[O]"])
    llm_env.respond_with(Script().on("[O]", "generate", Reply(solution("42"), cached_tokens=4)))
    await batch_run(db, llm_env, wait=False)  # submitted, not collected
    with Store(db) as store:
        store.set_state(1, ProblemState.REJECTED)  # an expert decided it meanwhile
    await batch_run(db, llm_env)  # collects the result
    with Store(db) as store:
        assert store.history(1).attempts == [] and store.get_problem(1).state == ProblemState.REJECTED
    [row] = calls(db)
    assert json.loads(row["request"])["custom_id"] and row["response"] == solution("42")
    assert (row["cached_input_tokens"], row["tokens_estimated"]) == (4, 0)
    assert row["cost_usd"] == pytest.approx((row["input_tokens"] * 0.5 + row["output_tokens"] * 1.0) / 1e6)


def test_batch_price_is_the_tables_own_or_half_and_unknown_stays_unknown(llm_server):
    settings = Settings(generator="openai:gpt-4o-mini", critic="anthropic:claude-sonnet-4-5")
    standard = price_for("openai:gpt-4o-mini", settings, hosted=True)
    batch = batch_price_for("openai:gpt-4o-mini", settings, hosted=True)
    assert batch.input_per_million == standard.input_per_million / 2
    assert batch.output_per_million == standard.output_per_million / 2
    assert batch_price_for("openai:no-such-model", settings, hosted=True) is None
    assert batch_price_for("openai:gpt-4o-mini", settings, hosted=False) is None  # a local server: priced by the config only


async def test_an_errored_request_errors_its_problem_with_the_providers_message(tmp_path, llm_env):
    db = tmp_path / "b.db"
    add_problems(db, ["[OK]", "[BAD]"])
    script = mixed_script(["[OK]"])
    script.on("[BAD]", "generate", Reply.error(400, "max_tokens is too large for this model"))
    llm_env.respond_with(script)
    stats = await batch_run(db, llm_env)
    result = outcome(db)
    assert result["[OK]"][0] == "awaiting_review"
    state, detail, attempts, _ = result["[BAD]"]
    assert state == "errored" and attempts == ()
    assert "max_tokens is too large for this model" in detail and "\n" not in detail
    failed = [r for r in calls(db) if r["error"]]
    assert len(failed) == 1 and "max_tokens is too large" in failed[0]["error"]
    assert stats.errored == 1


async def test_an_expired_request_is_sent_again_in_the_next_round(tmp_path, llm_env):
    db = tmp_path / "b.db"
    add_problems(db, ["[E1]", "[E2]"])
    llm_env.respond_with(mixed_script(["[E1]", "[E2]"]))
    expired = []

    def expire_once(request):
        if "[E2]" in request.prompt and not expired:
            expired.append(request)
            return True
        return False

    llm_env.batches.expires = expire_once
    await batch_run(db, llm_env)
    assert expired
    assert {state for state, *_ in outcome(db).values()} == {"awaiting_review"}
    generations = [ids for _, ids in llm_env.batches.submissions if any("-generate-" in i for i in ids)]
    assert [len(ids) for ids in generations] == [2, 1]  # the expired one again, in the next round
    e2 = [i for ids in generations for i in ids if i.startswith("p2-")]
    assert len(e2) == 2 and e2[0] != e2[1]  # under a new custom_id
    with Store(db) as store:
        states = store.conn.execute(
            "select state from batch_requests where problem_id = 2 and step = 'generate' order by id"
        ).fetchall()
    assert [s for (s,) in states] == ["expired", "succeeded"]


async def test_a_batch_that_fails_validation_stops_the_run_with_one_line(tmp_path, llm_env):
    db = tmp_path / "b.db"
    add_problems(db, ["[V]"])
    llm_env.respond_with(mixed_script(["[V]"]))
    llm_env.batches.validation_error = "the file has an invalid line"
    stats = await batch_run(db, llm_env)
    assert stats.stop_reason == BatchStopReason.REFUSED
    assert "the file has an invalid line" in stats.stop_detail and "\n" not in stats.stop_detail
    with Store(db) as store:  # nothing lost: the problem is free for the next run
        assert store.get_problem(1).state in (ProblemState.PENDING, ProblemState.IN_PROGRESS)
        assert store.claimed_by(1) is None


async def test_a_server_without_batch_api_is_a_config_error(tmp_path, llm_env):
    llm_env.batches.enabled = False
    with pytest.raises(ProviderError) as raised:
        await batch_run(tmp_path / "b.db", llm_env)
    assert raised.value.fatal and "has no batch API" in str(raised.value)


async def test_problems_in_a_live_batch_are_held_and_a_direct_runner_leaves_them(tmp_path, llm_env):
    db = tmp_path / "b.db"
    add_problems(db, ["[H1]", "[H2]"])
    llm_env.respond_with(mixed_script(["[H1]", "[H2]"]))
    llm_env.batches.delay = 3600
    stats = await batch_run(db, llm_env, wait=False)
    assert stats.stop_reason == BatchStopReason.SUBMITTED
    with Store(db) as store:
        views = open_batch_views(store)
        assert [(v.model, v.requests, v.state) for v in views] == [(GEN, 2, "submitted")]
        assert store.claim_label(1) == f"batch {GEN} #{views[0].id}"
        assert store.count_claimable([ProblemState.PENDING, ProblemState.IN_PROGRESS]) == 0
    direct = await direct_run(db, llm_env, lease_seconds=0.5)
    assert direct.done == 0 and direct.held_by_others == 2
    assert not [r for r in llm_env.requests if r.path.endswith("/chat/completions")]


@pytest.mark.parametrize("generator", ["openai:gen", "anthropic:gen"])
async def test_a_batch_killed_between_submission_and_its_id_being_written_is_found_not_resent(tmp_path, llm_env, generator):
    db = tmp_path / "b.db"
    add_problems(db, ["[S1]", "[S2]", "[S3]"])
    llm_env.respond_with(mixed_script(["[S1]", "[S2]", "[S3]"]))
    settings = make_settings(llm_env).model_copy(update={"generator": generator})
    with Store(db) as store:
        client = LLMClient(settings, store)
        engine = LoopEngine(store, client, settings)
        runner = BatchRunner(store, client, engine, settings)
        try:
            chunk = runner._split(generator, await runner._plan_round())[0]
            batches = runner._client(generator)
            batch_id, kept = runner.ledger.record(generator, batches.provider, batches.base_url, chunk, runner.planner.owner)
            items = [BatchItem(custom_id, call.request) for custom_id, call in kept]
            await batches.submit(items, f"rel-{batch_id}", lambda file_id: runner.ledger.set_file(batch_id, file_id))
            # the run dies here: the provider has the batch, the database only says "submitting"
            long_ago = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
            store.conn.execute("update batches set updated_at = ? where id = ?", [long_ago, batch_id])
            store.release_all(runner.planner)
        finally:
            engine.close()
            await client.aclose()
    settings_file = settings  # the next run, same settings
    with Store(db) as store:
        client = LLMClient(settings_file, store)
        engine = LoopEngine(store, client, settings_file)
        try:
            await BatchRunner(store, client, engine, settings_file, poll_seconds=0.05).run()
        finally:
            engine.close()
            await client.aclose()
    assert {state for state, *_ in outcome(db).values()} == {"awaiting_review"}
    generations = [ids for _, ids in llm_env.batches.submissions if any("-generate-" in i for i in ids)]
    assert len(generations) == 1  # adopted and collected, not sent again


@pytest.mark.parametrize("terminal", [False, True])
async def test_the_progress_display_shows_each_batch_its_state_and_request_counts(tmp_path, llm_env, terminal):
    from rich.console import Console

    from rel_tui.commands.auto import BatchBarObserver, BatchLineObserver

    db = tmp_path / "b.db"
    add_problems(db, ["[D1]", "[D2]"])
    llm_env.respond_with(mixed_script(["[D1]", "[D2]"]))
    llm_env.batches.delay = 0.3
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=150, color_system=None)
    observer = BatchBarObserver(console) if terminal else BatchLineObserver(console)
    await batch_run(db, llm_env, observer=observer)
    text = out.getvalue()
    if terminal:
        assert "#1 openai:gen" in text and "#2 anthropic:critic" in text and "in_progress" in text
    else:
        lines = text.splitlines()
        assert lines[0] == "rel-tui --auto --batch: 2 problems to work"
        assert any(
            line.startswith("batch #1 openai:gen batch_") and line.endswith(": in_progress, 0/2 requests done") for line in lines
        )
        assert any(line.startswith("batch #2 anthropic:critic msgbatch_") for line in lines)
        assert any(line.startswith("batch #1 openai:gen batch_") and line.endswith(": collected (2 succeeded)") for line in lines)


async def test_a_cancelled_batch_is_sent_again_in_the_next_round(tmp_path, llm_env):
    db = tmp_path / "b.db"
    add_problems(db, ["[C1]", "[C2]"])
    llm_env.respond_with(mixed_script(["[C1]", "[C2]"]))
    llm_env.batches.delay = 3600
    await batch_run(db, llm_env, wait=False)
    (first,) = llm_env.batches.live()
    llm_env.batches._cancel(first)  # cancelled at the provider (by someone, in its console)
    llm_env.batches.delay = 0.05
    await batch_run(db, llm_env)
    assert {state for state, *_ in outcome(db).values()} == {"awaiting_review"}
    generations = [ids for _, ids in llm_env.batches.submissions if any("-generate-" in i for i in ids)]
    assert [len(ids) for ids in generations] == [2, 2] and not set(generations[0]) & set(generations[1])
    with Store(db) as store:
        states = store.conn.execute("select state from batch_requests where step = 'generate' order by id").fetchall()
    assert [s for (s,) in states] == ["canceled", "canceled", "succeeded", "succeeded"]


async def test_a_round_is_split_at_the_providers_request_limit(tmp_path, llm_env, monkeypatch):
    from rel_core.providers import batches

    monkeypatch.setattr(batches.OpenAIBatches, "limits", batches.Limits(max_requests=5, max_bytes=10**9))
    monkeypatch.setattr(batches.AnthropicBatches, "limits", batches.Limits(max_requests=100, max_bytes=3000))
    markers = [f"[L{i}]" for i in range(12)]
    db = tmp_path / "b.db"
    add_problems(db, markers)
    llm_env.respond_with(mixed_script(markers))
    await batch_run(db, llm_env)
    sizes = [(provider, len(ids)) for provider, ids in llm_env.batches.submissions]
    assert sizes[:3] == [("openai", 5), ("openai", 5), ("openai", 2)]
    critic_batches = [b for b in llm_env.batches.all.values() if b.provider == "anthropic"]
    assert len(critic_batches[0].requests) < 12  # the first round's 12 critiques do not fit in 3,000 bytes
    for batch in critic_batches:
        entries = [{"custom_id": cid, "params": params} for cid, params in batch.requests]
        assert sum(len((json.dumps(e, ensure_ascii=False) + ",").encode()) for e in entries) <= 3000
    assert {state for state, *_ in outcome(db).values()} <= {"awaiting_review", "failed"}


def test_m008_adds_the_batch_tables_to_a_database_that_holds_data(tmp_path):
    import sqlite_utils

    from rel_core import migrations

    db = tmp_path / "old.db"
    add_problems(db, ["[OLD]"])
    conn = sqlite_utils.Database(db)
    conn.execute("drop table batch_requests")
    conn.execute("drop table batches")
    conn.execute("delete from _migrations where name = 'm008_batches'")
    conn.conn.commit()
    with Store(db) as store:
        assert store.count_problems() == 1
        assert {"batches", "batch_requests"} <= set(store.db.table_names())
        columns = store.db["batch_requests"].columns_dict
        assert {"custom_id": str, "problem_id": int, "step": str, "attempt_id": int, "state": str}.items() <= columns.items()
        foreign = {(fk.column, fk.other_table) for fk in store.db["batch_requests"].foreign_keys}
        assert foreign == {("batch_id", "batches"), ("problem_id", "problems"), ("llm_call_id", "llm_calls")}
        assert "m008_batches" in migrations.applied(store.db)
