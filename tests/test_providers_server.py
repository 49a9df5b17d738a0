"""The loopback LLM server itself: standalone mode (for benchmarks) and its request log."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from llm_server import LLMServer, Reply

SERVER = Path(__file__).parent / "llm_server.py"


def post(url: str, body: dict) -> tuple[int, bytes]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_standalone_process_serves_until_terminated():
    process = subprocess.Popen([sys.executable, str(SERVER), "--port", "0", "--text", "hello"], stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().split()[-1]
        status, body = post(f"{url}/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == "hello"
    finally:
        process.terminate()
        assert process.wait(10) == 0


def test_queue_then_responder_then_default_and_a_log_of_everything():
    with LLMServer() as server:
        server.default = Reply(text="default")
        server.enqueue("queued", Reply.error(503, "busy"))
        server.respond_with(lambda request: "scripted" if "magic" in request.prompt else None)
        url = f"{server.openai_base_url}/chat/completions"
        answers = [
            post(url, {"model": "m", "messages": [{"role": "user", "content": text}]}) for text in ("a", "b", "magic", "c")
        ]
        assert [status for status, _ in answers] == [200, 503, 200, 200]
        texts = [json.loads(body)["choices"][0]["message"]["content"] for status, body in answers if status == 200]
        assert texts == ["queued", "scripted", "default"]
        assert json.loads(answers[1][1]) == {"error": {"message": "busy", "type": "server_error", "param": None, "code": None}}
        assert [r.prompt for r in server.requests] == ["a", "b", "magic", "c"]
        assert server.requests[0].headers["content-type"] == "application/json"
        assert post(f"{server.url}/nowhere", {})[0] == 404


def test_a_responder_that_raises_is_answered_visibly():
    with LLMServer() as server:
        server.respond_with(lambda request: 1 / 0)
        status, body = post(f"{server.anthropic_base_url}/v1/messages", {"model": "m", "messages": []})
        assert status == 418 and b"ZeroDivisionError" in body
        assert isinstance(server.responder_errors[0], ZeroDivisionError)
