"""`rel-tui --auto --batch` as a real process: kill -9 after submission and restart, --no-wait,
`status` with batches in flight, and a server with no batch API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

from test_batch import add_problems, mixed_script, outcome

from rel_core.batch import open_batch_views
from rel_core.store import Store


def write_config(directory):
    (directory / "rel.toml").write_text(
        'generator = "openai:cli-gen"\ncritic = "anthropic:cli-critic"\n'
        "[openai]\nmax_retries = 1\ntimeout = 20\n[anthropic]\nmax_retries = 1\ntimeout = 20\n"
        "[loop]\nmax_iterations = 1\ncritic_when_correct = true\n"
    )


def environment(tmp_path, server):
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        "OPENAI_BASE_URL": server.openai_base_url,
        "ANTHROPIC_BASE_URL": server.anthropic_base_url,
        "OPENAI_API_KEY": "sk-test-loopback",
        "ANTHROPIC_API_KEY": "sk-ant-test-loopback",
    }


def rel_tui(db, env, *args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rel_tui", "--db", str(db), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def open_batches(db):
    with Store(db) as store:
        return open_batch_views(store)


def test_killed_after_submission_a_restart_resubmits_nothing_live_and_collects_it(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    markers = [f"[K{i}]" for i in range(12)]
    add_problems(db, markers)
    write_config(tmp_path)
    llm_server.respond_with(mixed_script(markers))
    llm_server.batches.delay = 4.0  # the first batch is still live when the run is killed
    env = environment(tmp_path, llm_server)

    first = rel_tui(db, env, "--auto", "--batch", "--poll-seconds", "0.2")
    deadline = time.monotonic() + 60
    while not [b for b in open_batches(db) if b.state == "submitted"]:
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    live = [ids for _, ids in llm_server.batches.submissions]
    assert len(live) == 1 and len(live[0]) == len(markers)

    llm_server.batches.delay = 0.2
    second = rel_tui(db, env, "--auto", "--batch", "--poll-seconds", "0.2")
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    sent = [cid for _, ids in llm_server.batches.submissions for cid in ids]
    assert len(sent) == len(set(sent))
    generations = Counter(cid.split("-")[0] for cid in sent if "-generate-" in cid)
    assert set(generations.values()) == {1}  # the live batch was collected, never sent again
    assert all(state in ("awaiting_review", "failed") for state, *_ in outcome(db).values())
    assert not open_batches(db)
    with Store(db) as store:  # no claim outlives the run
        assert store.conn.execute("select count(*) from problems where claimed_by is not null").fetchone()[0] == 0


def test_no_wait_submits_says_how_to_collect_and_status_shows_the_batch(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    add_problems(db, ["[N1]", "[N2]", "[N3]"])
    write_config(tmp_path)
    llm_server.respond_with(mixed_script(["[N1]", "[N2]", "[N3]"]))
    llm_server.batches.delay = 3600.0
    env = environment(tmp_path, llm_server)
    out, err = rel_tui(db, env, "--auto", "--batch", "--no-wait").communicate(timeout=60)
    lines = [line for line in err.splitlines() if "collect with" in line]
    assert len(lines) == 1 and f"rel-tui --db {db} --auto --batch" in lines[0], err
    assert "1 batch in flight (3 requests)" in lines[0]

    status = rel_tui(db, env, "status")
    out, err = status.communicate(timeout=60)
    assert status.returncode == 0, err
    assert "batch #1 openai:cli-gen batch_" in out and "in_progress 0/3" in out

    # still live: a second --no-wait run sends nothing new
    rel_tui(db, env, "--auto", "--batch", "--no-wait").communicate(timeout=60)
    assert len(llm_server.batches.submissions) == 1
    for batch in llm_server.batches.all.values():
        batch.ends_at = 0  # the provider finishes it
    llm_server.batches.delay = 0.1
    done = rel_tui(db, env, "--auto", "--batch", "--poll-seconds", "0.1")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert {state for state, *_ in outcome(db).values()} == {"awaiting_review"}


def test_a_server_without_a_batch_api_is_one_line_and_exit_2(tmp_path, llm_server):
    db = tmp_path / "rel.db"
    add_problems(db, ["[X]"])
    write_config(tmp_path)
    llm_server.batches.enabled = False
    process = rel_tui(db, environment(tmp_path, llm_server), "--auto", "--batch")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.strip().count("\n") == 0 and "has no batch API" in err and err.startswith("Error: ")
    assert not [r for r in llm_server.requests if r.path.endswith(("/chat/completions", "/messages"))]
