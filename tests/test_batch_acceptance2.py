"""Acceptance pass 2 findings on `--auto --batch`: `--limit N` works its N problems through every
round (§2); the "collect with" line repeats the options that keep a collecting run on the same
problems (§3); `status` tells problems worked now from problems that wait for a rerun (§10).
Real SDK batch clients against the loopback server's batch APIs, real SQLite files."""

from __future__ import annotations

import shlex
import signal
import time

from llm_server import Reply
from loop_helpers import Script, critic_json, solution
from test_batch import add_problems, make_settings, mixed_script, outcome
from test_batch_cli import environment, rel_tui, write_config

from rel_core import problem_marks
from rel_core.batch import BatchObserver, BatchRunner, open_batch_views
from rel_core.claims import ClaimHolder
from rel_core.loop import LoopEngine
from rel_core.models import ProblemState
from rel_core.providers.client import LLMClient
from rel_core.runner import StopReason
from rel_core.store import Store

FINISHED = ("awaiting_review", "failed")


async def limited_batch_run(db, server, limit, wait=True, observer=None, **loop):
    settings = make_settings(server, **loop)
    with Store(db) as store:
        client = LLMClient(settings, store)
        engine = LoopEngine(store, client, settings)
        runner = BatchRunner(store, client, engine, settings, wait=wait, poll_seconds=0.05, limit=limit, observer=observer)
        try:
            await runner.check_batch_api()
            return await runner.run()
        finally:
            engine.close()
            await client.aclose()


def states(db) -> dict[str, str]:
    return {marker: state for marker, (state, *_) in outcome(db).items()}


def worked(db) -> set[str]:
    """The markers of the problems that have any attempt."""
    return {marker for marker, (_, _, attempts, _) in outcome(db).items() if attempts}


async def test_a_limited_batch_run_takes_its_problems_through_every_round(tmp_path, llm_env):
    db = tmp_path / "b.db"
    markers = [f"[L{i}]" for i in range(6)]
    add_problems(db, markers)
    llm_env.respond_with(mixed_script(markers))

    stats = await limited_batch_run(db, llm_env, limit=4, max_iterations=1, cleanup=True)

    # the four kinds of mixed_script: right at once, after a revision, in the final rewrite, never
    assert states(db) == {
        "[L0]": "awaiting_review",
        "[L1]": "awaiting_review",
        "[L2]": "awaiting_review",
        "[L3]": "failed",
        "[L4]": "pending",
        "[L5]": "pending",
    }
    assert worked(db) == {"[L0]", "[L1]", "[L2]", "[L3]"}
    assert (stats.done, stats.total) == (4, 4)
    assert stats.stop_reason == StopReason.LIMIT
    assert len(llm_env.batches.submissions) > 2  # round after round, not one round per run


async def test_a_limited_run_collecting_a_live_batch_goes_on_with_its_problems_only(tmp_path, llm_env):
    db = tmp_path / "b.db"
    markers = [f"[C{i}]" for i in range(5)]
    add_problems(db, markers)
    llm_env.respond_with(mixed_script(markers))
    llm_env.batches.delay = 0.5  # still live when the collecting run plans its first round

    submitted = await limited_batch_run(db, llm_env, limit=2, wait=False, max_iterations=1)
    assert submitted.submitted_requests == 2
    llm_env.batches.delay = 0.05
    stats = await limited_batch_run(db, llm_env, limit=2, max_iterations=1)

    assert states(db) == {"[C0]": "awaiting_review", "[C1]": "awaiting_review", **dict.fromkeys(markers[2:], "pending")}
    assert worked(db) == {"[C0]", "[C1]"}
    assert stats.stop_reason == StopReason.LIMIT and (stats.done, stats.total) == (2, 2)


async def test_a_limited_run_collects_every_live_request_but_goes_on_only_with_its_share(tmp_path, llm_env):
    db = tmp_path / "b.db"
    markers = [f"[S{i}]" for i in range(3)]
    add_problems(db, markers)
    llm_env.respond_with(mixed_script(markers))
    llm_env.batches.delay = 0.3

    await limited_batch_run(db, llm_env, limit=None, wait=False, max_iterations=1)  # all three in one batch
    await limited_batch_run(db, llm_env, limit=1, max_iterations=1)

    assert not open_batch_views(Store(db))  # paid for: every result is collected and committed
    with Store(db) as store:
        assert all(len(store.history(p).attempts) == 1 for p in store.iter_problem_ids())
    assert states(db) == {"[S0]": "awaiting_review", "[S1]": "in_progress", "[S2]": "in_progress"}


def in_progress(db) -> int:
    with Store(db) as store:
        return store.counts()[ProblemState.IN_PROGRESS]


class MarksAfterFirstBatch(BatchObserver):
    """An expert marks a problem broken while the run is between rounds."""

    def __init__(self, db, problem_id):
        self.db, self.problem_id, self.marked = db, problem_id, False

    def on_line(self, line: str) -> None:
        if "collected" in line and not self.marked:
            self.marked = True
            with Store(self.db) as store:
                problem_marks.mark(store, self.problem_id, "carol", problem_marks.MarkKind.WRONG_REFERENCE)


async def test_a_limited_run_leaves_a_problem_marked_broken_between_rounds(tmp_path, llm_env):
    db = tmp_path / "b.db"
    markers = ["[M0]", "[M1]", "[M2]"]
    add_problems(db, markers)
    llm_env.respond_with(mixed_script(markers))

    stats = await limited_batch_run(db, llm_env, limit=2, max_iterations=1, observer=MarksAfterFirstBatch(db, 2))

    assert states(db) == {"[M0]": "awaiting_review", "[M1]": "in_progress", "[M2]": "pending"}
    with Store(db) as store:
        assert [str(a.kind) for a in store.history(2).attempts] == ["generated"]  # no step after the mark
    assert stats.stop_reason == StopReason.LIMIT


def run_cli(db, env, *args, timeout=120):
    process = rel_tui(db, env, *args)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def test_the_collect_line_repeats_the_limit_and_running_it_finishes_those_problems(tmp_path, llm_server):
    db = tmp_path / "my runs" / "k.db"  # a path the shell must quote
    db.parent.mkdir()
    markers = [f"[P{i}]" for i in range(6)]
    add_problems(db, markers)
    write_config(db.parent)
    llm_server.respond_with(mixed_script(markers))
    llm_server.batches.delay = 0.3
    env = environment(tmp_path, llm_server)

    code, _, err = run_cli(db, env, "--auto", "--batch", "--no-wait", "--limit", "2", "--budget", "5")
    assert code == 0, err
    [line] = [line for line in err.splitlines() if "collect with: " in line]
    assert line.startswith("1 batch in flight (2 requests); "), line
    command = shlex.split(line.split("collect with: ", 1)[1])
    assert command == ["rel-tui", "--db", str(db), "--auto", "--batch", "--limit", "2", "--budget", "5"]

    code, _, err = run_cli(db, env, *command[3:], "--poll-seconds", "0.1")  # the printed command, as pasted
    assert code == 0, err
    assert states(db) == {"[P0]": "awaiting_review", "[P1]": "awaiting_review", **dict.fromkeys(markers[2:], "pending")}
    assert worked(db) == {"[P0]", "[P1]"}
    assert "limit reached" in err and "2 of 2" in err


def status_rows(out: str) -> dict[str, str]:
    return {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines() if line.count("│") == 3}


def test_status_tells_problems_worked_now_from_those_waiting_for_a_rerun(tmp_path, llm_server):
    db = tmp_path / "s.db"
    markers = [f"[T{i}]" for i in range(5)]
    add_problems(db, markers)
    write_config(tmp_path)
    alive = ClaimHolder.this_process("auto")  # this test process: a run that is working
    dead = alive.model_copy(update={"owner": "auto-killed", "pid": 2**22 + 7})  # killed -9: its lease still runs
    with Store(db) as store:
        for problem_id in (1, 2, 3, 4):
            store.set_state(problem_id, ProblemState.IN_PROGRESS)
            store.claim(problem_id, alive, 600)
    llm_server.respond_with(mixed_script(markers))
    llm_server.batches.delay = 3600.0
    code, _, err = run_cli(db, environment(tmp_path, llm_server), "--auto", "--batch", "--no-wait")
    assert code == 0 and "1 batch in flight (1 request)" in err, err  # problem 5, held by its batch
    with Store(db) as store:
        store.release(1, alive), store.release(2, alive)  # as an interrupted run leaves them
        store.hand_over_claim(4, alive, dead, 600)

    code, out, err = run_cli(db, environment(tmp_path, llm_server), "status", timeout=60)

    assert code == 0, err
    rows = status_rows(out)
    assert rows["in_progress"] == "5"
    assert (rows["worked on now"], rows["in a batch"], rows["waiting for a rerun"]) == ("1", "1", "3"), out


def test_status_after_ctrl_c_says_the_problems_wait_for_a_rerun(tmp_path, llm_server):
    db = tmp_path / "i.db"
    add_problems(db, ["[I0]", "[I1]", "[I2]"])
    write_config(tmp_path)
    script = Script()
    for marker in ("[I0]", "[I1]", "[I2]"):  # drafts at once; the critiques still running at Ctrl-C
        script.on(marker, "generate", solution("42")).on(marker, "critic", Reply(critic_json("correct"), delay=60))
    llm_server.respond_with(script)
    env = environment(tmp_path, llm_server)
    run = rel_tui(db, env, "--auto")
    deadline = time.monotonic() + 60
    while in_progress(db) < 3 or len(llm_server.requests) < 6:
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.1)

    _, during, _ = run_cli(db, env, "status", timeout=60)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    _, after, _ = run_cli(db, env, "status", timeout=60)

    assert (status_rows(during)["worked on now"], status_rows(during)["waiting for a rerun"]) == ("3", "0"), during
    assert (status_rows(after)["in_progress"], status_rows(after)["waiting for a rerun"]) == ("3", "3"), after
    assert status_rows(after)["worked on now"] == "0", after
