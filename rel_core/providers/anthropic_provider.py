"""Anthropic: the Messages API, with the system prompt as the top-level `system` parameter.

Retries, backoff, `retry-after` and timeouts are the SDK's own (AsyncAnthropic). Long generations
are streamed even without a callback: the SDK refuses non-streaming calls it expects to run long.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2

from ..config import ProviderSettings
from .base import (
    BASE_URL_ENV,
    Completion,
    CompletionRequest,
    DeltaCallback,
    ErrorKind,
    ProviderError,
    base_url_setting,
    error_kind_for_status,
    estimate_tokens,
    excerpt,
    is_page,
    not_json,
    one_line,
    refuse_hopeless_retries,
    require_event_stream,
    require_json_object,
    shown_url,
    status_error_message,
    stream_broke,
    transport_error,
)

log = logging.getLogger(__name__)

# Above this many output tokens a call is streamed: the SDK's smallest non-streaming limit (Opus 4.0/4.1).
STREAM_ABOVE_MAX_TOKENS = 8192


class AnthropicProvider:
    name = "anthropic"

    def __init__(
        self,
        settings: ProviderSettings,
        base_url: str | None,
        api_key: str,
        key_env: str | None,
        own_url: bool = False,
    ):
        self.settings = settings
        self.own_url = own_url
        """The URL is a model's own base_url (`[models."SPEC"]`), not the provider section's."""
        self.key_env = key_env
        self.api_key = api_key
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key,  # explicit, so the SDK never falls back to profiles on disk
            base_url=without_v1(base_url or os.environ.get(BASE_URL_ENV["anthropic"])),  # None: the SDK's default
            max_retries=settings.max_retries,
            timeout=settings.timeout,
            http_client=_http_client(settings.timeout),
        )
        url = str(self.client.base_url).rstrip("/")
        self.base_url = shown_url(url)  # what messages and the call log show: never user:password@
        self._messages_url = f"{url}/v1/messages"  # in full: the SDK need not join it per call

    def streams(self, request: CompletionRequest, on_delta: DeltaCallback | None) -> bool:
        return on_delta is not None or request.max_tokens > STREAM_ABOVE_MAX_TOKENS

    async def complete(self, model: str, request: CompletionRequest, on_delta: DeltaCallback | None) -> Completion:
        stream = self.streams(request, on_delta)
        params = request_params(model, request)
        try:
            if not stream:
                # The generic `post` with the decoded JSON back (`cast_to=object`): `messages.create()`
                # re-walks the parameters through its TypedDict transformer and builds a typed Message,
                # together about 40% of the client's CPU per call at high concurrency. The client has an
                # explicit timeout, so create() would add nothing else to a non-streamed call.
                message = await self.client.post(self._messages_url, cast_to=object, body=params)
                return self._completion(message, model, request.model)
            events = await self.client.messages.create(**params, stream=True)
        except anthropic.APIError as exc:
            raise self.translate(exc, request.model) from exc
        except ValueError as exc:  # a 200 whose body is not JSON
            raise not_json(exc, request.model, self.base_url, self.name) from None
        await require_event_stream(events.response, request.model, self.base_url, self.name, events.close)
        return await self._read_stream(events, model, request.model, on_delta or _ignore)

    async def _read_stream(self, events: anthropic.AsyncStream, model: str, spec: str, on_delta: DeltaCallback) -> Completion:
        parts: list[str] = []
        thinking: list[str] = []
        result = Completion(text="", model=model)
        finished, seen = False, 0
        usage: dict[str, int | None] = {}  # the largest count of each usage field seen
        async for event in self._events(events, spec, parts):
            seen += 1
            if event.type == "message_start":
                result.model = event.message.model or model
                _note_usage(usage, event.message)
            elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                parts.append(event.delta.text)
                on_delta(event.delta.text)
            elif event.type == "content_block_delta" and event.delta.type == "thinking_delta":
                thinking.append(event.delta.thinking)
            elif event.type == "message_delta":
                result.finish_reason = event.delta.stop_reason
                result.output_tokens = _tokens(event, "output_tokens")
                # A proxy may send 0 in message_start and the real count here (LiteLLM): the larger one.
                _note_usage(usage, event)
            elif event.type == "message_stop":
                finished = True
        _set_input_usage(result, usage)
        result.text = "".join(parts)
        result.reasoning = "".join(thinking) or None
        if not finished:
            raise stream_broke(None, spec, self.base_url, result.text, None if seen else "it sent no events")
        return result

    async def _events(self, events: anthropic.AsyncStream, spec: str, parts: list[str]) -> AsyncIterator[Any]:
        """The stream's events, with a broken stream turned into a ProviderError carrying the text so far.
        (Errors raised by the consumer's callback pass through untouched.)"""
        try:
            async for event in events:
                yield event
        except anthropic.APIStatusError as exc:  # an `error` event mid-stream, e.g. overloaded
            error = self.translate(exc, spec)
            error.partial_text = "".join(parts)
            raise error from exc
        except (anthropic.APIError, httpx2.HTTPError, OSError) as exc:
            raise stream_broke(exc, spec, self.base_url, "".join(parts)) from exc
        except ValueError as exc:  # an event whose data is not JSON
            error = not_json(exc, spec, self.base_url, self.name)
            error.partial_text = "".join(parts)
            raise error from None
        finally:
            await events.close()

    def _completion(self, message: object, model: str, spec: str) -> Completion:
        return completion_from_json(require_json_object(message, "a message", spec, self.base_url, self.name), model)

    def translate(self, exc: anthropic.APIError, spec: str) -> ProviderError:
        retries = self.settings.max_retries
        if isinstance(exc, anthropic.APIStatusError):
            detail = _error_detail(exc)
            kind = error_kind_for_status(exc.status_code, _error_type(exc), detail, _is_api_error(exc), is_page(exc.body))
            message = status_error_message(
                kind, spec, self.base_url, exc.status_code, detail, retries, self.key_env, self._url_setting(spec)
            )
            return ProviderError(kind, message, self.name, status=exc.status_code)
        if isinstance(exc, anthropic.APIConnectionError):
            return transport_error(exc, spec, self.base_url, self.settings.timeout, retries, self._url_setting(spec))
        return ProviderError(ErrorKind.SERVER, f"{spec}: unexpected answer from {self.base_url}: {one_line(exc)}", self.name)

    def _url_setting(self, spec: str) -> str:
        """Where the URL this call went to is set, for messages that say what to fix."""
        return base_url_setting(self.name, spec if self.own_url else None)

    async def aclose(self) -> None:
        await self.client.close()


def request_params(model: str, request: CompletionRequest) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
    }
    if request.system:
        params["system"] = system_param(model, request.system)
    # No temperature: the Messages API this SDK speaks (anthropic 2.x) has no sampling parameters.
    return params


def completion_from_json(message: dict[str, Any], model: str) -> Completion:
    """A message's JSON, read as leniently as the SDK's own (unvalidated) model would be."""
    blocks = message.get("content")
    text = _joined(blocks, "text", "text")
    reasoning = _joined(blocks, "thinking", "thinking") or None
    usage = message.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    answered = message.get("model")
    stop = message.get("stop_reason")
    completion = Completion(
        text=text,
        reasoning=reasoning,
        model=answered if isinstance(answered, str) and answered else model,
        output_tokens=_int(usage.get("output_tokens")),
        finish_reason=stop if isinstance(stop, str) else None,
    )
    _set_input_usage(completion, {field: _int(usage.get(field)) for field in _INPUT_FIELDS})
    return completion


# -- prompt caching ---------------------------------------------------------------------------

# The shortest prefix Anthropic caches, in tokens (its prompt-caching docs); a shorter one marked
# with cache_control is simply not cached. Matched on the model name's start, first match wins.
MIN_CACHEABLE_TOKENS = (
    ("claude-opus-4-5", 4096),
    ("claude-opus-4-6", 4096),
    ("claude-haiku-4-5", 4096),
    ("claude-sonnet-4-6", 2048),
    ("claude-3-5-haiku", 2048),
    ("claude-3-haiku", 2048),
)
DEFAULT_MIN_CACHEABLE_TOKENS = 1024  # Sonnet 4.5, 4, 3.7, Opus 4.1, 4 and unknown models


def min_cacheable_tokens(model: str) -> int:
    return next((tokens for prefix, tokens in MIN_CACHEABLE_TOKENS if model.startswith(prefix)), DEFAULT_MIN_CACHEABLE_TOKENS)


def system_param(model: str, system: str) -> str | list[dict[str, Any]]:
    """The system prompt; marked for the prompt cache (`cache_control`, ephemeral) when it is long
    enough to be cached. The loop puts a problem's stable text there, so every later call of the
    problem reads it from the cache at a tenth of the input price."""
    if estimate_tokens(system) < min_cacheable_tokens(model):
        return system
    return [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]


# input_tokens counts only the uncached part; the cache's reads and writes come apart from it.
_INPUT_FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def _note_usage(usage: dict[str, int | None], holder: Any) -> None:
    for field in _INPUT_FIELDS:
        usage[field] = _larger(usage.get(field), _tokens(holder, field))


def _set_input_usage(completion: Completion, usage: dict[str, int | None]) -> None:
    """input_tokens as every prompt token (as OpenAI counts them), with the cached ones named."""
    fresh, read, written = (usage.get(field) for field in _INPUT_FIELDS)
    completion.cached_input_tokens, completion.cache_write_tokens = read, written
    if fresh is None:
        completion.input_tokens = None
        return
    completion.input_tokens = fresh + (read or 0) + (written or 0)


def _joined(blocks: object, block_type: str, field: str) -> str:
    """The `field` text of every content block of `block_type`, in order."""
    return "".join(
        block[field]
        for block in (blocks if isinstance(blocks, list) else [])
        if isinstance(block, dict) and block.get("type") == block_type and isinstance(block.get(field), str)
    )


def without_v1(url: str | None) -> str | None:
    """The SDK appends /v1/messages to the base URL, so one that ends in /v1 (a common copy of the
    endpoint's prefix) would send every request to /v1/v1/messages: the /v1 is dropped, with a note."""
    if not url:
        return None
    trimmed = url.rstrip("/")
    if not trimmed.endswith("/v1"):
        return url
    log.warning(
        "anthropic: base_url %s ends in /v1; using %s (the SDK adds /v1/messages itself)",
        shown_url(url),
        shown_url(trimmed[:-3]),
    )
    return trimmed[:-3]


def _larger(first: int | None, second: int | None) -> int | None:
    return max(first, second) if first is not None and second is not None else first if second is None else second


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _tokens(holder: Any, field: str) -> int | None:
    """Usage may be missing from servers that only imitate the API."""
    usage = getattr(holder, "usage", None)
    return getattr(usage, field, None) if usage is not None else None


def _error_body(exc: anthropic.APIStatusError) -> dict[str, Any]:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body)
    return error if isinstance(error, dict) else {}


def _error_detail(exc: anthropic.APIStatusError) -> str:
    """The server's own message; a page cut to an excerpt."""
    message = _error_body(exc).get("message")
    if isinstance(message, str):
        return one_line(message)
    return excerpt(exc.body if isinstance(exc.body, str) and exc.body else exc.message)


def _is_api_error(exc: anthropic.APIStatusError) -> bool:
    """The body was an API error object with a message, not a page or another document."""
    return isinstance(_error_body(exc).get("message"), str)


def _error_type(exc: anthropic.APIStatusError) -> str | None:
    kind = _error_body(exc).get("type")
    return kind if isinstance(kind, str) else None


def _ignore(_delta: str) -> None:
    """Long generations stream without a callback."""


def _http_client(timeout: float) -> httpx2.AsyncClient:
    """aiohttp under the SDK (its supported `DefaultAioHttpClient`): cheaper per call at high concurrency."""
    return anthropic.DefaultAioHttpClient(timeout=timeout, event_hooks={"response": [refuse_hopeless_retries]})
