"""`rel-tui --auto` against a server we did not write: a real LiteLLM proxy with `mock_response` models.

LiteLLM speaks both wire formats (OpenAI chat completions and Anthropic messages, JSON and SSE) and
answers the way real proxies do: an unknown model and a bad key are HTTP 400, not 404/401.
It pins an older Rich than Textual wants, so it lives in its own virtualenv (`.venv-litellm`),
built by the first test that needs it and reused afterwards. Where it cannot be installed (no
package registry) the tests skip and say why.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rel_core.models import Problem, ProblemState
from rel_core.store import Store

LITELLM = "litellm[proxy]==1.108.7"
VENV = Path(__file__).resolve().parent.parent / ".venv-litellm"
MASTER_KEY = "sk-litellm-master-test"

RIGHT = "First thoughts: 6 x 7 is six sevens.\nCheck: 7 + 7 + 7 + 7 + 7 + 7 = 42.\n<ANSWER>42</ANSWER>"
WRONG = "First thoughts: 6 x 7.\nI count 41.\n<ANSWER>41</ANSWER>"
CRITIC = json.dumps({"verdict": "incorrect", "first_error_step": 2, "error_description": "Recount the sevens."})

MODELS = {  # model name -> (LiteLLM provider prefix, the reply it always gives)
    "mock-right": ("openai", RIGHT),
    "mock-wrong": ("openai", WRONG),
    "mock-critic": ("openai", CRITIC),
    "mock-claude-right": ("anthropic", RIGHT),
}


def _litellm_executable() -> Path:
    executable = VENV / "bin" / "litellm"
    if executable.exists():
        return executable
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True)
    install = subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", LITELLM], capture_output=True, text=True, timeout=900)
    if install.returncode != 0 or not executable.exists():
        last = (install.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"could not install {LITELLM} into {VENV.name}: {last}")
    return executable


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config_yaml() -> str:
    lines = ["model_list:"]
    for name, (provider, reply) in MODELS.items():
        lines += [
            f"  - model_name: {name}",
            "    litellm_params:",
            f"      model: {provider}/{name}",
            "      api_key: not-used",
            f"      mock_response: {json.dumps(reply)}",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def litellm_proxy(tmp_path_factory):
    """A LiteLLM proxy on a loopback port; yields its base URL."""
    executable = _litellm_executable()
    directory = tmp_path_factory.mktemp("litellm")
    (directory / "config.yaml").write_text(_config_yaml())
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(directory),
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # otherwise it downloads its price map
        "LITELLM_TELEMETRY": "False",
    }
    log = (directory / "proxy.log").open("w")
    process = subprocess.Popen(
        [str(executable), "--config", "config.yaml", "--host", "127.0.0.1", "--port", str(port)],
        cwd=directory,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, base_url, directory / "proxy.log")
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_until_up(process: subprocess.Popen, base_url: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the LiteLLM proxy exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/health/liveliness", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"the LiteLLM proxy did not come up in 120 s: {log.read_text()[-2000:]}")


def _project(tmp_path, generator: str, critic: str = "openai:mock-critic", problems: int = 3) -> Path:
    db = tmp_path / "rel.db"
    (tmp_path / "rel.toml").write_text(
        f'generator = "{generator}"\ncritic = "{critic}"\n'
        "[openai]\nmax_retries = 1\ntimeout = 30\n[anthropic]\nmax_retries = 1\ntimeout = 30\n"
        "[loop]\nmax_iterations = 1\nconcurrency = 2\n"
    )
    with Store(db) as store:
        for number in range(problems):
            store.add_problem(Problem(text=f"[L{number}] What is 6 x 7?", reference_answer="42", reference_solution="6 x 7 = 42"))
    return db


def _auto(db: Path, base_url: str, key: str = MASTER_KEY, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(db.parent),
        "OPENAI_API_KEY": key,
        "OPENAI_BASE_URL": f"{base_url}/v1",
        "ANTHROPIC_API_KEY": key,
        "ANTHROPIC_BASE_URL": base_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "rel_tui", "--db", str(db), "--auto"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _states(db: Path) -> dict[ProblemState, int]:
    with Store(db) as store:
        return {state: count for state, count in store.counts().items() if count}


def _calls(db: Path) -> list[dict]:
    with Store(db) as store:
        return list(store.db.query("select model, input_tokens, output_tokens, error from llm_calls order by id"))


pytestmark = [pytest.mark.timeout(1200)]


def test_openai_wire_right_first_time(litellm_proxy, tmp_path):
    db = _project(tmp_path, "openai:mock-right")
    result = _auto(db, litellm_proxy)
    assert result.returncode == 0, result.stderr
    assert _states(db) == {ProblemState.AWAITING_REVIEW: 3}
    calls = _calls(db)
    assert len(calls) == 3  # the answer check passed: no critic call was needed
    assert all(call["error"] is None and call["output_tokens"] for call in calls)
    with Store(db) as store:
        texts = [row["text"] for row in store.db.query("select text from attempts")]
    assert texts == [RIGHT] * 3


def test_openai_wire_wrong_goes_round_the_loop(litellm_proxy, tmp_path):
    db = _project(tmp_path, "openai:mock-wrong", problems=2)
    result = _auto(db, litellm_proxy)
    assert result.returncode == 0, result.stderr
    assert _states(db) == {ProblemState.FAILED: 2}  # the mock never gets it right
    models = [call["model"] for call in _calls(db)]
    assert "mock-critic" in " ".join(models) and len(models) >= 2 * 3  # generate, critic, revise at least
    with Store(db) as store:
        hints = [row["error_description"] for row in store.db.query("select error_description from critiques")]
    assert "Recount the sevens." in hints


def test_anthropic_wire(litellm_proxy, tmp_path):
    db = _project(tmp_path, "anthropic:mock-claude-right", problems=2)
    result = _auto(db, litellm_proxy)
    assert result.returncode == 0, result.stderr
    assert _states(db) == {ProblemState.AWAITING_REVIEW: 2}
    calls = _calls(db)
    assert len(calls) == 2 and all(call["input_tokens"] and call["output_tokens"] for call in calls)


@pytest.mark.parametrize(("generator", "key"), [("openai:no-such-model", MASTER_KEY), ("openai:mock-right", "sk-wrong")])
def test_unknown_model_or_bad_key_stops_the_run(litellm_proxy, tmp_path, generator, key):
    """LiteLLM answers both with HTTP 400; the run stops instead of marking every problem errored."""
    db = _project(tmp_path, generator, problems=8)
    result = _auto(db, litellm_proxy, key=key)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert "stop" in result.stderr.lower(), last_line
    states = _states(db)
    assert states.get(ProblemState.ERRORED, 0) < 8
    assert states.get(ProblemState.AWAITING_REVIEW, 0) == 0
