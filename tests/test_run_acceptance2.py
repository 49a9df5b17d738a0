"""Acceptance pass 2, the headless run: a closed output pipe, the budget, --retry-errored with a
limit and --workers with a small limit (ACCEPTANCE2.md §1, §7, §8, §9). Real CLI processes, real
SQLite files, the real SDK against the loopback server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

import pytest
from llm_server import Reply
from loop_helpers import critic_json, solution, step_of

from rel_core.answers import AnswerChecker, CheckerClosed
from rel_core.models import Problem, ProblemState
from rel_core.store import Store

GEN, CRITIC = "openai:a2-gen", "openai:a2-critic"


def write_config(directory, concurrency=4, extra="") -> None:
    (directory / "rel.toml").write_text(
        f'generator = "{GEN}"\ncritic = "{CRITIC}"\n'
        "[openai]\nmax_retries = 1\ntimeout = 20\n"
        f"[loop]\nlease_seconds = 30\nconcurrency = {concurrency}\n{extra}"
    )


def start(db, server, *args, stderr=subprocess.PIPE) -> subprocess.Popen:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(db.parent),
        "PYTHONUNBUFFERED": "1",
        "OPENAI_BASE_URL": server.openai_base_url,
        "OPENAI_API_KEY": "sk-test-loopback",
    }
    command = [sys.executable, "-m", "rel_tui", "--db", str(db), "--auto", *args]
    return subprocess.Popen(command, env=env, cwd=db.parent, stdout=subprocess.DEVNULL, stderr=stderr, text=True)


def add_problems(db, count, reference="42") -> list[int]:
    with Store(db) as store:
        return [store.add_problem(Problem(text=f"[A{i}] Find the value.", reference_answer=reference))[0] for i in range(count)]


def rows(db, sql, *params):
    with Store(db) as store:
        return store.conn.execute(sql, params).fetchall()


def never_right(answer: str, **usage):
    """Every generator step answers `answer`, the critic always says incorrect: many calls per problem."""

    def reply(request):
        if step_of(request) == "critic":
            return Reply(critic_json("incorrect", 1, "Check step 1."), **usage)
        return Reply(solution(answer), **usage)

    return reply


def right_first_time(request):
    return solution("42") if step_of(request) == "generate" else Reply.error(400, "only generations are expected")


def assert_resumable(db) -> None:
    """Nothing errored, and no claim outlives the run: the next run takes every unfinished problem."""
    assert rows(db, "select id, state_detail from problems where state = 'errored'") == []
    assert rows(db, "select id from problems where claimed_by is not null") == []


# -- §7: the output closed under the run ---------------------------------------------------------


def test_a_check_in_flight_when_the_checker_closes_is_no_verdict_and_no_attribute_error():
    checker = AnswerChecker(workers=1)
    outcome: list[object] = []

    def check() -> None:
        try:
            outcome.append(checker._ask("1/2", "0.7"))  # the first answer waits for sympy's import
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=check)
    thread.start()
    time.sleep(0.3)
    checker.close()
    thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], CheckerClosed), outcome
    with pytest.raises(CheckerClosed):  # and no worker is started after close
        checker._ask("1/2", "0.7")
    assert all(worker.process is None for worker in checker._workers)


def fast_then_checked(request):
    """[A0] and [A1] right at once (a plain integer, checked in-process); the others answer a decimal
    against a fraction, which math-verify's workers check (the first check waits for sympy's import)."""
    if "[A0]" in request.prompt or "[A1]" in request.prompt:
        return right_first_time(request)
    return never_right("0.7")(request)


def test_closing_the_output_pipe_leaves_the_problems_in_flight_resumable(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    add_problems(db, 2)
    with Store(db) as store:
        for i in range(2, 40):
            store.add_problem(Problem(text=f"[A{i}] Find the value.", reference_answer="1/2"))
    write_config(tmp_path, concurrency=8)
    llm_server.latency = 0.05
    llm_server.respond_with(fast_then_checked)
    process = start(db, llm_server, "--max-iterations", "3")
    assert process.stderr is not None
    lines = [process.stderr.readline() for _ in range(2)]  # `| head -2`: the start line and one problem
    process.stderr.close()  # the next problem's line finds the pipe closed, while checks are in flight
    code = process.wait(timeout=60)

    assert "problem" in lines[1], lines
    assert_resumable(db)
    assert code == 130  # stopped as an interrupted run is, not crashed
    unfinished = rows(db, "select count(*) from problems where state in ('pending', 'in_progress')")[0][0]
    assert unfinished >= 30


# -- §1: the budget stops new calls ---------------------------------------------------------------

PRICED = f'[models."{GEN}"]\ninput_per_million = 1000.0\noutput_per_million = 1000.0\n' + (
    f'[models."{CRITIC}"]\ninput_per_million = 1000.0\noutput_per_million = 1000.0\n'
)


def test_the_budget_stops_new_calls_and_the_summary_gives_one_spend(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    add_problems(db, 6)
    write_config(tmp_path, concurrency=4, extra=PRICED)
    llm_server.latency = 0.05
    llm_server.respond_with(never_right("41", input_tokens=250, output_tokens=250))  # $0.50 a call
    process = start(db, llm_server, "--budget", "2", "--max-iterations", "3")
    _, err = process.communicate(timeout=120)

    assert process.returncode == 0, err
    ((calls, spent),) = rows(db, "select count(*), sum(cost_usd) from llm_calls")
    # A call starts only while the spend is under $2 (at most 3 paid calls), with at most 4 in flight.
    assert calls <= 3 + 4 and spent <= 3.5, (calls, spent)
    assert spent >= 2.0
    summary_spend = re.findall(r"spend\s+│\s+\$([\d.]+)", err)
    assert summary_spend and float(summary_spend[-1]) == pytest.approx(spent), err
    assert "budget reached ($2 budget)" in err and "spent $" not in err
    last_progress = [line for line in err.splitlines() if line.startswith("[")][-1]
    assert f"spend ${spent:.4f}" in last_progress or f"spend ${spent:.2f}" in last_progress, last_progress
    assert_resumable(db)

    # What the budget stopped is resumed by the next run: every problem comes to an end.
    llm_server.respond_with(never_right("41"))
    process = start(db, llm_server, "--max-iterations", "1")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert rows(db, "select count(*) from problems where state = 'failed'")[0][0] == 6


# -- §9: --retry-errored with --limit -------------------------------------------------------------


def error_out(db, problem_ids) -> None:
    with Store(db) as store:
        for problem_id in problem_ids:
            store.set_state(problem_id, ProblemState.ERRORED, f"server error #{problem_id} after 6 retries")


def test_retry_errored_with_a_limit_requeues_only_what_the_run_takes(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    ids = add_problems(db, 5)
    error_out(db, ids[1:])  # the first is pending, the other four errored
    write_config(tmp_path, concurrency=2)
    llm_server.respond_with(right_first_time)
    process = start(db, llm_server, "--limit", "2", "--retry-errored")
    _, err = process.communicate(timeout=60)

    assert process.returncode == 0, err
    states = dict(rows(db, "select id, state from problems"))
    assert [states[i] for i in ids[:2]] == ["awaiting_review"] * 2
    kept = rows(db, "select id, state_detail from problems where state = 'errored' order by id")
    assert kept == [(i, f"server error #{i} after 6 retries") for i in ids[2:]]
    assert "1 errored problem put back in the queue" in err


def test_retry_errored_with_workers_and_a_limit_requeues_only_what_they_take(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    ids = add_problems(db, 4)
    error_out(db, ids)
    write_config(tmp_path, concurrency=2)
    llm_server.respond_with(right_first_time)
    process = start(db, llm_server, "--workers", "2", "--limit", "1", "--retry-errored")
    _, err = process.communicate(timeout=60)

    assert process.returncode == 0, err
    assert rows(db, "select id from problems where state = 'awaiting_review'") == [(ids[0],)]
    assert len(rows(db, "select id from problems where state = 'errored' and state_detail like 'server error%'")) == 3
    assert "1 errored problem put back in the queue" in err


# -- §8: --workers N --limit M with M < N ---------------------------------------------------------


@pytest.mark.parametrize(("workers", "limit"), [(2, 1), (3, 2)])
def test_workers_never_work_more_problems_than_the_limit(tmp_path, llm_server, workers, limit):
    db = tmp_path / "rel.db"
    add_problems(db, 6)
    write_config(tmp_path, concurrency=2)
    llm_server.respond_with(right_first_time)
    process = start(db, llm_server, "--workers", str(workers), "--limit", str(limit))
    _, err = process.communicate(timeout=90)

    assert process.returncode == 0, err
    assert len(llm_server.requests) == limit, ([step_of(r) for r in llm_server.requests], err)
    assert rows(db, "select count(*) from problems where state = 'awaiting_review'")[0][0] == limit
    assert f"rel-tui --auto: {limit} workers finished" in err


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_workers_whose_parent_is_killed_leave_their_problems_resumable(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    add_problems(db, 2)
    with Store(db) as store:
        for i in range(2, 40):
            store.add_problem(Problem(text=f"[A{i}] Find the value.", reference_answer="1/2"))
    write_config(tmp_path, concurrency=8)
    llm_server.latency = 0.05
    llm_server.respond_with(fast_then_checked)
    process = start(db, llm_server, "--workers", "2", "--max-iterations", "3")
    assert process.stderr is not None
    while "problem" not in (line := process.stderr.readline()):  # a worker has finished a problem
        assert line, "the command ended before any problem was done"
    workers = children_of(process.pid)
    process.kill()  # kill -9, an OOM kill: the workers' output pipe has no reader any more
    process.wait()
    process.stderr.close()
    deadline = time.monotonic() + 60
    while not all(gone(pid) for pid in workers):
        assert time.monotonic() < deadline, "the workers went on without their parent"
        time.sleep(0.2)

    assert len(workers) == 2
    assert_resumable(db)
