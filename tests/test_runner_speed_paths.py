"""What the runner's speed-ups must not break: a step is one transaction (its llm_calls row, its
attempt and check, the problem's final state), all there or not at all even after `kill -9` in the
middle of it; a paid call whose step fails to commit is still metered; `--auto` starts without the
modules it does not use. Real SQLite files, the real SDK against the loopback server, real processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from loop_helpers import Script, solution
from test_loop import make_settings
from test_runner import add_problems

from rel_core.loop import LoopEngine
from rel_core.models import ProblemState
from rel_core.providers.client import LLMClient
from rel_core.store import Store

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def db(tmp_path):
    return tmp_path / "rel.db"


def right_first_time(llm_env, *markers):
    script = Script()
    for marker in markers:
        script.on(marker, "generate", solution("42"))
    llm_env.respond_with(script)
    return script


def rows(db, table: str) -> int:
    with Store(db) as store:
        return store.conn.execute(f"select count(*) from {table}").fetchone()[0]


async def run_problem(db, server, problem_id: int) -> ProblemState:
    settings = make_settings(server)
    with Store(db) as store:
        engine = LoopEngine(store, LLMClient(settings, store), settings)
        try:
            return await engine.run_problem(problem_id)
        finally:
            engine.close()
            await engine.client.aclose()


async def test_a_step_writes_its_call_row_attempt_check_and_final_state_in_one_transaction(db, llm_env):
    [problem_id] = add_problems(db, ["[T1]"])
    right_first_time(llm_env, "[T1]")
    settings = make_settings(llm_env)
    statements: list[str] = []
    with Store(db) as store:
        store.conn.set_trace_callback(statements.append)
        engine = LoopEngine(store, LLMClient(settings, store), settings)
        try:
            assert await engine.run_problem(problem_id) == ProblemState.AWAITING_REVIEW
        finally:
            engine.close()
            await engine.client.aclose()
        store.conn.set_trace_callback(None)
        attempt = store.history(problem_id).attempts[0]
        [call_id] = [r[0] for r in store.conn.execute("select id from llm_calls")]
        assert attempt.llm_call_id == call_id
    writes = [s.split()[0].lower() for s in statements if s.split()[0].lower() in ("begin", "commit", "insert", "update")]
    assert writes.count("begin") == writes.count("commit") == 1, statements  # one write transaction for the whole problem
    inside = " ".join(statements[statements.index(next(s for s in statements if s.lower().startswith("begin"))) :])
    for table in ("llm_calls", "attempts", "critiques"):
        assert f"insert into {table}" in inside or f"insert into [{table}]" in inside, table
    assert "update problems set state = 'awaiting_review'" in inside and "claimed_by = null" in inside


CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    sys.path[:0] = [sys.argv[4]]
    from test_loop import make_settings
    from rel_core.loop import LoopEngine
    from rel_core.providers.client import LLMClient
    from rel_core.store import Store

    class Server:
        openai_base_url = sys.argv[2]

    store = Store(sys.argv[1])
    store.conn.create_function("die", 0, lambda: os.kill(os.getpid(), signal.SIGKILL))
    store.conn.execute(sys.argv[3])  # a temporary trigger: this connection only, never in the file
    settings = make_settings(Server)

    async def main():
        engine = LoopEngine(store, LLMClient(settings, store), settings)
        await engine.run_problem(1)

    asyncio.run(main())
    """
)

KILL_POINTS = {
    "after the attempt": "create temp trigger die_now after insert on main.attempts begin select die(); end",
    "after the check": "create temp trigger die_now after insert on main.critiques begin select die(); end",
    "at the final state": (
        "create temp trigger die_now after update of state on main.problems "
        "when new.state = 'awaiting_review' begin select die(); end"
    ),
}


@pytest.mark.parametrize("where", list(KILL_POINTS))
async def test_kill_9_inside_a_step_leaves_neither_its_call_row_nor_its_attempt(db, llm_env, where):
    [problem_id] = add_problems(db, ["[K1]"])
    script = right_first_time(llm_env, "[K1]")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(db), llm_env.openai_base_url, KILL_POINTS[where], str(TESTS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert script.seen, "the call was answered before the kill"
    # Killed inside the step's transaction: the call's row went down with the attempt it produced.
    assert (rows(db, "llm_calls"), rows(db, "attempts"), rows(db, "critiques")) == (0, 0, 0)
    with Store(db) as store:
        assert store.get_problem(problem_id).state == ProblemState.PENDING
    # The next run makes the call again and commits the whole step.
    assert await run_problem(db, llm_env, problem_id) == ProblemState.AWAITING_REVIEW
    with Store(db) as store:
        [attempt] = store.history(problem_id).attempts
        assert [r[0] for r in store.conn.execute("select id from llm_calls")] == [attempt.llm_call_id]


async def test_a_paid_call_whose_step_cannot_commit_is_still_metered(db, llm_env):
    [problem_id] = add_problems(db, ["[F1]"])
    right_first_time(llm_env, "[F1]")
    settings = make_settings(llm_env)
    with Store(db) as store:
        store.conn.execute(
            "create temp trigger refuse before insert on main.attempts begin select raise(abort, 'no attempt today'); end"
        )
        engine = LoopEngine(store, LLMClient(settings, store), settings)
        try:
            with pytest.raises(sqlite3.IntegrityError, match="no attempt today"):
                await engine.run_problem(problem_id)
        finally:
            engine.close()
            await engine.client.aclose()
        [(response, cost)] = store.conn.execute("select response, cost_usd from llm_calls").fetchall()
        assert "<ANSWER>42</ANSWER>" in response and cost > 0
        assert store.conn.execute("select count(*) from attempts").fetchone()[0] == 0
        assert engine.usage.calls == 1


async def test_huge_drafts_are_still_parsed_and_committed(db, llm_env):
    from rel_core import loop

    [problem_id] = add_problems(db, ["[H1]"])
    script = Script()
    script.on("[H1]", "generate", solution("42", "x " * (loop.INLINE_PARSE_CHARS // 2 + 10)))  # above the inline limit
    llm_env.respond_with(script)
    assert await run_problem(db, llm_env, problem_id) == ProblemState.AWAITING_REVIEW
    with Store(db) as store:
        [attempt] = store.history(problem_id).attempts
        assert attempt.final_answer == "42" and len(attempt.text) > loop.INLINE_PARSE_CHARS


def test_auto_starts_without_rich_the_subcommands_the_sdks_or_math_verify():
    code = (
        "import sys, rel_tui.cli, rel_tui.commands.auto\n"
        "heavy = ('rich', 'textual', 'openai', 'anthropic', 'sympy', 'math_verify', 'rel_core.exporters', 'rel_core.importers')\n"
        "print(sorted({m.split('.')[0] if not m.startswith('rel_core') else m for m in sys.modules if m.startswith(heavy)}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_subcommands_load_when_named_or_listed(tmp_path):
    from rel_tui.cli import main

    listed = CliRunner().invoke(main, ["--help"])
    assert listed.exit_code == 0 and all(name in listed.output for name in ("status", "import", "export", "check", "serve"))
    status = CliRunner().invoke(main, ["--db", str(tmp_path / "none.db"), "status"])
    assert "No such command" not in status.output


def test_plain_answers_start_no_math_verify_worker(db, llm_env):
    add_problems(db, ["[P1]"])
    right_first_time(llm_env, "[P1]")
    code = textwrap.dedent(
        """
        import asyncio, sys
        sys.path[:0] = [sys.argv[3]]
        from test_loop import make_settings
        from rel_core.checking import PlainNumberChecker
        from rel_core.loop import LoopEngine
        from rel_core.providers.client import LLMClient
        from rel_core.store import Store

        class Server:
            openai_base_url = sys.argv[2]

        async def main():
            with Store(sys.argv[1]) as store:
                checker = PlainNumberChecker()
                engine = LoopEngine(store, LLMClient(make_settings(Server), store), make_settings(Server), checker=checker)
                state = await engine.run_problem(1)
                started = [w for w in checker._workers if w.process is not None]
                heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('sympy', 'math_verify', 'latex2sympy2_extended'))
                print(state, len(started), heavy)
                engine.close()
                await engine.client.aclose()

        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    result = subprocess.run(
        [sys.executable, "-c", code, str(db), llm_env.openai_base_url, str(TESTS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["awaiting_review", "0", "[]"]
