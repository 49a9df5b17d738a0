"""Claims name their holder (host, pid, start time): a dead holder on this host loses them at once,
a live one or one on another host keeps them until the lease runs out. Real SQLite files, real processes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest

from rel_core import migrations
from rel_core.claims import ClaimHolder, holder_is_dead, process_start_time, this_host
from rel_core.models import Problem, ProblemState
from rel_core.review_session import ReviewSession
from rel_core.store import Store

QUEUED = [ProblemState.PENDING, ProblemState.IN_PROGRESS]


@pytest.fixture
def db(tmp_path):
    return tmp_path / "rel.db"


@pytest.fixture
def store(db):
    with Store(db) as store:
        yield store


def add(store, *markers, state=ProblemState.PENDING):
    return [store.add_problem(Problem(text=f"{m} What is 6 x 7?", reference_answer="42", state=state))[0] for m in markers]


@pytest.fixture
def live_process():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def exited_pid() -> tuple[int, int | None]:
    """The pid and start time of a process that ran and is gone (and reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    started = process_start_time(process.pid)
    process.communicate(b"")
    return process.pid, started


def holder(pid: int, started: int | None, host: str | None = None, name: str = "gone") -> ClaimHolder:
    return ClaimHolder(
        owner=f"auto:{name}:{pid}", label=f"auto {name} pid {pid}", host=host or this_host(), pid=pid, started=started
    )


# -- the store ---------------------------------------------------------------------------------------


def test_a_dead_local_holders_claim_is_taken_over_at_once(store):
    [problem_id] = add(store, "[D1]")
    pid, started = exited_pid()
    assert started is not None, "procfs should give the child's start time"
    assert store.claim(problem_id, holder(pid, started), ttl_seconds=600)
    me = ClaimHolder.this_process("auto")
    assert store.claim_next_id(me, 600, QUEUED) is None  # its lease has ten minutes to go...

    assert store.reclaim_dead_local() == {f"auto gone pid {pid}": 1}  # ...but its holder is gone
    assert store.claim_next_id(me, 600, QUEUED) == problem_id
    assert store.claimed_by(problem_id) == me.owner and store.claim_label(problem_id) == me.label


def test_a_live_local_holder_keeps_its_claim(store, live_process):
    [problem_id] = add(store, "[L1]")
    alive = holder(live_process.pid, process_start_time(live_process.pid), name="alive")
    assert store.claim(problem_id, alive, ttl_seconds=600)
    assert store.reclaim_dead_local() == {}
    assert not store.claim(problem_id, ClaimHolder.this_process("auto"), 600)
    assert store.claimed_by(problem_id) == alive.owner


def test_this_process_is_alive_and_its_claims_stay(store):
    [problem_id] = add(store, "[L2]")
    me = ClaimHolder.this_process("review", "alice")
    assert me.label.startswith("review alice@") and me.started == process_start_time(me.pid)
    assert store.claim(problem_id, me, 600)
    assert store.reclaim_dead_local() == {} and store.claimed_by(problem_id) == me.owner


def test_a_holder_on_another_host_keeps_its_claim_until_it_expires(store):
    [problem_id] = add(store, "[R1]")
    pid, started = exited_pid()  # dead here, but that pid on another host says nothing
    remote = holder(pid, started, host="another-host.example", name="remote")
    assert store.claim(problem_id, remote, ttl_seconds=0.5)
    me = ClaimHolder.this_process("auto")
    assert store.reclaim_dead_local() == {}
    assert store.claim_next_id(me, 600, QUEUED) is None
    [held] = store.claims_held_by_others(QUEUED, me)
    assert (held.holder, held.count) == (f"auto remote pid {pid}", 1)
    time.sleep(0.6)
    assert store.claims_held_by_others(QUEUED, me) == []
    assert store.claim_next_id(me, 600, QUEUED) == problem_id


def test_a_holder_in_another_pid_namespace_of_this_host_is_treated_as_remote(store):
    [problem_id] = add(store, "[R2]")
    pid, started = exited_pid()  # a container sharing our host name: its pids are not ours to look up
    assert this_host().startswith(f"{socket.gethostname()} pid:[")
    assert store.claim(problem_id, holder(pid, started, host=f"{socket.gethostname()} pid:[1]", name="container"), 600)
    assert store.reclaim_dead_local() == {}
    assert store.claimed_by(problem_id) is not None


def test_a_reused_pid_counts_as_dead(store, live_process):
    [problem_id] = add(store, "[P1]")
    started = process_start_time(live_process.pid)
    # The claim was made by an earlier process with the same pid: a different start time.
    earlier = holder(live_process.pid, started - 100, name="earlier")
    assert store.claim(problem_id, earlier, 600)
    assert holder_is_dead(live_process.pid, started - 100) and not holder_is_dead(live_process.pid, started)
    assert store.reclaim_dead_local() == {f"auto earlier pid {live_process.pid}": 1}
    assert store.claimed_by(problem_id) is None


def test_a_killed_but_unreaped_holder_counts_as_dead(store):
    [problem_id] = add(store, "[Z1]")
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert store.claim(problem_id, holder(process.pid, process_start_time(process.pid), name="zombie"), 600)
        process.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not holder_is_dead(process.pid, None) and time.monotonic() < deadline:
            time.sleep(0.02)  # a zombie until we reap it below
        assert store.reclaim_dead_local() == {f"auto zombie pid {process.pid}": 1}
    finally:
        process.kill()
        process.wait()


def test_without_a_start_time_a_live_pid_keeps_and_a_dead_one_loses(store, live_process):
    kept, lost = add(store, "[N1]", "[N2]")
    dead_pid, _ = exited_pid()
    assert store.claim(kept, holder(live_process.pid, None, name="nostart-alive"), 600)
    assert store.claim(lost, holder(dead_pid, None, name="nostart-dead"), 600)
    assert store.reclaim_dead_local() == {f"auto nostart-dead pid {dead_pid}": 1}
    assert store.claimed_by(kept) is not None and store.claimed_by(lost) is None


def test_claims_without_a_holder_are_leases_only(store):
    [problem_id] = add(store, "[S1]")
    assert store.claim(problem_id, "some-old-runner", 0.3)  # a bare owner id: no host, no pid
    assert store.reclaim_dead_local() == {}
    assert store.claim_label(problem_id) == "some-old-runner"
    time.sleep(0.4)
    assert store.claim(problem_id, ClaimHolder.this_process("auto"), 600)


def test_renewal_extends_our_claims_and_names_the_ones_taken_over(store):
    ours, stolen = add(store, "[H1]", "[H2]")
    me = ClaimHolder.this_process("auto")
    assert store.claim(ours, me, 0.2) and store.claim(stolen, me, 0.2)
    time.sleep(0.3)
    assert store.claim(stolen, "someone-else", 600)  # expired, so someone else could take it
    assert store.renew([ours, stolen], me, 600) == [stolen]
    assert store.claimed_by(ours) == me.owner  # expired but untaken: renewed, live again


def test_claims_held_by_others_are_counted_per_holder(store):
    ids = add(store, "[W1]", "[W2]", "[W3]", "[W4]")
    me = ClaimHolder.this_process("auto")
    bob = holder(1, None, host="box2", name="bob")
    assert store.claim(ids[0], bob, 30) and store.claim(ids[1], bob, 60)
    assert store.claim(ids[2], "review:ana:x", 45)
    assert store.claim(ids[3], me, 60)  # ours: not waited on
    held = store.claims_held_by_others(QUEUED, me)
    assert [(h.holder, h.count) for h in held] == [("auto bob pid 1", 2), ("review:ana:x", 1)]
    assert held[0].until == store.conn.execute("select claim_expires from problems where id = ?", [ids[1]]).fetchone()[0]


def test_release_all_frees_every_claim_of_one_holder(store):
    ids = add(store, "[A1]", "[A2]", "[A3]")
    me, other = ClaimHolder.this_process("auto"), ClaimHolder.this_process("auto")
    assert store.claim(ids[0], me, 60) and store.claim(ids[1], me, 60) and store.claim(ids[2], other, 60)
    assert store.release_all(me) == 2
    assert [store.claimed_by(i) for i in ids] == [None, None, other.owner]


def test_upgrade_keeps_claims_made_before_holders_were_recorded(db, monkeypatch):
    older = [fn for fn in migrations.MIGRATIONS if fn.__name__ != "m004_claim_holders"]
    monkeypatch.setattr(migrations, "MIGRATIONS", older)
    with Store(db) as store:
        [problem_id] = add(store, "[U1]")
        assert (
            store.conn.execute("select count(*) from pragma_table_info('problems') where name = 'claim_pid'").fetchone()[0] == 0
        )
        store.conn.execute("update problems set claimed_by = 'old-runner', claim_expires = '9999' where id = ?", [problem_id])
    monkeypatch.undo()
    with Store(db) as store:
        columns = {row[1] for row in store.conn.execute("pragma table_info('problems')")}
        assert {"claim_label", "claim_host", "claim_pid", "claim_started"} <= columns
        assert store.reclaim_dead_local() == {}
        assert store.claimed_by(problem_id) == "old-runner"


# -- the review TUI's session ---------------------------------------------------------------------------


CLAIM_AND_HOLD = """
import sys, time
from rel_core.store import Store
from rel_core.review_session import ReviewSession
session = ReviewSession(Store(sys.argv[1]), sys.argv[2])
assert session.next()
print(session.problem_id, flush=True)
time.sleep(60)
"""


def review_in_a_process_then_kill_it(db, annotator: str) -> int:
    """A review TUI's session in another process opens the first item and is killed -9 holding it."""
    process = subprocess.Popen([sys.executable, "-c", CLAIM_AND_HOLD, str(db), annotator], stdout=subprocess.PIPE, text=True)
    try:
        problem_id = int(process.stdout.readline())
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    return problem_id


def test_a_restarted_review_session_gets_the_item_a_killed_one_held(db):
    with Store(db) as store:
        first, _ = add(store, "[T1]", "[T2]", state=ProblemState.AWAITING_REVIEW)
    assert review_in_a_process_then_kill_it(db, "alice") == first
    with Store(db) as store:
        assert store.claim_label(first).startswith("review alice@")
        session = ReviewSession(store, "alice")  # what a restarted `rel-tui` builds
        assert session.next() and session.problem_id == first
        assert store.claimed_by(first) == session.owner


def test_an_open_item_is_reclaimed_when_its_holder_dies_after_the_session_started(db):
    with Store(db) as store:
        first, _ = add(store, "[T3]", "[T4]", state=ProblemState.AWAITING_REVIEW)
        session = ReviewSession(store, "alice")
        assert review_in_a_process_then_kill_it(db, "bob") == first
        assert session.open(first)


def test_a_live_review_session_keeps_its_item(db):
    with Store(db) as store:
        first, second = add(store, "[T5]", "[T6]", state=ProblemState.AWAITING_REVIEW)
        bob = ReviewSession(store, "bob")
        assert bob.next() and bob.problem_id == first
        alice = ReviewSession(Store(db), "alice")
        assert not alice.open(first)
        assert alice.next() and alice.problem_id == second
        alice.store.close()


def test_a_review_claim_from_another_host_is_kept_until_it_expires(db):
    with Store(db) as store:
        first, _ = add(store, "[T7]", "[T8]", state=ProblemState.AWAITING_REVIEW)
        pid, started = exited_pid()
        assert store.claim(first, holder(pid, started, host="laptop.example", name="carol"), 0.5)
        session = ReviewSession(store, "alice")
        assert not session.open(first)
        time.sleep(0.6)
        assert session.open(first)


# -- the runner on a busy database ---------------------------------------------------------------------


async def test_a_claim_refused_by_a_busy_database_is_logged_and_tried_again(db, llm_env, caplog):
    import asyncio
    import logging

    from db_lock import database_held
    from loop_helpers import Script, solution
    from test_runner import run

    with Store(db) as store:
        add(store, "[B1]")
    script = Script().on("[B1]", "generate", solution("42"))
    llm_env.respond_with(script)
    caplog.set_level(logging.WARNING, logger="rel_core.runner")
    locker = database_held(db)  # another process writing while the run starts

    async def unlock_later():
        await asyncio.sleep(0.8)
        locker.release()

    unlocking = asyncio.create_task(unlock_later())
    with Store(db, busy_timeout=0.05) as store:
        stats, _ = await run(db, llm_env, store=store)
    await unlocking
    assert stats.verified == 1
    refused = [r.getMessage() for r in caplog.records if "claiming the next problem failed" in r.getMessage()]
    assert refused and all("database is locked" in m and "\n" not in m for m in refused)
