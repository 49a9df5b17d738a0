"""The headless runner: concurrency, leases, limits, budgets, errors and signals, on the loopback server."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
from collections import Counter

import pytest
from db_lock import database_held
from llm_server import Reply
from loop_helpers import Script, critic_json, solution
from test_loop import make_settings

from rel_core.loop import LoopEngine
from rel_core.models import AttemptKind, Problem, ProblemState, utcnow
from rel_core.providers.client import LLMClient
from rel_core.runner import Runner, RunObserver, StopReason
from rel_core.store import Store


@pytest.fixture
def db(tmp_path):
    return tmp_path / "rel.db"


@pytest.fixture
def script(llm_env):
    script = Script()
    llm_env.respond_with(script)
    return script


class Recorder(RunObserver):
    def __init__(self):
        self.finished = []
        self.started = None

    def on_start(self, stats):
        self.started = stats.total

    def on_problem_done(self, outcome, stats):
        self.finished.append(outcome)


def add_problems(db, markers, answer="42"):
    with Store(db) as store:
        return [
            store.add_problem(Problem(text=f"{m} What is 6 x 7?", reference_answer=answer, reference_solution="6 x 7 = 42"))[0]
            for m in markers
        ]


def right_first_time(script, *markers):
    for marker in markers:
        script.on(marker, "generate", solution("42"))


async def run(db, server, store=None, observer=None, handle_signals=False, **options):
    loop_options = {
        k: options.pop(k) for k in list(options) if k in ("concurrency", "max_iterations", "lease_seconds", "budget_usd")
    }
    settings = make_settings(server, **loop_options)
    own_store = store is None
    store = store or Store(db)
    engine = LoopEngine(store, LLMClient(settings, store), settings)
    try:
        runner = Runner(store, engine, settings, observer=observer, **options)
        return await runner.run(handle_signals=handle_signals), runner
    finally:
        engine.close()
        await engine.client.aclose()
        if own_store:
            store.close()


def states(db):
    with Store(db) as store:
        return {p: store.get_problem(p).state for p in store.iter_problem_ids()}


async def test_works_a_mixed_queue_concurrently_and_goes_on_after_an_error(db, llm_server, script):
    ids = add_problems(db, ["[A]", "[B]", "[C]", "[D]"])
    right_first_time(script, "[A]")
    script.on("[B]", "generate", solution("41")).on("[B]", "critic", critic_json("incorrect", 1, "x")).on(
        "[B]", "revise", solution("42")
    )
    script.on("[C]", "generate", solution("40")).on("[C]", "critic", critic_json("incorrect", 1, "x"))
    script.on("[C]", "revise", solution("40")).on("[C]", "final_rewrite", solution("40"))
    script.on("[D]", "generate", Reply.error(400, "Invalid 'messages': malformed"))
    llm_server.latency = 0.05
    recorder = Recorder()
    stats, _ = await run(db, llm_server, observer=recorder, concurrency=4, max_iterations=1)

    assert states(db) == dict(
        zip(
            ids,
            [ProblemState.AWAITING_REVIEW, ProblemState.AWAITING_REVIEW, ProblemState.FAILED, ProblemState.ERRORED],
            strict=True,
        )
    )
    assert (stats.total, stats.done, stats.verified, stats.failed, stats.errored) == (4, 4, 2, 1, 1)
    assert stats.stop_reason == StopReason.QUEUE_EMPTY
    assert recorder.started == 4 and sorted(o.problem_id for o in recorder.finished) == ids
    assert stats.calls == 1 + 3 + 6 and stats.input_tokens > 0 and stats.cost_usd > 0
    errored = next(o for o in recorder.finished if o.problem_id == ids[3])
    assert "400" in errored.detail or "malformed" in errored.detail
    with Store(db) as store:
        assert all(store.claimed_by(p) is None for p in ids)


async def test_limit_stops_new_work(db, llm_server, script):
    ids = add_problems(db, ["[L1]", "[L2]", "[L3]", "[L4]"])
    right_first_time(script, "[L1]", "[L2]", "[L3]", "[L4]")
    stats, _ = await run(db, llm_server, limit=2, concurrency=1)
    assert stats.stop_reason == StopReason.LIMIT and stats.done == 2 and stats.total == 2
    assert list(states(db).values()) == [ProblemState.AWAITING_REVIEW] * 2 + [ProblemState.PENDING] * 2
    assert len(ids) == 4


async def test_budget_stops_new_work_and_finishes_what_is_in_flight(db, llm_server, script):
    add_problems(db, ["[M1]", "[M2]", "[M3]"])
    # 10,000 output tokens at $2/M = $0.02 a call.
    for marker in ("[M1]", "[M2]", "[M3]"):
        script.on(marker, "generate", Reply(solution("42"), input_tokens=0, output_tokens=10_000))
    stats, _ = await run(db, llm_server, budget_usd=0.03, concurrency=1)
    assert stats.stop_reason == StopReason.BUDGET
    assert stats.done == 2 and stats.cost_usd == pytest.approx(0.04)
    assert Counter(states(db).values()) == {ProblemState.AWAITING_REVIEW: 2, ProblemState.PENDING: 1}


async def test_fatal_error_stops_the_run_and_leaves_the_queue_pending(db, llm_server, script):
    add_problems(db, ["[X1]", "[X2]", "[X3]"])
    for marker in ("[X1]", "[X2]", "[X3]"):
        script.on(marker, "generate", Reply.insufficient_quota())
    stats, _ = await run(db, llm_server, concurrency=1)
    assert stats.stop_reason == StopReason.FATAL and "quota" in stats.stop_detail.lower()
    assert set(states(db).values()) == {ProblemState.PENDING}
    assert len(llm_server.requests) == 1  # quota errors are never retried, and nothing else was started


async def test_retry_errored_picks_errored_problems_up_once(db, llm_server, script):
    [problem_id] = add_problems(db, ["[Y1]"])
    script.on("[Y1]", "generate", Reply.error(400, "bad request"))
    await run(db, llm_server)
    assert states(db)[problem_id] == ProblemState.ERRORED
    stats, _ = await run(db, llm_server)
    assert stats.total == 0 and len(llm_server.requests) == 1  # not retried without the flag

    stats, _ = await run(db, llm_server, retry_errored=True)
    assert stats.errored == 1 and len(llm_server.requests) == 2  # tried again once, errored again
    right_first_time(script, "[Y1]")
    stats, _ = await run(db, llm_server, retry_errored=True)
    assert states(db)[problem_id] == ProblemState.AWAITING_REVIEW


async def test_two_runners_on_one_database_never_share_a_problem(db, llm_server, script):
    markers = [f"[T{i}]" for i in range(16)]
    add_problems(db, markers)
    for marker in markers:
        script.on(marker, "generate", solution("41")).on(marker, "critic", critic_json("incorrect", 1, "x"))
        script.on(marker, "revise", solution("42"))
    llm_server.latency = 0.03
    with Store(db) as first, Store(db) as second:
        (stats_a, runner_a), (stats_b, runner_b) = await asyncio.gather(
            run(db, llm_server, store=first, concurrency=3), run(db, llm_server, store=second, concurrency=3)
        )
    assert runner_a.owner != runner_b.owner
    assert stats_a.done > 0 and stats_b.done > 0 and stats_a.done + stats_b.done == 16
    assert set(states(db).values()) == {ProblemState.AWAITING_REVIEW}
    steps = Counter(script.seen)
    assert all(steps[(m, step)] == 1 for m in markers for step in ("generate", "critic", "revise"))
    with Store(db) as store:
        for problem_id in store.iter_problem_ids():
            kinds = [a.kind for a in store.history(problem_id).attempts]
            assert kinds == [AttemptKind.GENERATED, AttemptKind.REVISED]


async def test_a_live_claim_is_respected_and_an_expired_one_taken_over(db, llm_server, script):
    live, expired = add_problems(db, ["[K1]", "[K2]"])
    right_first_time(script, "[K1]", "[K2]")
    with Store(db) as store:
        assert store.claim(live, "expert:ana", ttl_seconds=0.6)
        assert store.claim(expired, "dead-runner", ttl_seconds=-1)
    stats, _ = await run(db, llm_server, lease_seconds=2)
    # The expired claim is taken at once; the live one is waited for, then worked once it expires.
    assert stats.done == 2 and set(states(db).values()) == {ProblemState.AWAITING_REVIEW}
    assert script.seen == [("[K2]", "generate"), ("[K1]", "generate")]


async def test_sigint_abandons_calls_in_flight_and_a_rerun_resumes(db, llm_server, script):
    ids = add_problems(db, ["[S1]", "[S2]"])
    for marker in ("[S1]", "[S2]"):
        script.on(marker, "generate", solution("41")).on(marker, "critic", Reply(critic_json("incorrect", 1, "x"), delay=30))
        script.on(marker, "revise", solution("42"))

    async def interrupt_when_both_wait_for_the_critic():
        while Counter(step for _, step in script.seen)["critic"] < 2:
            await asyncio.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    poke = asyncio.create_task(interrupt_when_both_wait_for_the_critic())
    stats, _ = await asyncio.wait_for(run(db, llm_server, concurrency=2, handle_signals=True), 20)
    await poke
    assert stats.stop_reason == StopReason.INTERRUPTED and stats.abandoned == 2
    with Store(db) as store:
        assert all(store.claimed_by(p) is None for p in ids)
        assert all(store.get_problem(p).state == ProblemState.IN_PROGRESS for p in ids)
        assert all(len(store.history(p).attempts) == 1 for p in ids)

    for marker in ("[S1]", "[S2]"):
        script.on(marker, "critic", critic_json("incorrect", 1, "x"))
    stats, _ = await run(db, llm_server, concurrency=2)
    assert stats.verified == 2
    steps = Counter(script.seen)
    assert steps[("[S1]", "generate")] == 1 and steps[("[S2]", "generate")] == 1


async def test_a_claim_taken_over_mid_call_is_abandoned_without_writing(db, llm_server, script):
    [problem_id] = add_problems(db, ["[Z1]"])
    script.on("[Z1]", "generate", Reply(solution("42"), delay=1.0))

    async def steal_when_asked():
        while not script.seen:
            await asyncio.sleep(0.01)
        with Store(db) as other:  # what a confused runner with an hour-long lease might do
            other.conn.execute("update problems set claimed_by = 'thief', claim_expires = '9999' where id = ?", [problem_id])

    thief = asyncio.create_task(steal_when_asked())
    recorder = Recorder()
    stats, _ = await run(db, llm_server, observer=recorder, lease_seconds=0.6)
    await thief
    # Abandoned without a write; then, with the thief's claim alive past our lease, the run ends.
    assert stats.abandoned == 1 and stats.done == 0
    assert [o.state for o in recorder.finished] == [None]
    with Store(db) as store:
        assert store.history(problem_id).attempts == []
        assert store.conn.execute("select claimed_by from problems where id = ?", [problem_id]).fetchone()[0] == "thief"


# -- internal errors and failed lease renewals -------------------------------------------------------


def corrupt_tags(db, problem_ids):
    """Tags written by another tool as plain text, not the JSON list the store reads back: reading the
    problem raises (JSONDecodeError) as the loop starts on it, an error that is no provider's."""
    with Store(db) as store:
        for problem_id in problem_ids:
            store.conn.execute("update problems set tags = 'algebra, geometry' where id = ?", [problem_id])


def raw_states(db):
    """States read straight from the table (Store.get_problem cannot read the corrupted rows either)."""
    with sqlite3.connect(db) as conn:
        return {i: ProblemState(s) for i, s in conn.execute("select id, state from problems order by id")}


async def test_an_internal_error_errors_its_problem_in_one_line_and_the_run_goes_on(db, llm_server, script, caplog):
    ids = add_problems(db, ["[I1]", "[I2]", "[I3]", "[I4]"])
    right_first_time(script, "[I1]", "[I3]")
    corrupt_tags(db, [ids[1], ids[3]])
    caplog.set_level(logging.WARNING)
    recorder = Recorder()
    stats, _ = await run(db, llm_server, observer=recorder, concurrency=1)

    assert stats.stop_reason == StopReason.QUEUE_EMPTY
    assert (stats.done, stats.verified, stats.errored) == (4, 2, 2)
    assert list(raw_states(db).values()) == [ProblemState.AWAITING_REVIEW, ProblemState.ERRORED] * 2
    for outcome in (o for o in recorder.finished if o.problem_id in (ids[1], ids[3])):
        assert outcome.detail.startswith("internal error: JSONDecodeError: ") and "\n" not in outcome.detail
    with Store(db) as store:
        assert store.get_problem(ids[0]).state_detail is None
        assert all(store.claimed_by(p) is None for p in ids)
        details = [row[0] for row in store.conn.execute("select state_detail from problems where id in (?, ?)", [ids[1], ids[3]])]
    assert all(d.startswith("internal error: JSONDecodeError: ") for d in details)
    # Nothing at warning level or above carries a traceback (--auto prints those through logging's last resort).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.exc_info] == []


async def test_the_same_internal_error_on_five_problems_in_a_row_stops_the_run(db, llm_server, script):
    ids = add_problems(db, [f"[J{i}]" for i in range(12)])
    corrupt_tags(db, ids)
    stats, _runner = await run(db, llm_server, concurrency=3)

    assert stats.stop_reason == StopReason.INTERNAL
    assert "5 problems in a row" in stats.stop_detail and "JSONDecodeError" in stats.stop_detail
    assert "\n" not in stats.stop_detail
    # Exactly five are marked errored; those in flight when it stopped are left for the next run.
    assert stats.errored == 5
    assert Counter(raw_states(db).values()) == {ProblemState.ERRORED: 5, ProblemState.PENDING: 7}
    with Store(db) as store:
        assert all(store.claimed_by(p) is None for p in ids)
    assert len(llm_server.requests) == 0


async def test_only_an_unbroken_run_of_the_same_internal_error_stops_the_run(db, llm_server, script):
    markers = [f"[R{i}]" for i in range(9)]
    ids = add_problems(db, markers)
    right_first_time(script, markers[4])
    corrupt_tags(db, ids[:4] + ids[5:])  # four, one that works, four
    stats, _ = await run(db, llm_server, concurrency=1)
    assert stats.stop_reason == StopReason.QUEUE_EMPTY
    assert (stats.done, stats.verified, stats.errored) == (9, 1, 8)


async def test_a_failed_lease_renewal_is_logged_in_one_line_and_retried_on_the_next_tick(db, llm_server, script, caplog):
    [problem_id] = add_problems(db, ["[W1]"])
    script.on("[W1]", "generate", Reply(solution("42"), delay=2.5))
    caplog.set_level(logging.WARNING, logger="rel_core.runner")
    claim_live_after_the_lock: list[bool] = []

    async def lock_the_database_for_longer_than_a_lease():
        while not script.seen:  # the problem is claimed and its call is in flight
            await asyncio.sleep(0.01)
        locker = database_held(db)  # another process writing: our renewals get "database is locked"
        await asyncio.sleep(0.8)
        locker.release()
        await asyncio.sleep(0.8)
        with sqlite3.connect(db) as reader:
            [expires] = reader.execute("select claim_expires from problems where id = ?", [problem_id]).fetchone()
        claim_live_after_the_lock.append(expires > utcnow())

    with Store(db, busy_timeout=0.05) as store:
        locker = asyncio.create_task(lock_the_database_for_longer_than_a_lease())
        stats, _ = await run(db, llm_server, store=store, lease_seconds=0.6)
        await locker

    assert claim_live_after_the_lock == [True], "renewals did not resume once the database was free"
    assert stats.verified == 1 and states(db)[problem_id] == ProblemState.AWAITING_REVIEW
    failures = [r for r in caplog.records if "lease renewal failed" in r.getMessage()]
    assert failures, "a failed renewal must be logged"
    assert all("database is locked" in r.getMessage() and "\n" not in r.getMessage() and not r.exc_info for r in failures)
