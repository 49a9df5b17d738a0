"""`rel-tui --auto --workers N`: N runner processes share one queue through the claims, their lines
merged with a worker prefix; a signal to the command stops them all, leaving no claim behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from llm_server import Reply
from loop_helpers import marker_of, solution, step_of

from rel_core.models import Problem, ProblemState
from rel_core.store import Store
from rel_tui.commands.auto_workers import combined_exit_code, shares

MARKERS = [f"[K{i}]" for i in range(24)]


def write_config(directory, concurrency=4) -> None:
    (directory / "rel.toml").write_text(
        'generator = "openai:w-gen"\ncritic = "openai:w-critic"\n'
        f"[openai]\nmax_retries = 1\ntimeout = 20\nconcurrency = {concurrency}\n"
        f"[loop]\nlease_seconds = 30\nconcurrency = {concurrency}\n"
    )


def add_problems(db) -> None:
    with Store(db) as store:
        for marker in MARKERS:
            store.add_problem(Problem(text=f"{marker} What is 6 x 7?", reference_answer="42"))


def start(db, server, *args) -> subprocess.Popen:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(db.parent),
        "PYTHONUNBUFFERED": "1",
        "OPENAI_BASE_URL": server.openai_base_url,
        "OPENAI_API_KEY": "sk-test-loopback",
    }
    command = [sys.executable, "-m", "rel_tui", "--db", str(db), "--auto", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def right_first_time(request) -> Reply | str:
    if step_of(request) != "generate":
        return Reply.error(400, "only generations are expected")
    return solution("42")


def test_workers_share_the_queue_and_each_problem_is_worked_once(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    write_config(tmp_path)
    add_problems(db)
    llm_server.latency = 0.05
    llm_server.respond_with(right_first_time)
    process = start(db, llm_server, "--workers", "2")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err

    generated = [marker_of(r, MARKERS) for r in llm_server.requests]
    assert sorted(generated) == sorted(MARKERS), "every problem generated exactly once"
    with Store(db) as store:
        assert store.counts()[ProblemState.AWAITING_REVIEW] == len(MARKERS)
        assert not any(store.claimed_by(p) for p in store.iter_problem_ids())
    lines = err.splitlines()
    done = {
        n: [line for line in lines if re.match(rf"\[worker {n}\] \[\d+/\d+\] problem \d+: awaiting_review", line)] for n in (1, 2)
    }
    assert done[1] and done[2], "both workers worked problems"
    assert len(done[1]) + len(done[2]) == len(MARKERS)
    assert "rel-tui --auto: 2 workers finished (exit 0, 0)" in lines


def test_a_signal_to_the_command_stops_every_worker_and_releases_their_claims(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    write_config(tmp_path, concurrency=4)
    add_problems(db)
    llm_server.latency = 30.0  # calls that do not finish on their own
    llm_server.respond_with(right_first_time)
    process = start(db, llm_server, "--workers", "2")
    deadline = time.monotonic() + 60
    while len(llm_server.requests) < 4 and time.monotonic() < deadline:  # both workers' calls in flight
        time.sleep(0.1)
    assert len(llm_server.requests) >= 4, "the workers never called the server"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    calls_at_exit = len(llm_server.requests)
    time.sleep(1)
    assert len(llm_server.requests) == calls_at_exit, "a worker went on after the command ended"
    with Store(db) as store:
        assert not any(store.claimed_by(p) for p in store.iter_problem_ids()), "claims left behind"
        assert store.counts().get(ProblemState.ERRORED, 0) == 0
    assert "[worker 1]" in err and "[worker 2]" in err


def test_shares_and_exit_codes():
    assert shares(32, 3) == [11, 11, 10] and sum(shares(7, 2)) == 7
    assert combined_exit_code([0, 0], interrupted=False) == 0
    assert combined_exit_code([0, 1], interrupted=False) == 1
    assert combined_exit_code([130, 2], interrupted=False) == 2
    assert combined_exit_code([0, -9], interrupted=False) == 1
    assert combined_exit_code([0, 0], interrupted=True) == 130
