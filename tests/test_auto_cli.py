"""`rel-tui --auto` as a real process against the loopback server: output, exit codes, SIGKILL and resume."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from loop_helpers import Script, critic_json, solution

from rel_core.models import AttemptKind, CritiqueSource, Problem, ProblemState
from rel_core.store import Store


def write_config(directory, lease_seconds=30.0, concurrency=2, extra=""):
    (directory / "rel.toml").write_text(
        'generator = "openai:cli-gen"\ncritic = "openai:cli-critic"\n'
        "[openai]\nmax_retries = 2\ntimeout = 20\n"
        f"[loop]\nlease_seconds = {lease_seconds}\nconcurrency = {concurrency}\n{extra}"
    )


def environment(tmp_path, server=None, key="sk-test-loopback"):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    if server is not None:
        env["OPENAI_BASE_URL"] = server.openai_base_url
    if key:
        env["OPENAI_API_KEY"] = key
    return env


def start(db, env, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rel_tui", "--db", str(db), "--auto", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def add_problems(db, markers):
    with Store(db) as store:
        for marker in markers:
            store.add_problem(Problem(text=f"{marker} What is 6 x 7?", reference_answer="42", reference_solution="6 x 7 = 42"))


def wrong_then_right(script, markers):
    for marker in markers:
        script.on(marker, "generate", solution("41"))
        script.on(marker, "critic", critic_json("incorrect", 1, "Recount the sevens."))
        script.on(marker, "revise", solution("42"))


class Tagged:
    """Tags every reply with its number, so a committed row names the request it answered."""

    def __init__(self, script: Script):
        self.script = script
        self.prompts: dict[int, str] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(self, request):
        reply = self.script(request)
        if not isinstance(reply, str):
            return reply
        with self._lock:
            number = next(self._numbers)
            self.prompts[number] = request.prompt
        return f"{reply}\n[reply {number}]"


def committed_reply_numbers(db) -> set[int]:
    import re

    numbers = set()
    with Store(db) as store:
        for problem_id in store.iter_problem_ids():
            history = store.history(problem_id)
            texts = [a.text for a in history.attempts] + [
                c.raw or "" for c in history.critiques if c.source == CritiqueSource.LLM
            ]
            for text in texts:
                numbers.update(int(n) for n in re.findall(r"\[reply (\d+)\]", text))
    return numbers


# -- configuration errors ------------------------------------------------------------------------------


def test_bad_model_spec_is_one_line_and_exit_2(tmp_path):
    db = tmp_path / "rel.db"
    add_problems(db, ["[C1]"])
    write_config(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "rel_tui", "--db", str(db), "--auto", "--generator", "gpt-4o"],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "gpt-4o" in result.stderr and "provider:model" in result.stderr


def test_missing_api_key_is_one_line_and_exit_2(tmp_path):
    db = tmp_path / "rel.db"
    add_problems(db, ["[C2]"])
    write_config(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "rel_tui", "--db", str(db), "--auto"],
        env=environment(tmp_path, key=None),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "OPENAI_API_KEY" in result.stderr
    with Store(db) as store:
        assert store.counts()[ProblemState.PENDING] == 1


def test_unusable_template_dir_is_one_line_and_exit_2(tmp_path):
    db = tmp_path / "rel.db"
    add_problems(db, ["[C3]"])
    write_config(tmp_path, extra=f'template_dir = "{tmp_path / "nowhere"}"\n')
    result = subprocess.run(
        [sys.executable, "-m", "rel_tui", "--db", str(db), "--auto"],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "template_dir" in result.stderr


# -- a run, its output, and its signals -------------------------------------------------------------------


def test_plain_lines_and_summary_when_not_a_terminal(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    markers = ["[O1]", "[O2]", "[O3]"]
    add_problems(db, markers)
    write_config(tmp_path)
    script = Script()
    wrong_then_right(script, markers[:2])
    script.on("[O3]", "generate", "no answer at all").on("[O3]", "critic", "garbage")
    script.on("[O3]", "revise", "still nothing").on("[O3]", "final_rewrite", "nothing")
    llm_server.respond_with(script)
    process = start(db, environment(tmp_path, llm_server), "--max-iterations", "1")
    _out, err = process.communicate(timeout=60)

    assert process.returncode == 0, err
    lines = [line for line in err.splitlines() if "] problem " in line]
    assert len(lines) == 3
    assert sum("awaiting_review" in line for line in lines) == 2 and sum("failed" in line for line in lines) == 1
    assert "queue worked" in err and "verified, awaiting review" in err and "Traceback" not in err
    with Store(db) as store:
        assert store.counts()[ProblemState.AWAITING_REVIEW] == 2


def test_empty_database_loads_the_bundled_set_and_works_it(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    write_config(tmp_path)
    llm_server.default = solution("0")
    process = start(db, environment(tmp_path, llm_server), "--limit", "2", "--max-iterations", "0")
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Empty database: loaded" in err and "limit reached" in err
    with Store(db) as store:
        assert store.count_problems() > 2
        worked = [p for p in store.iter_problem_ids() if store.count_attempts(p) and store.get_problem(p).source == "bundled"]
        assert len(worked) >= 2


def test_a_fatal_provider_error_stops_the_run_with_exit_1(tmp_path, llm_server):
    from llm_server import Reply

    db = tmp_path / "rel.db"
    add_problems(db, ["[V1]", "[V2]", "[V3]"])
    write_config(tmp_path, concurrency=1)
    llm_server.default = Reply.auth_failed()
    process = start(db, environment(tmp_path, llm_server))
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert [line for line in err.splitlines() if line.startswith("Error: run stopped:")], err
    assert len(llm_server.requests) == 1 and "Traceback" not in err
    with Store(db) as store:
        assert store.counts()[ProblemState.PENDING] == 3


def test_sigterm_finishes_writes_and_releases_claims(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    markers = ["[G1]", "[G2]", "[G3]"]
    add_problems(db, markers)
    write_config(tmp_path)
    script = Script()
    for marker in markers:
        script.on(marker, "generate", solution("41"))
        script.on(marker, "critic", critic_json("incorrect", 1, "x"))
        script.on(marker, "revise", solution("42"))
    llm_server.latency = 0.5
    llm_server.respond_with(script)
    process = start(db, environment(tmp_path, llm_server))
    wait_for(lambda: len(llm_server.requests) >= 3, process)
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=30)

    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    with Store(db) as store:
        assert all(store.claimed_by(p) is None for p in store.iter_problem_ids())


# -- SIGKILL mid-run, then resume -----------------------------------------------------------------------


def wait_for(condition, process, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"rel-tui exited early ({process.returncode}): {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("timed out waiting for the run")
        time.sleep(0.02)


def test_sigkill_mid_run_then_restart_repeats_no_completed_step(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    markers = [f"[K{i}]" for i in range(8)]
    add_problems(db, markers)
    write_config(tmp_path, lease_seconds=1.5, concurrency=3)
    script = Script()
    wrong_then_right(script, markers)
    tagged = Tagged(script)
    llm_server.latency = 0.15
    llm_server.respond_with(tagged)
    env = environment(tmp_path, llm_server)

    first = start(db, env)
    wait_for(lambda: len(committed_reply_numbers(db)) >= 6, first)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    committed = committed_reply_numbers(db)
    committed_prompts = {tagged.prompts[n] for n in committed}
    with Store(db) as store:
        assert store.counts()[ProblemState.AWAITING_REVIEW] < len(markers), "killed too late to prove anything"
        held = [p for p in store.iter_problem_ids() if store.claimed_by(p)]
    assert held, "the killed runner should have left live claims behind"

    restarted_at = time.time()
    second = start(db, env)
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err

    after = [r for r in llm_server.requests if r.received_at >= restarted_at]
    repeated = [r.prompt[:80] for r in after if r.prompt in committed_prompts]
    assert repeated == [], "a committed step was requested again"
    with Store(db) as store:
        assert store.counts()[ProblemState.AWAITING_REVIEW] == len(markers)
        for problem_id in store.iter_problem_ids():
            history = store.history(problem_id)
            assert [a.kind for a in history.attempts] == [AttemptKind.GENERATED, AttemptKind.REVISED]
            per_attempt = Counter((c.attempt_id, c.source) for c in history.critiques)
            assert set(per_attempt.values()) == {1}
            assert store.claimed_by(problem_id) is None
    # Every step of every problem was answered; repeats are only calls that were in flight at the kill.
    answered = Counter(script.seen)
    in_flight_repeats = sum(count - 1 for count in answered.values())
    assert in_flight_repeats <= 3


# -- internal errors, unusable base URLs, budgets without prices ---------------------------------------


def corrupt_tags(db, problem_ids):
    """Tags another tool wrote as plain text, not the JSON list the store reads: the loop raises
    (JSONDecodeError) on these problems, an internal error rather than a provider's."""
    with Store(db) as store:
        for problem_id in problem_ids:
            store.conn.execute("update problems set tags = 'algebra, geometry' where id = ?", [problem_id])


def raw_states(db) -> list[str]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return [state for (state,) in conn.execute("select state from problems order by id")]


def test_an_internal_error_is_one_line_for_its_problem_and_the_run_goes_on(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    add_problems(db, ["[N1]", "[N2]", "[N3]"])
    corrupt_tags(db, [2])
    write_config(tmp_path, concurrency=1)
    llm_server.default = solution("42")
    process = start(db, environment(tmp_path, llm_server))
    _out, err = process.communicate(timeout=60)

    assert process.returncode == 3, err  # the run went on, but a problem errored in it
    assert "Traceback" not in err and "JSONDecodeError" in err
    about_it = [line for line in err.splitlines() if "problem 2" in line]
    assert len(about_it) == 1 and "errored" in about_it[0] and "internal error: JSONDecodeError" in about_it[0], err
    assert raw_states(db) == ["awaiting_review", "errored", "awaiting_review"]


def test_the_same_internal_error_on_problem_after_problem_stops_the_run_with_exit_1(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    add_problems(db, [f"[Q{i}]" for i in range(8)])
    corrupt_tags(db, range(1, 9))
    write_config(tmp_path, concurrency=1)
    process = start(db, environment(tmp_path, llm_server))
    _out, err = process.communicate(timeout=60)

    assert process.returncode == 1, err
    stopped = [line for line in err.splitlines() if line.startswith("Error: run stopped:")]
    assert len(stopped) == 1 and "5 problems in a row" in stopped[0] and "JSONDecodeError" in stopped[0], err
    assert "Traceback" not in err
    assert raw_states(db) == ["errored"] * 5 + ["pending"] * 3


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:99999/v1", "http://[::1/v1", "127.0.0.1:8000/v1"], ids=["port", "ipv6", "scheme"]
)
def test_an_unusable_base_url_is_one_line_and_exit_2_before_any_problem(tmp_path, base_url):
    db = tmp_path / "rel.db"
    add_problems(db, ["[U1]", "[U2]"])
    write_config(tmp_path)
    env = {**environment(tmp_path), "OPENAI_BASE_URL": base_url}
    result = subprocess.run(
        [sys.executable, "-m", "rel_tui", "--db", str(db), "--auto"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "base_url" in result.stderr and "OPENAI_BASE_URL" in result.stderr
    assert raw_states(db) == ["pending", "pending"]


PRICE_GEN = '[models."openai:cli-gen"]\ninput_per_million = 1.0\noutput_per_million = 2.0\n'


@pytest.mark.parametrize(
    ("args", "extra", "unpriced"),
    [
        (["--budget", "5"], "", ["openai:cli-gen", "openai:cli-critic"]),
        ([], "budget_usd = 5.0\n" + PRICE_GEN, ["openai:cli-critic"]),
        # gpt-4o-mini is in the bundled table, but the loopback is not api.openai.com: no price there.
        (["--budget", "5", "--critic", "openai:gpt-4o-mini"], PRICE_GEN, ["openai:gpt-4o-mini"]),
        ([], "", []),
    ],
    ids=["flag-both-unpriced", "config-one-priced", "hosted-name-elsewhere", "no-budget"],
)
def test_a_budget_warns_once_per_model_without_a_price_and_runs(tmp_path, llm_server, args, extra, unpriced):
    db = tmp_path / "rel.db"
    add_problems(db, ["[P1]"])
    write_config(tmp_path, extra=extra)
    llm_server.default = solution("42")
    process = start(db, environment(tmp_path, llm_server), "--max-iterations", "0", *args)
    _out, err = process.communicate(timeout=60)

    assert process.returncode == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == len(unpriced), err
    for spec, line in zip(unpriced, warnings, strict=True):
        assert f"budget cannot be enforced for {spec}" in line and f'[models."{spec}"]' in line and "rel.toml" in line
        assert "input_per_million" in line and "output_per_million" in line
    assert raw_states(db) == ["awaiting_review"]


def test_a_server_that_cannot_be_reached_stops_the_run_instead_of_erroring_the_queue(tmp_path):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = tmp_path / "rel.db"
    add_problems(db, [f"[U{i}]" for i in range(6)])
    write_config(tmp_path, concurrency=1)
    env = environment(tmp_path)
    env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
    process = start(db, env)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    [stopped] = [line for line in err.splitlines() if line.startswith("Error: run stopped:")]
    assert "3 problems in a row could not reach the server" in stopped and "--retry-errored" in stopped
    assert "Traceback" not in err
    with Store(db) as store:
        counts = store.counts()
    assert counts[ProblemState.ERRORED] == 3 and counts[ProblemState.PENDING] == 3
