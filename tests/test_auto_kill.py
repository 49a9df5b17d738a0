"""`rel-tui --auto` after `kill -9`, beside a live runner, and on a full disk: real processes,
the loopback server, real SQLite files (a real tmpfs for the full disk)."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from llm_server import Reply
from loop_helpers import Script, solution
from rich.console import Console
from test_auto_cli import (
    Tagged,
    add_problems,
    committed_reply_numbers,
    environment,
    start,
    wait_for,
    write_config,
    wrong_then_right,
)

from rel_core.claims import HeldClaims
from rel_core.models import AttemptKind, ProblemState
from rel_core.runner import ProblemOutcome, RunStats, StopReason
from rel_core.store import Store
from rel_tui.commands.auto import BarObserver, LineObserver, exit_code, print_summary

LEASE = 120.0  # long, so that finishing "promptly" can only come from taking dead claims over


def claims(db) -> list[tuple[int, str, int | None]]:
    with Store(db) as store:
        return store.conn.execute(
            "select id, claimed_by, claim_pid from problems where claimed_by is not null order by id"
        ).fetchall()


def test_a_restart_after_kill_9_takes_the_dead_runners_claims_at_once(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    markers = [f"[K{i}]" for i in range(6)]
    add_problems(db, markers)
    write_config(tmp_path, lease_seconds=LEASE, concurrency=3)
    script = Script()
    wrong_then_right(script, markers)
    tagged = Tagged(script)
    llm_server.latency = 0.4  # slow replies: the kill finds calls in flight
    llm_server.respond_with(tagged)
    env = environment(tmp_path, llm_server)

    first = start(db, env)
    wait_for(lambda: len(committed_reply_numbers(db)) >= 3 and len(claims(db)) == 3, first)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    committed_prompts = {tagged.prompts[n] for n in committed_reply_numbers(db)}
    held = claims(db)
    assert len(held) == 3 and {pid for _, _, pid in held} == {first.pid}, held

    restarted_at = time.time()
    second = start(db, env)
    _, err = second.communicate(timeout=LEASE)
    took = time.time() - restarted_at

    assert second.returncode == 0, err
    assert took < LEASE / 4, f"the restarted run took {took:.0f}s: it waited for the dead runner's leases"
    [line] = [line for line in err.splitlines() if line.startswith("took over claims")]
    assert re.search(rf"3 from auto \S+ pid {first.pid}\b", line), line
    assert "waiting for" not in err and "Traceback" not in err
    after = [r for r in llm_server.requests if r.received_at >= restarted_at]
    assert [r.prompt[:80] for r in after if r.prompt in committed_prompts] == [], "a committed step was requested again"
    with Store(db) as store:
        assert store.counts()[ProblemState.AWAITING_REVIEW] == len(markers)
        for problem_id in store.iter_problem_ids():
            assert [a.kind for a in store.history(problem_id).attempts] == [AttemptKind.GENERATED, AttemptKind.REVISED]
    assert claims(db) == []
    # Only the calls in flight at the kill were asked twice: at most one per claim it held.
    assert sum(count - 1 for count in Counter(script.seen).values()) <= 3


def test_a_run_says_who_it_waits_for_while_a_live_runner_holds_the_rest(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    markers = ["[B1]", "[B2]"]
    add_problems(db, markers)
    write_config(tmp_path, lease_seconds=12, concurrency=2)
    script = Script()
    for marker in markers:  # the live runner is slow: it holds both problems for the whole test
        script.on(marker, "generate", Reply(solution("42"), delay=40))
    llm_server.respond_with(script)
    env = environment(tmp_path, llm_server)

    busy = start(db, env)
    try:
        wait_for(lambda: len(llm_server.requests) >= 2, busy)
        waiting = subprocess.run(
            [sys.executable, "-m", "rel_tui", "--db", str(db), "--auto"],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    finally:
        busy.send_signal(signal.SIGTERM)
        busy.communicate(timeout=30)

    assert waiting.returncode == 0, waiting.stderr
    lines = [line for line in waiting.stderr.splitlines() if line.startswith("waiting for")]
    # Said at once and then every 10 s until the run gives up (one lease after it ran out of work).
    assert len(lines) >= 2, waiting.stderr
    pattern = rf"waiting for 2 problems claimed by others: 2 by auto \S+ pid {busy.pid} \(lease to \d\d:\d\d:\d\d\); waiting at most until \d\d:\d\d:\d\d$"
    assert all(re.fullmatch(pattern, line) for line in lines), lines
    assert "rel-tui --auto: 0 problems to work (2 more claimed by others)" in waiting.stderr
    assert re.search(r"still claimed by others\s*│\s*2", waiting.stderr), waiting.stderr
    assert "the rest is claimed by others" in waiting.stderr
    assert len(llm_server.requests) == 2, "the waiting run must not have worked the held problems"


# -- a full disk --------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs (needs root and mount rights; skipped where the mount is refused)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full-disk test needs root to mount a small tmpfs")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory) -> None:
    """Write a file until the file system has no byte left."""
    with open(directory / "filler", "wb", buffering=0) as filler:
        block = b"\0" * 65536
        try:
            while True:
                filler.write(block)
        except OSError:
            pass
        try:
            while True:
                filler.write(b"\0")
        except OSError:
            pass


def test_a_full_disk_stops_the_run_in_one_line_and_loses_nothing(small_disk, tmp_path, llm_server):
    db = small_disk / "rel.db"
    markers = [f"[F{i}]" for i in range(4)]
    add_problems(db, markers)
    write_config(small_disk, lease_seconds=30, concurrency=2)
    big = "x" * 400_000  # a long draft: its row cannot fit on the full disk
    script = Script()
    for marker in markers:
        script.on(marker, "generate", Reply(solution("42", big), delay=1.0))
    llm_server.respond_with(script)
    env = environment(tmp_path, llm_server)

    process = start(db, env)
    wait_for(lambda: len(llm_server.requests) >= 2, process)  # open, migrated, two problems claimed
    fill(small_disk)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 1, err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "disk is full" in errors[0] and str(db) in errors[0], err
    # Releasing the claims may fail on the full disk (then they name this dead process, so a rerun
    # here takes them over at once) or fit in WAL space already there; either way, with space
    # again, a rerun finishes every problem without waiting for a lease.
    released = "claims were not released (database or disk is full)" not in err
    (small_disk / "filler").unlink()
    with Store(db) as store:
        assert store.conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert claims(db) == [] if released else {pid for _, _, pid in claims(db)} <= {process.pid}
    started = time.monotonic()
    rerun = start(db, env)
    _, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    if not released:
        assert "took over claims left by holders no longer running: 2 from auto" in err, err
    assert time.monotonic() - started < 25, "the rerun waited for the stopped run's leases"
    with Store(db) as store:
        assert store.counts()[ProblemState.AWAITING_REVIEW] == len(markers)
    assert claims(db) == []


# -- progress lines carry data as inert text ------------------------------------------------------------


HOSTILE_HOLDER = "auto mallory@box \x1b]0;owned\x07\x1b[31m pid 1"
HOSTILE_DETAIL = "provider said: \x1b[2J\x9b31m [bold red]loud[/]\nsecond line"


@pytest.mark.parametrize("observer_class", [BarObserver, LineObserver])
def test_progress_lines_show_names_and_errors_from_data_as_one_inert_line(observer_class):
    output = io.StringIO()
    observer = observer_class(Console(file=output, force_terminal=True, width=400))
    stats = RunStats(total=1)
    observer.on_start(stats)
    held = [HeldClaims(holder=HOSTILE_HOLDER, count=2, until="2030-01-01T10:00:00.000+00:00")]
    observer.on_waiting(held, datetime.now(UTC), stats)
    observer.on_reclaimed({HOSTILE_HOLDER: 3}, stats)
    observer.on_problem_done(ProblemOutcome(7, ProblemState.ERRORED, HOSTILE_DETAIL, 1, 0.5), stats)
    observer.on_finish(stats)
    text = output.getvalue()

    for raw in ("\x1b]0;owned", "\x07", "\x1b[31m pid", "\x1b[2J", "\x9b"):
        assert raw not in text
    assert "waiting for 2 problems claimed by others: 2 by auto mallory@box ␛]0;owned␇␛[31m pid 1 (lease to" in text
    assert "took over claims left by holders no longer running: 3 from auto mallory@box ␛]0;owned" in text
    assert "␛[2J\\x9b31m [bold red]loud[/]\\nsecond line" in text  # markup shown as typed, on one line


def test_the_summary_and_the_stop_line_show_a_servers_text_as_typed(capsys):
    stats = RunStats(stop_reason=StopReason.FATAL, stop_detail=HOSTILE_DETAIL)
    print_summary(stats)
    assert exit_code(stats) == 1
    err = capsys.readouterr().err
    assert "\x1b[2J" not in err and "\x9b" not in err
    [line] = [line for line in err.splitlines() if line.startswith("Error:")]
    assert line == "Error: run stopped: provider said: ␛[2J\\x9b31m [bold red]loud[/]\\nsecond line"
    assert "[bold red]loud[/]" in err  # in the table too: not taken as markup


async def test_a_database_that_cannot_grow_stops_the_runner_and_releases_its_claims(tmp_path, llm_env):
    """The same stop inside one process, with SQLite's own limit (`max_page_count`) making the file full."""
    from test_runner import run

    db = tmp_path / "rel.db"
    markers = [f"[M{i}]" for i in range(4)]
    add_problems(db, markers)
    script = Script()
    for marker in markers:
        script.on(marker, "generate", Reply(solution("42", "y" * 200_000), delay=0.3))
    llm_env.respond_with(script)
    with Store(db) as store:
        [pages] = store.conn.execute("pragma page_count").fetchone()
        store.conn.execute(f"pragma max_page_count = {pages + 2}")  # room for claims, not for a draft
        stats, _ = await run(db, llm_env, store=store, concurrency=2)

        assert stats.stop_reason == StopReason.DISK_FULL
        assert str(db) in stats.stop_detail and "database or disk is full" in stats.stop_detail
        assert stats.done == 0 and stats.abandoned == 2
        assert store.conn.execute("select count(*) from problems where claimed_by is not null").fetchone()[0] == 0
        assert store.counts()[ProblemState.PENDING] == len(markers)
