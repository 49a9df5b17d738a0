"""The real `rel-tui` in a real terminal (tmux): keys in, screen out, decisions in the database."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
from tui_data import make_db

from rel_core.models import Decision, ProblemState
from rel_core.store import Store

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """One tmux server on its own socket, so tests never touch the user's sessions."""

    def __init__(self, width: int, height: int, command: str, env: dict[str, str]):
        self.socket = f"rel-tui-test-{uuid.uuid4().hex[:8]}"
        self.env = env
        self.run("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), command)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=self.env, timeout=30)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t").stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "t", *keys)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; screen was:\n{self.screen()}")

    def pane_pid(self) -> int:
        return int(self.run("list-panes", "-t", "t", "-F", "#{pane_pid}").stdout.split()[0])

    def alive(self) -> bool:
        return self.run("has-session", "-t", "t").returncode == 0

    def wait_closed(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.alive():
            assert time.monotonic() < deadline, f"rel-tui did not exit; screen:\n{self.screen()}"
            time.sleep(0.1)

    def kill(self) -> None:
        self.run("kill-server")


def running(pid: int) -> bool:
    """True while the process exists and is not a zombie (orphans may stay unreaped in containers)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: fall back to a signal probe
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def wait_exited(pid: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while running(pid):
        assert time.monotonic() < deadline, f"rel-tui (pid {pid}) did not exit"
        time.sleep(0.05)


@pytest.fixture
def tmux_app(tmp_path):
    started: list[Tmux] = []

    def start(db, width: int = 100, height: int = 30, via_shell: bool = False) -> Tmux:
        env = {**os.environ, "HOME": str(tmp_path), "TERM": "xterm-256color"}
        env.pop("TMUX", None)
        env.pop("NO_COLOR", None)
        command = f"{shlex.quote(sys.executable)} -m rel_tui --db {shlex.quote(str(db))} --annotator tmux-tester"
        # Through a shell, rel-tui is not the pane's first process: the hang-up then reaches it as
        # it reaches a program started from a login shell over SSH.
        command = f"{command}; true" if via_shell else f"exec {command}"
        session = Tmux(width, height, command, env)
        started.append(session)
        return session

    yield start
    for session in started:
        session.kill()


def test_accept_in_tmux_is_in_the_database(tmp_path, tmux_app):
    db = make_db(tmp_path / "rel.db", count=2)
    term = tmux_app(db)
    term.wait_for("0/2 reviewed")
    term.wait_for("Accept")
    term.keys("a")
    term.wait_for("1/2 reviewed")
    term.keys("q")
    term.wait_closed()
    with Store(db) as store:
        [review] = store.history(1).reviews
        assert review.decision == Decision.ACCEPTED
        assert review.annotator == "tmux-tester"
        assert store.get_problem(1).state == ProblemState.ACCEPTED
        assert store.claimed_by(2) is None  # released on quit


def rel_tui_pid(db) -> int:
    """The rel-tui process serving `db` (found by its command line)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    args = cmdline.read().split(b"\0")
            except OSError:
                continue
            if b"rel_tui" in args and str(db).encode() in args and running(int(entry)):
                return int(entry)
    raise AssertionError("rel-tui is not running")


@pytest.mark.parametrize("how", ["SIGTERM", "dropped terminal (SIGHUP)", "terminal server gone, via a shell"])
def test_killed_while_editing_keeps_the_edit(tmp_path, tmux_app, how):
    db = make_db(tmp_path / "rel.db", count=1)
    term = tmux_app(db, 80, 24, via_shell="shell" in how)
    term.wait_for("Accept")
    term.keys("e")
    term.wait_for("ctrl+s")
    term.keys("-l", "UNSAVED WORK ")
    term.wait_for("UNSAVED WORK")
    pid = rel_tui_pid(db)
    if how == "SIGTERM":
        os.kill(pid, signal.SIGTERM)
    elif "SIGHUP" in how:
        term.run("kill-session", "-t", "t")  # tmux hangs up the pane, like a dropped SSH connection
    else:
        term.kill()
    wait_exited(pid)
    with Store(db) as store:
        draft = store.load_edit_draft(1, "tmux-tester")
        assert draft is not None and draft["text"].startswith("UNSAVED WORK ")
        assert len(store.history(1).attempts) == 2  # kept as a draft, not as an attempt
        assert store.claimed_by(1) is None  # and the item is free for others at once


def test_ctrl_s_right_after_typing_keeps_every_key(tmp_path, tmux_app):
    db = make_db(tmp_path / "rel.db", count=1)
    term = tmux_app(db, 80, 24)
    term.wait_for("Accept")
    term.keys("e")
    term.wait_for("ctrl+s")
    term.keys("Typed fast, then saved. ", "C-s")  # one write: ctrl+s lands while the editor handles the text
    term.wait_for("Saved as attempt")
    term.keys("Escape")
    time.sleep(0.5)  # a key right after escape would read as alt+key
    term.keys("q")
    term.wait_closed()
    with Store(db) as store:
        edit = store.history(1).attempts[-1]
        assert edit.kind == "human_edit"
        assert edit.text.startswith("Typed fast, then saved. ")
