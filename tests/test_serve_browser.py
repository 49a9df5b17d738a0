"""`rel-tui serve`: the review app in a real headless Chromium, and the server's refusals.

The browser test starts the real command on a free loopback port, opens the page in Debian's
chromium driven over the DevTools protocol (playwright's client, with the system browser: no
browser is ever downloaded), accepts an item with a keystroke and finds the decision in SQLite.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tui_data import make_db

from rel_core.models import Decision
from rel_core.store import Store

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOT_ENV = "SERVE_TEST_SCREENSHOT"
"""Set to a path to keep the browser test's screenshot there (to look at it)."""


def chromium_path() -> str | None:
    """Debian's chromium, installed here with apt-get when it is missing and we may (root, apt)."""
    found = next(filter(None, (shutil.which(name) for name in ("chromium", "chromium-browser"))), None)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        if subprocess.run(command, capture_output=True, env=env, timeout=900).returncode != 0:
            return None
    return shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float, what: str, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"rel-tui serve exited ({process.returncode}) while waiting for {what}")
        if result := condition():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def serving(db: Path, tmp_path: Path, *args: str, annotator: str | None = None) -> Iterator[tuple[int, subprocess.Popen]]:
    port = free_port()
    preset = ["--annotator", annotator] if annotator else []
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "rel_tui", "--db", str(db), *preset, "serve", "--port", str(port), *args],
            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True,
        )  # fmt: skip
        try:
            wait_until(lambda: port_open(port), 30, "the server's port", process)
            yield port, process
        finally:
            stop(process)


def stop(process: subprocess.Popen) -> bool:
    """SIGTERM, as Ctrl+C would; True if the server and its sessions ended by themselves."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
        by_itself = True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        by_itself = False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # a review process the server left behind
        by_itself = False
    return by_itself


def claimed_by(db: Path, annotator: str) -> bool:
    with Store(db) as store:
        query = "select count(*) from problems where claimed_by is not null and claim_label like ?"
        return store.conn.execute(query, [f"%{annotator}%"]).fetchone()[0] > 0


def accepted_by(db: Path, annotator: str) -> list:
    with Store(db) as store:
        rows = store.conn.execute(
            "select problem_id, decision from reviews where annotator = ? and undone_at is null", [annotator]
        ).fetchall()
    return [(problem_id, decision) for problem_id, decision in rows if decision == str(Decision.ACCEPTED)]


@pytest.mark.timeout(1200)  # the first run on a new machine installs chromium
def test_accept_through_the_page_in_headless_chromium(tmp_path):
    browser_path = chromium_path()
    if browser_path is None:
        pytest.skip("no Chromium on this machine, and it could not be installed (needs root and apt-get)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the test extra) is not installed")
    db = make_db(tmp_path / "rel.db", count=3)
    screenshot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "page.png")
    with serving(db, tmp_path) as (port, server), sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"http://127.0.0.1:{port}/?annotator=browser-expert")
            page.wait_for_selector("body.-loaded", timeout=30_000)  # the websocket to the app is open
            wait_until(lambda: claimed_by(db, "browser-expert"), 30, "the review app to open an item")
            page.wait_for_timeout(1500)  # let the first frame reach the canvas
            page.screenshot(path=str(screenshot))
            page.click("#terminal")
            page.keyboard.press("a")
            decided = wait_until(lambda: accepted_by(db, "browser-expert"), 20, "the accepted review in the database")
            assert stop(server), "the server did not stop its sessions on SIGTERM"
        finally:
            browser.close()
    assert decided == [(1, str(Decision.ACCEPTED))]
    assert not claimed_by(db, "browser-expert")  # the session's app quit and gave its item back
    assert screenshot.stat().st_size > 20_000  # a drawn app, not a blank page


# -- what the server refuses (plain HTTP, no browser needed) ------------------------------------------


def http_status(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


WEBSOCKET_HEADERS = {
    "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}  # fmt: skip


def test_server_refuses_bad_names_foreign_hosts_and_foreign_origins(tmp_path):
    db = make_db(tmp_path / "rel.db", count=1)
    marker = tmp_path / "injected"  # the server runs in tmp_path: a shell would create it there
    with serving(db, tmp_path) as (port, _):
        assert http_status(port, "/") == 200  # the form asking for a name
        assert http_status(port, "/?annotator=alice") == 200
        same_origin = {**WEBSOCKET_HEADERS, "Origin": f"http://127.0.0.1:{port}"}
        for injection in ("x%3Btouch%20injected", "%24(touch%20injected)", "%60touch%20injected%60"):
            assert http_status(port, f"/?annotator={injection}") == 400
            assert http_status(port, f"/ws/{injection}", same_origin) == 400
        assert http_status(port, "/?annotator=alice", {"Host": f"rebound.example:{port}"}) == 403
        assert http_status(port, "/ws/alice", {**WEBSOCKET_HEADERS, "Origin": "http://evil.example"}) == 403
        assert http_status(port, "/ws/alice", WEBSOCKET_HEADERS) == 403  # no Origin at all
    assert not marker.exists()


def test_global_annotator_names_tabs_that_give_none(tmp_path):
    import urllib.request

    db = make_db(tmp_path / "rel.db", count=1)
    with (
        serving(db, tmp_path, annotator="bob") as (port, _),
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response,
    ):
        page = response.read().decode()
    assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws/bob"' in page


def test_non_loopback_host_needs_the_explicit_flag(tmp_path):
    db = make_db(tmp_path / "rel.db", count=1)
    refused = subprocess.run(
        [sys.executable, "-m", "rel_tui", "--db", str(db), "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    [line] = refused.stderr.strip().splitlines()
    assert "--i-understand-this-is-public" in line


def test_public_bind_warns(tmp_path):
    db = make_db(tmp_path / "rel.db", count=1)
    with serving(db, tmp_path, "--host", "0.0.0.0", "--i-understand-this-is-public") as (port, _):
        assert http_status(port, "/?annotator=alice") == 200
    assert "WARNING: serving on 0.0.0.0" in (tmp_path / "serve.log").read_text()


def test_annotator_names_are_validated():
    import rel_tui.cli  # noqa: F401  (command modules are loaded through the CLI)
    from rel_tui.commands.serve import valid_annotator

    assert valid_annotator("alice.b-2@lab") == "alice.b-2@lab"
    for bad in ("", "-rf", "a b", "a;b", "$(id)", "a\nb", "é", "x" * 65, None):
        assert valid_annotator(bad) is None
