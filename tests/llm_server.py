"""A scripted loopback LLM server speaking the OpenAI chat-completions and Anthropic messages protocols.

Tests point the real SDK clients at it, so every byte goes over a real socket:

    server = LLMServer().start()            # or the `llm_server` pytest fixture (`llm_env` also sets
    server.openai_base_url                  #   OPENAI_/ANTHROPIC_ BASE_URL and dummy keys for it)
    server.anthropic_base_url               # http://127.0.0.1:PORT (the SDK adds /v1/messages)
    server.enqueue("first answer", Reply.rate_limited(retry_after_ms=10), "after the 429")
    server.respond_with(lambda req: "42" if "6 x 7" in req.prompt else None)
    server.default = Reply(text="fallback")
    server.latency = 0.05                   # every request waits this long before its reply
    server.requests                         # every request received: path, body, headers, prompt...

Replies come from the queue first, then the responder function (called on the server's thread;
None falls through), then `server.default`. A reply is plain text or a `Reply`: usage or none,
an HTTP error (Reply.error / rate_limited / insufficient_quota / server_error / auth_failed /
model_not_found / context_length_exceeded), a delay, slow chunks, a stream cut off mid-way, a body
sent verbatim (`raw_body`, any status), `content: null` (text=None), no choices, prompt-cache usage
(`cached_tokens`, `cache_write_tokens`, in each protocol's fields), reasoning text in
`reasoning_content` / `reasoning` / a thinking block, a reply dripped one byte at a time (`drip`),
and Anthropic stream usage sent the way LiteLLM's proxy does (`start_input_tokens=0`).
Streams follow each protocol: OpenAI `data:` chunks, a usage chunk when
stream_options.include_usage, then `data: [DONE]`; Anthropic message_start, content_block_start,
content_block_delta..., content_block_stop, message_delta (with usage), message_stop.

Both batch APIs are served too, in `server.batches` (`.enabled = False` turns them off: a 404, as
most OpenAI-compatible servers answer): OpenAI files upload/content and batches
create/retrieve/list/cancel with output and error files; Anthropic message batches
create/retrieve/list/cancel/results. Each batch request is answered by the same
queue/responder/default as a direct call, when the batch ends (`.delay` seconds after it was
created); results come back shuffled. `.expires(request)` -> True makes a request expire, a scripted
error reply makes it error, `.validation_error` fails every batch's validation, and `.submissions`
lists (provider, custom_ids) of every batch created.

Standalone, for benchmarks: `python tests/llm_server.py --port 0 --latency-ms 50` prints
`LLM server listening on http://127.0.0.1:PORT` and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# -- what a test scripts ------------------------------------------------------------------------


@dataclass
class Reply:
    """One scripted answer. Fields that do not apply to a reply's kind are ignored."""

    text: str | None = "OK"
    """None: OpenAI `content: null`, Anthropic no text block (as servers do when only reasoning came back)."""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str | None = None
    """For status >= 400: the error message, wrapped in the protocol's error body."""
    error_code: str | None = None
    """OpenAI `error.code` (e.g. insufficient_quota, context_length_exceeded)."""
    error_type: str | None = None
    """`error.type`; defaults to what each API sends for the status."""
    raw_body: str | None = None
    """Send this body verbatim instead, with any status (e.g. an HTML page from a proxy)."""
    delay: float = 0.0
    """Seconds to wait before answering, on top of the server's latency."""
    chunks: list[str] | None = None
    """How a streamed text is split into deltas; by default, word by word."""
    chunk_delay: float = 0.0
    """Seconds between streamed deltas."""
    cut_after: int | None = None
    """Streams only: drop the connection after this many SSE events, mid-body."""
    end_cleanly: bool = False
    """With cut_after: end the body properly there instead, as a server that gave up would."""
    usage: bool = True
    """Send token usage (OpenAI streams send it only when asked with stream_options)."""
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str = "stop"
    """OpenAI vocabulary (stop, length); translated to end_turn / max_tokens for Anthropic."""
    model: str | None = None
    """The model the answer claims to come from; defaults to the one requested."""
    reasoning: str | None = None
    """Reasoning text sent beside the answer: OpenAI-compatible servers put it in `reasoning_field`
    (vLLM, llama.cpp, DeepSeek: reasoning_content; Ollama, newer vLLM: reasoning), Anthropic in a
    thinking block."""
    reasoning_field: str = "reasoning_content"
    no_choices: bool = False
    """OpenAI `choices: []` (streams: chunks with no choices); Anthropic `content: []`."""
    drip: float | None = None
    """Send the whole response one byte at a time, this many seconds apart: never silent for long,
    so per-read timeouts never fire."""
    start_input_tokens: int | None = None
    """Anthropic streams: input_tokens in message_start, with the real count then sent in message_delta
    (LiteLLM's proxy sends 0 first)."""
    cached_tokens: int | None = None
    """Prompt-cache reads: OpenAI `usage.prompt_tokens_details.cached_tokens` (part of prompt_tokens),
    Anthropic `usage.cache_read_input_tokens` (apart from input_tokens)."""
    cache_write_tokens: int | None = None
    """Anthropic `usage.cache_creation_input_tokens`: prompt tokens written to the cache."""

    # -- ready-made failures --

    @classmethod
    def error(cls, status: int, message: str, code: str | None = None, **fields: Any) -> Reply:
        return cls(status=status, error_message=message, error_code=code, **fields)

    @classmethod
    def rate_limited(cls, retry_after_ms: int = 10, message: str = "Rate limit reached, slow down.") -> Reply:
        return cls.error(429, message, "rate_limit_exceeded", headers={"retry-after-ms": str(retry_after_ms)})

    @classmethod
    def insufficient_quota(cls) -> Reply:
        return cls.error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            error_type="insufficient_quota",
            headers={"retry-after-ms": "1"},
        )

    @classmethod
    def server_error(cls, status: int = 500, retry_after_ms: int = 1) -> Reply:
        return cls.error(
            status, "The server had an error while processing your request.", headers={"retry-after-ms": str(retry_after_ms)}
        )

    @classmethod
    def auth_failed(cls) -> Reply:
        return cls.error(401, "Incorrect API key provided.", "invalid_api_key")

    @classmethod
    def model_not_found(cls, model: str = "the model") -> Reply:
        return cls.error(404, f"The model `{model}` does not exist or you do not have access to it.", "model_not_found")

    @classmethod
    def context_length_exceeded(cls) -> Reply:
        return cls.error(
            400,
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
            "context_length_exceeded",
        )


@dataclass
class RecordedRequest:
    """One request as the server received it. Headers are kept whole (keys lower-cased)."""

    method: str
    path: str
    protocol: str  # "openai", "anthropic" or "unknown"
    headers: dict[str, str]
    body: Any
    received_at: float

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def stream(self) -> bool:
        return bool(isinstance(self.body, dict) and self.body.get("stream"))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or []) if isinstance(self.body, dict) else []

    @property
    def system(self) -> str | None:
        """The system prompt, wherever the protocol puts it."""
        if self.protocol == "anthropic":
            system = self.body.get("system")
            return None if system is None else _text(system)  # a string, or text blocks (with cache_control)
        return next((_text(m.get("content")) for m in self.messages if m.get("role") == "system"), None)

    @property
    def prompt(self) -> str:
        """The system prompt and all user messages' text, joined: what per-problem scripting usually
        matches on (the loop puts the problem in the system message)."""
        users = [_text(m.get("content")) for m in self.messages if m.get("role") == "user"]
        return "\n".join(([self.system] if self.system else []) + users)


Responder = Callable[[RecordedRequest], "Reply | str | None"]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


# -- the server -----------------------------------------------------------------------------------


class LLMServer:
    """Loopback HTTP/1.1 server (keep-alive, chunked SSE) on its own event loop in a thread."""

    def __init__(self, latency: float = 0.0, host: str = "127.0.0.1", port: int = 0, keep_log: bool = True):
        self.latency = latency
        """Seconds every request waits before its reply starts; settable at any time."""
        self.host = host
        self.port = port
        self.keep_log = keep_log
        self.default: Reply | str = Reply()
        self._queue: list[Reply | str] = []
        self._responder: Responder | None = None
        self.responder_errors: list[Exception] = []
        """Exceptions the responder function raised; each was answered with a 418."""
        self._log: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[asyncio.Task] = set()
        self.batches = BatchBackend(self)

    # -- scripting --

    def enqueue(self, *replies: Reply | str) -> LLMServer:
        with self._lock:
            self._queue.extend(replies)
        return self

    def respond_with(self, responder: Responder | None) -> LLMServer:
        """`responder(request)` answers each request the queue does not; None falls through to `default`."""
        self._responder = responder
        return self

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    @property
    def pending_replies(self) -> int:
        with self._lock:
            return len(self._queue)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._log.clear()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    # -- lifecycle --

    def start(self) -> LLMServer:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run_in_thread, args=(ready,), name="llm-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("loopback LLM server did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run_in_thread(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self.listen())
        ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def listen(self) -> None:
        # asyncio.start_server, with a protocol that notes when each request's bytes arrived.
        loop = asyncio.get_running_loop()

        def protocol() -> _TimedProtocol:
            return _TimedProtocol(asyncio.StreamReader(limit=2**16, loop=loop), self._serve_connection, loop=loop)

        self._server = await loop.create_server(protocol, self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    # -- HTTP --

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            while await self._serve_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass  # the client went away, or the server is stopping
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection should close."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        method, path, headers = _parse_head(head)
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        # The latency counts from the request's arrival (its last bytes), not from when this task got
        # round to it: with many requests arriving at once, the server's own turn-around must not add
        # to every reply's latency. A reply never starts earlier than `latency` after the request.
        arrived = getattr(reader, "received_at", None) or time.monotonic()
        request = self._record(method, path, headers, raw)
        if self.batches.handles(path):
            await asyncio.sleep(max(0.0, arrived + self.latency - time.monotonic()))
            self.batches.serve(writer, method, path, headers, raw)
            await writer.drain()
            return headers.get("connection", "").lower() != "close"
        reply = self._reply_for(request)
        await asyncio.sleep(max(0.0, arrived + self.latency + reply.delay - time.monotonic()))
        if reply.drip is not None:
            return await self._drip(writer, request, reply)
        if request.protocol == "unknown":
            _write_json(writer, 404, {"error": {"message": f"no route for {method} {path}", "type": "not_found"}})
        elif reply.status >= 400 or reply.raw_body is not None:
            self._write_error(writer, request, reply)
        elif request.stream:
            return await self._write_stream(writer, request, reply)
        else:
            _write_json(writer, 200, _plain_body(request, reply), reply.headers)
        await writer.drain()
        return headers.get("connection", "").lower() != "close"

    async def _drip(self, writer: asyncio.StreamWriter, request: RecordedRequest, reply: Reply) -> bool:
        """The reply as it would be sent, written one byte every `reply.drip` seconds."""
        whole = _BufferWriter()
        plain = Reply(**{**reply.__dict__, "drip": None, "chunk_delay": 0.0, "cut_after": None})
        if request.stream and plain.status < 400 and plain.raw_body is None:
            await self._write_stream(whole, request, plain)
        elif plain.status >= 400 or plain.raw_body is not None:
            self._write_error(whole, request, plain)
        else:
            _write_json(whole, 200, _plain_body(request, plain), plain.headers)
        for i in range(len(whole.data)):
            writer.write(whole.data[i : i + 1])
            await writer.drain()
            await asyncio.sleep(reply.drip)
        return True

    def _record(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> RecordedRequest:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        protocol = "openai" if path.endswith("/chat/completions") else "anthropic" if path.endswith("/messages") else "unknown"
        request = RecordedRequest(method, path, protocol, headers, body, time.time())
        if self.keep_log:
            with self._lock:
                self._log.append(request)
        return request

    def _reply_for(self, request: RecordedRequest) -> Reply:
        with self._lock:
            scripted = self._queue.pop(0) if self._queue else None
        if scripted is None and self._responder is not None:
            try:
                scripted = self._responder(request)
            except Exception as exc:  # a bug in a test's script: answer visibly (418 is never retried)
                self.responder_errors.append(exc)
                scripted = Reply.error(418, f"the test's responder raised {exc!r}")
        if scripted is None:
            scripted = self.default
        return Reply(text=scripted) if isinstance(scripted, str) else scripted

    def _write_error(self, writer: asyncio.StreamWriter, request: RecordedRequest, reply: Reply) -> None:
        """An error body in the protocol's shape, or `raw_body` as it is."""
        if reply.raw_body is not None:
            _write(writer, reply.status, reply.raw_body.encode(), {"content-type": "text/plain", **reply.headers})
            return
        body = _anthropic_error(reply) if request.protocol == "anthropic" else _openai_error(reply)
        _write_json(writer, reply.status, body, reply.headers)

    async def _write_stream(self, writer: asyncio.StreamWriter, request: RecordedRequest, reply: Reply) -> bool:
        head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
        writer.write((head + "\r\n").encode())
        events = _anthropic_events if request.protocol == "anthropic" else _openai_events
        for count, event in enumerate(events(request, reply, next(self._ids))):
            if reply.cut_after is not None and count >= reply.cut_after:
                if reply.end_cleanly:
                    break
                await writer.drain()
                writer.transport.abort()  # mid-body, no terminating chunk: what a dropped connection looks like
                return False
            data = event.encode()
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            if reply.chunk_delay:
                await writer.drain()
                await asyncio.sleep(reply.chunk_delay)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


class _BufferWriter:
    """Enough of a StreamWriter to collect a reply's bytes (for dripping them out later)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        pass


class _TimedProtocol(asyncio.StreamReaderProtocol):
    """The stream protocol of asyncio.start_server, noting on the reader when data last arrived."""

    def __init__(self, reader: asyncio.StreamReader, *args: Any, **kwargs: Any):
        super().__init__(reader, *args, **kwargs)
        self._timed_reader = reader

    def data_received(self, data: bytes) -> None:
        self._timed_reader.received_at = time.monotonic()
        super().data_received(data)


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, path, headers


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    529: "Overloaded",
}


def _write(writer: asyncio.StreamWriter, status: int, body: bytes, headers: dict[str, str]) -> None:
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\ncontent-length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write((head + "\r\n").encode() + body)


def _write_json(writer: asyncio.StreamWriter, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    _write(writer, status, json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})})


# -- protocol bodies ------------------------------------------------------------------------------

_WORDS = re.compile(r"\s*\S+\s*|\s+")


def _deltas(reply: Reply) -> list[str]:
    return reply.chunks if reply.chunks is not None else _WORDS.findall(reply.text or "")


def _usage(request: RecordedRequest, reply: Reply) -> tuple[int, int]:
    prompt_chars = len(request.prompt)
    return (
        reply.input_tokens if reply.input_tokens is not None else max(1, prompt_chars // 4),
        reply.output_tokens if reply.output_tokens is not None else max(1, len(_deltas(reply))),
    )


def _plain_body(request: RecordedRequest, reply: Reply) -> dict[str, Any]:
    model = reply.model or request.model
    inp, out = _usage(request, reply)
    if request.protocol == "anthropic":
        body = {
            "id": "msg_loopback",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": _anthropic_blocks(reply),
            "stop_reason": _ANTHROPIC_STOP.get(reply.finish_reason, reply.finish_reason),
            "stop_sequence": None,
        }
        if reply.usage:
            body["usage"] = {"input_tokens": inp, "output_tokens": out, **_anthropic_cache_usage(reply)}
        return body
    body = {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": []
        if reply.no_choices
        else [{"index": 0, "message": _openai_message(reply), "finish_reason": reply.finish_reason, "logprobs": None}],
    }
    if reply.usage:
        body["usage"] = _openai_usage(inp, out, reply)
    return body


def _openai_usage(inp: int, out: int, reply: Reply) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out}
    if reply.cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens, "audio_tokens": 0}
    return usage


def _anthropic_cache_usage(reply: Reply) -> dict[str, int]:
    usage = {}
    if reply.cache_write_tokens is not None:
        usage["cache_creation_input_tokens"] = reply.cache_write_tokens
    if reply.cached_tokens is not None:
        usage["cache_read_input_tokens"] = reply.cached_tokens
    return usage


def _openai_message(reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.reasoning is not None:
        message[reply.reasoning_field] = reply.reasoning
    return message


def _anthropic_blocks(reply: Reply) -> list[dict[str, Any]]:
    if reply.no_choices:
        return []
    blocks = [{"type": "thinking", "thinking": reply.reasoning, "signature": "sig"}] if reply.reasoning is not None else []
    return blocks + ([{"type": "text", "text": reply.text}] if reply.text is not None else [])


def _openai_events(request: RecordedRequest, reply: Reply, n: int):
    """`data:` lines; the first delta carries the role, the last the finish reason, then usage if asked."""
    base = {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": reply.model or request.model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return f"data: {json.dumps({**base, 'choices': [] if reply.no_choices else [choice]})}\n\n"

    yield chunk({"role": "assistant", "content": "" if reply.text is not None else None})
    for delta in _WORDS.findall(reply.reasoning or ""):
        yield chunk({reply.reasoning_field: delta, "content": None})
    for delta in _deltas(reply):
        yield chunk({"content": delta})
    yield chunk({}, reply.finish_reason)
    wants_usage = (request.body.get("stream_options") or {}).get("include_usage")
    if reply.usage and wants_usage:
        inp, out = _usage(request, reply)
        usage = _openai_usage(inp, out, reply)
        yield f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n"
    yield "data: [DONE]\n\n"


_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens"}


def _anthropic_events(request: RecordedRequest, reply: Reply, n: int):
    def event(kind: str, data: dict[str, Any]) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

    inp, out = _usage(request, reply)
    message = {
        "id": f"msg_{n}",
        "type": "message",
        "role": "assistant",
        "model": reply.model or request.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
    }
    at_start = reply.start_input_tokens if reply.start_input_tokens is not None else inp
    if reply.usage:
        message["usage"] = {"input_tokens": at_start, "output_tokens": 1, **_anthropic_cache_usage(reply)}
    yield event("message_start", {"message": message})
    index = 0
    if reply.reasoning is not None and not reply.no_choices:
        yield event(
            "content_block_start", {"index": index, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}
        )
        for delta in _WORDS.findall(reply.reasoning):
            yield event("content_block_delta", {"index": index, "delta": {"type": "thinking_delta", "thinking": delta}})
        yield event("content_block_stop", {"index": index})
        index += 1
    if reply.text is not None and not reply.no_choices:
        yield event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
        for delta in _deltas(reply):
            yield event("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": delta}})
        yield event("content_block_stop", {"index": index})
    stop = {"delta": {"stop_reason": _ANTHROPIC_STOP.get(reply.finish_reason, reply.finish_reason), "stop_sequence": None}}
    if reply.usage:
        stop["usage"] = {"output_tokens": out}
        if reply.start_input_tokens is not None:
            stop["usage"]["input_tokens"] = inp
    yield event("message_delta", stop)
    yield event("message_stop", {})


_OPENAI_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error", 429: "requests"}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _openai_error(reply: Reply) -> dict[str, Any]:
    kind = reply.error_type or _OPENAI_TYPES.get(reply.status, "server_error")
    return {"error": {"message": reply.error_message or "error", "type": kind, "param": None, "code": reply.error_code}}


def _anthropic_error(reply: Reply) -> dict[str, Any]:
    kind = reply.error_type or _ANTHROPIC_TYPES.get(reply.status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": reply.error_message or "error"}}


# -- batch APIs -----------------------------------------------------------------------------------

_BATCH_PATHS = re.compile(r"^/v1/(files|batches|messages/batches)(/|\?|$)")


@dataclass
class _Batch:
    """One batch on either API: its requests, and once it has ended, its results by custom_id."""

    id: str
    provider: str  # "openai" or "anthropic"
    requests: list[tuple[str, Any]]  # (custom_id, body or params)
    created: float
    ends_at: float
    endpoint: str = "/v1/chat/completions"
    input_file_id: str | None = None
    metadata: dict[str, Any] | None = None
    status: str = "in_progress"
    results: dict[str, tuple[str, Any]] | None = None  # custom_id -> (succeeded|errored|expired|canceled, payload)
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] | None = None


class BatchBackend:
    """The batch endpoints of the loopback server; every setting can be changed at any time."""

    def __init__(self, server: LLMServer):
        self.server = server
        self.enabled = True
        self.delay = 0.0
        """Seconds from a batch's creation until it ends (results are made then)."""
        self.expires: Callable[[RecordedRequest], bool] | None = None
        """True for a request that expires unanswered (OpenAI: batch_expired in the error file)."""
        self.validation_error: str | None = None
        """Set: every batch fails validation with this message (OpenAI: status failed; Anthropic: 400)."""
        self.submissions: list[tuple[str, list[str]]] = []
        self.files: dict[str, bytes] = {}
        self.all: dict[str, _Batch] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.seed = 0

    def handles(self, path: str) -> bool:
        return bool(_BATCH_PATHS.match(path))

    def live(self) -> list[_Batch]:
        return [b for b in self.all.values() if b.results is None and b.status != "failed"]

    # -- HTTP --

    def serve(self, writer: asyncio.StreamWriter, method: str, path: str, headers: dict[str, str], raw: bytes) -> None:
        if not self.enabled:
            _write_json(writer, 404, {"error": {"message": f"no route for {method} {path}", "type": "not_found"}})
            return
        route = path.partition("?")[0].rstrip("/").split("/")[2:]  # after /v1
        try:
            with self._lock:
                status, body = self._route(method, route, headers, raw)
        except (KeyError, ValueError) as exc:
            status, body = 404, {"error": {"message": f"not found: {exc}", "type": "not_found_error"}}
        if isinstance(body, bytes):
            _write(writer, status, body, {"content-type": "application/octet-stream"})
        else:
            _write_json(writer, status, body)

    def _route(self, method: str, route: list[str], headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        if route[:2] == ["messages", "batches"]:
            return self._anthropic(method, route[2:], raw)
        if route[0] == "files":
            if method == "POST":
                return 200, self._upload(headers, raw)
            if len(route) == 3 and route[2] == "content":
                return 200, self.files[route[1]]
            raise KeyError(route[1])
        return self._openai(method, route[1:], raw)

    def _openai(self, method: str, rest: list[str], raw: bytes) -> tuple[int, Any]:
        if not rest and method == "POST":
            return 200, self._openai_object(self._create_openai(json.loads(raw)))
        if not rest:
            return 200, {"object": "list", "data": [self._openai_object(b) for b in self._listed("openai")], "has_more": False}
        batch = self._get(rest[0], "openai")
        if rest[1:] == ["cancel"]:
            self._cancel(batch)
        return 200, self._openai_object(batch)

    def _anthropic(self, method: str, rest: list[str], raw: bytes) -> tuple[int, Any]:
        if not rest and method == "POST":
            if self.validation_error:
                return 400, {"type": "error", "error": {"type": "invalid_request_error", "message": self.validation_error}}
            requests = [(r["custom_id"], r["params"]) for r in json.loads(raw)["requests"]]
            return 200, self._anthropic_object(self._new("anthropic", requests))
        if not rest:
            data = [self._anthropic_object(b) for b in self._listed("anthropic")]
            return 200, {"data": data, "has_more": False, "first_id": None, "last_id": None}
        batch = self._get(rest[0], "anthropic")
        if rest[1:] == ["cancel"]:
            self._cancel(batch)
        if rest[1:] == ["results"]:
            self._settle(batch)
            if batch.results is None:
                raise KeyError(f"{batch.id} has not ended")
            lines = [
                {"custom_id": cid, "result": self._anthropic_result(kind, payload)}
                for cid, (kind, payload) in self._shuffled(batch)
            ]
            return 200, "".join(json.dumps(line) + "\n" for line in lines).encode()
        return 200, self._anthropic_object(batch)

    # -- batches --

    def _upload(self, headers: dict[str, str], raw: bytes) -> dict[str, Any]:
        from email.parser import BytesParser

        message = BytesParser().parsebytes(b"content-type: " + headers["content-type"].encode() + b"\r\n\r\n" + raw)
        parts = {part.get_param("name", header="content-disposition"): part for part in message.get_payload()}
        content = parts["file"].get_payload(decode=True)
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = content
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": parts["file"].get_filename() or "batch.jsonl",
            "purpose": parts["purpose"].get_payload(),
            "status": "processed",
        }

    def _create_openai(self, params: dict[str, Any]) -> _Batch:
        lines = [json.loads(line) for line in self.files[params["input_file_id"]].decode().splitlines() if line.strip()]
        batch = self._new("openai", [(line["custom_id"], line["body"]) for line in lines])
        batch.input_file_id, batch.endpoint, batch.metadata = params["input_file_id"], params["endpoint"], params.get("metadata")
        if self.validation_error:  # as the real API: created, then failed on validation
            batch.status, batch.errors = (
                "failed",
                [{"code": "invalid_request", "message": self.validation_error, "line": 1, "param": None}],
            )
        return batch

    def _new(self, provider: str, requests: list[tuple[str, Any]]) -> _Batch:
        prefix = "batch_" if provider == "openai" else "msgbatch_"
        now = time.time()
        batch = _Batch(f"{prefix}{next(self._ids)}", provider, requests, now, now + self.delay)
        self.all[batch.id] = batch
        self.submissions.append((provider, [cid for cid, _ in requests]))
        return batch

    def _get(self, batch_id: str, provider: str) -> _Batch:
        batch = self.all[batch_id]
        if batch.provider != provider:
            raise KeyError(batch_id)
        self._settle(batch)
        return batch

    def _listed(self, provider: str) -> list[_Batch]:
        batches = [b for b in self.all.values() if b.provider == provider]
        for batch in batches:
            self._settle(batch)
        return sorted(batches, key=lambda b: -b.created)

    def _settle(self, batch: _Batch, cancelled: bool = False) -> None:
        """Make the results of a batch whose time has come (or of a cancelled one: all canceled)."""
        if batch.results is not None or batch.status == "failed" or (time.time() < batch.ends_at and not cancelled):
            return
        batch.results = {}
        for custom_id, body in batch.requests:
            batch.results[custom_id] = ("canceled", None) if cancelled else self._answer(batch.provider, body)
        kinds = {kind for kind, _ in batch.results.values()}
        batch.status = "cancelled" if cancelled else "expired" if kinds == {"expired"} else "completed"
        if batch.provider == "openai":
            self._write_openai_files(batch)

    def _answer(self, provider: str, body: Any) -> tuple[str, Any]:
        path = "/v1/chat/completions" if provider == "openai" else "/v1/messages"
        request = RecordedRequest("POST", path, provider, {}, body, time.time())
        if self.expires is not None and self.expires(request):
            return "expired", None
        reply = self.server._reply_for(request)
        if reply.status >= 400:
            error = _anthropic_error(reply) if provider == "anthropic" else _openai_error(reply)
            return "errored", (reply.status, error)
        return "succeeded", _plain_body(request, reply)

    def _cancel(self, batch: _Batch) -> None:
        if batch.results is None and batch.status != "failed":
            self._settle(batch, cancelled=True)

    def _shuffled(self, batch: _Batch) -> list[tuple[str, tuple[str, Any]]]:
        import random

        items = list(batch.results.items())
        random.Random(f"{self.seed}:{batch.id}").shuffle(items)
        return items

    def _write_openai_files(self, batch: _Batch) -> None:
        out, err = [], []
        for n, (custom_id, (kind, payload)) in enumerate(self._shuffled(batch)):
            line: dict[str, Any] = {"id": f"batch_req_{n}", "custom_id": custom_id, "response": None, "error": None}
            if kind == "succeeded":
                line["response"] = {"status_code": 200, "request_id": f"req_{n}", "body": payload}
                out.append(line)
                continue
            if kind == "errored":
                line["response"] = {"status_code": payload[0], "request_id": f"req_{n}", "body": payload[1]}
            else:
                code = "batch_expired" if kind == "expired" else "batch_cancelled"
                line["error"] = {"code": code, "message": f"This request was not executed ({code})."}
            err.append(line)
        for lines, attribute in ((out, "output_file_id"), (err, "error_file_id")):
            if lines:
                file_id = f"file-{next(self._ids)}"
                self.files[file_id] = "".join(json.dumps(line) + "\n" for line in lines).encode()
                setattr(batch, attribute, file_id)

    # -- objects --

    def _openai_object(self, batch: _Batch) -> dict[str, Any]:
        counts = {"total": len(batch.requests), "completed": 0, "failed": 0}
        if batch.results is not None:
            counts["completed"] = sum(kind == "succeeded" for kind, _ in batch.results.values())
            counts["failed"] = counts["total"] - counts["completed"]
        errors = {"object": "list", "data": batch.errors} if batch.errors else None
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "errors": errors,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": batch.status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": int(batch.created),
            "request_counts": counts,
            "metadata": batch.metadata,
        }

    def _anthropic_object(self, batch: _Batch) -> dict[str, Any]:
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if batch.results is None:
            counts["processing"] = len(batch.requests)
        else:
            for kind, _ in batch.results.values():
                counts[kind] += 1
        ended = batch.results is not None
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "created_at": _stamp(batch.created),
            "expires_at": _stamp(batch.created + 86400),
            "ended_at": _stamp(time.time()) if ended else None,
            "results_url": f"{self.server.url}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    @staticmethod
    def _anthropic_result(kind: str, payload: Any) -> dict[str, Any]:
        if kind == "succeeded":
            return {"type": "succeeded", "message": payload}
        if kind == "errored":
            return {"type": "errored", "error": payload[1]}
        return {"type": kind}


def _stamp(seconds: float) -> str:
    """RFC 3339 with microseconds, as the Message Batches API writes its times."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1e6):06d}Z"


# -- standalone ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Loopback OpenAI/Anthropic-compatible LLM server for tests and benchmarks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="wait before every reply")
    parser.add_argument("--text", default="OK", help="the answer to every request")
    parser.add_argument("--log", action="store_true", help="keep a request log (memory grows with requests)")
    args = parser.parse_args(argv)
    server = LLMServer(latency=args.latency_ms / 1000, host=args.host, port=args.port, keep_log=args.log)
    server.default = Reply(text=args.text)
    asyncio.run(_serve_forever(server))


async def _serve_forever(server: LLMServer) -> None:
    await server.listen()
    print(f"LLM server listening on {server.url}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await server._shutdown()


if __name__ == "__main__":
    main()
