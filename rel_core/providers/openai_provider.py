"""OpenAI, and every OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio): Chat Completions.

Retries, backoff, `retry-after` and timeouts are the SDK's own (AsyncOpenAI); this module builds
the request, reads the answer or the stream, and turns SDK errors into one-line ProviderErrors.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from ..config import ProviderSettings
from .base import (
    Completion,
    CompletionRequest,
    DeltaCallback,
    ErrorKind,
    ProviderError,
    base_url_setting,
    error_kind_for_status,
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

# o-series and gpt-5 onwards take max_completion_tokens and reject a non-default temperature.
_REASONING_MODEL = re.compile(r"^(o\d|gpt-[5-9])")


class OpenAIProvider:
    name = "openai"

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
        self.client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,  # None: the SDK reads OPENAI_BASE_URL, then its default
            max_retries=settings.max_retries,
            timeout=settings.timeout,
            http_client=_http_client(settings.timeout),
        )
        url = str(self.client.base_url).rstrip("/")
        self.base_url = shown_url(url)  # what messages and the call log show: never user:password@
        # The full URL rather than the SDK joining the path onto base_url each call: the same URL, and
        # about 5% less of the client's CPU per call (a URL copy it need not make).
        self._chat_url = f"{url}/chat/completions"

    def streams(self, request: CompletionRequest, on_delta: DeltaCallback | None) -> bool:
        return on_delta is not None

    async def complete(self, model: str, request: CompletionRequest, on_delta: DeltaCallback | None) -> Completion:
        stream = self.streams(request, on_delta)
        body = request_body(model, request, stream)
        # The generic `post` sends the body as built; the typed `chat.completions.create()` would re-walk
        # it through its TypedDict transformer, a third of the client's CPU per call at high concurrency.
        # A plain answer comes back as the decoded JSON (`cast_to=object`): building the SDK's
        # ChatCompletion model from it cost another eighth, for the four fields read here.
        try:
            if not stream:
                response = await self.client.post(self._chat_url, cast_to=object, body=body)
                return self._completion(response, model, request.model)
            chunks = await self.client.post(
                self._chat_url,
                cast_to=ChatCompletion,
                body=body,
                stream=True,
                stream_cls=openai.AsyncStream[ChatCompletionChunk],
            )
        except openai.APIError as exc:
            raise self.translate(exc, request.model) from exc
        except ValueError as exc:  # a 200 whose body is not JSON
            raise not_json(exc, request.model, self.base_url, self.name) from None
        await require_event_stream(chunks.response, request.model, self.base_url, self.name, chunks.close)
        assert on_delta is not None  # streams() is true only with a callback to stream to
        return await self._read_stream(chunks, model, request.model, on_delta)

    async def _read_stream(
        self, chunks: openai.AsyncStream[ChatCompletionChunk], model: str, spec: str, on_delta: DeltaCallback
    ) -> Completion:
        parts: list[str] = []
        reasoning: list[str] = []
        result = Completion(text="", model=model)
        events = 0
        async for chunk in self._chunks(chunks, spec, parts):
            events += 1
            result.model = chunk.model or result.model
            if chunk.usage is not None:
                result.input_tokens = chunk.usage.prompt_tokens
                result.output_tokens = chunk.usage.completion_tokens
                details = chunk.usage.prompt_tokens_details
                result.cached_input_tokens = _int(getattr(details, "cached_tokens", None))
            for choice in chunk.choices:
                if choice.delta is not None:
                    if choice.delta.content:
                        parts.append(choice.delta.content)
                        on_delta(choice.delta.content)
                    reasoning.append(_reasoning_of(choice.delta) or "")
                result.finish_reason = choice.finish_reason or result.finish_reason
        result.text = "".join(parts)
        result.reasoning = "".join(reasoning) or None
        if result.finish_reason is None:
            reason = None if events else "it sent no events"
            raise stream_broke(None, spec, self.base_url, result.text, reason)
        return result

    async def _chunks(
        self, chunks: openai.AsyncStream[ChatCompletionChunk], spec: str, parts: list[str]
    ) -> AsyncIterator[ChatCompletionChunk]:
        """The stream's chunks, with a broken stream turned into a ProviderError carrying the text so far.
        (Errors raised by the consumer's callback pass through untouched.)"""
        try:
            async for chunk in chunks:
                yield chunk
        except openai.APIStatusError as exc:
            error = self.translate(exc, spec)
            error.partial_text = "".join(parts)
            raise error from exc
        except (openai.APIConnectionError, httpx2.HTTPError, OSError) as exc:
            raise stream_broke(exc, spec, self.base_url, "".join(parts)) from exc
        except openai.APIError as exc:  # an `error` object sent mid-stream
            reason = f"the server sent an error: {one_line(exc.message, 200)}"
            raise stream_broke(exc, spec, self.base_url, "".join(parts), reason) from exc
        except ValueError as exc:  # an event whose data is not JSON
            error = not_json(exc, spec, self.base_url, self.name)
            error.partial_text = "".join(parts)
            raise error from None
        finally:
            await chunks.close()

    def _completion(self, response: object, model: str, spec: str) -> Completion:
        return completion_from_json(require_json_object(response, "a chat completion", spec, self.base_url, self.name), model)

    def translate(self, exc: openai.APIError, spec: str) -> ProviderError:
        retries = self.settings.max_retries
        if isinstance(exc, openai.APIStatusError):
            detail = _error_detail(exc)
            kind = error_kind_for_status(exc.status_code, exc.code, detail, _is_api_error(exc), is_page(exc.body))
            message = status_error_message(
                kind, spec, self.base_url, exc.status_code, detail, retries, self.key_env, self._url_setting(spec)
            )
            return ProviderError(kind, message, self.name, status=exc.status_code)
        if isinstance(exc, openai.APIConnectionError):
            return transport_error(exc, spec, self.base_url, self.settings.timeout, retries, self._url_setting(spec))
        return ProviderError(
            ErrorKind.SERVER,
            f"{spec}: unexpected answer from {self.base_url}: {one_line(exc)}",
            self.name,
        )

    def _url_setting(self, spec: str) -> str:
        """Where the URL this call went to is set, for messages that say what to fix."""
        return base_url_setting(self.name, spec if self.own_url else None)

    async def aclose(self) -> None:
        await self.client.close()


def request_body(model: str, request: CompletionRequest, stream: bool) -> dict:
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages += [{"role": m.role, "content": m.content} for m in request.messages]
    reasoning = bool(_REASONING_MODEL.match(model))
    body: dict = {"model": model, "messages": messages}
    body["max_completion_tokens" if reasoning else "max_tokens"] = request.max_tokens
    if request.temperature is not None and not reasoning:
        body["temperature"] = request.temperature
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def completion_from_json(response: dict[str, Any], model: str) -> Completion:
    """A chat completion's JSON, read as leniently as the SDK's own (unvalidated) model would be."""
    choices = response.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    content = message.get("content")
    usage = response.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Completion(
        text=content if isinstance(content, str) else "",
        reasoning=_str(message.get("reasoning_content")) or _str(message.get("reasoning")),
        model=_str(response.get("model")) or model,
        input_tokens=_int(usage.get("prompt_tokens")),
        output_tokens=_int(usage.get("completion_tokens")),
        cached_input_tokens=_cached_tokens(usage),
        finish_reason=_str(choice.get("finish_reason")),
    )


def _cached_tokens(usage: dict[str, Any]) -> int | None:
    """`prompt_tokens_details.cached_tokens`: the automatic prompt cache's hits, part of prompt_tokens."""
    details = usage.get("prompt_tokens_details")
    return _int(details.get("cached_tokens")) if isinstance(details, dict) else None


def _reasoning_of(delta: object) -> str | None:
    """A streamed delta's reasoning text: vLLM, llama.cpp and DeepSeek name it `reasoning_content`,
    Ollama and newer vLLM `reasoning` (fields the SDK's model keeps as extras)."""
    return _str(getattr(delta, "reasoning_content", None)) or _str(getattr(delta, "reasoning", None))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _error_detail(exc: openai.APIStatusError) -> str:
    """The server's own message, not the SDK's "Error code: 401 - {...}" wrapper; a page cut to an excerpt."""
    body = exc.body
    if _is_api_error(exc):
        return one_line(body["message"])  # type: ignore[index]
    return excerpt(body if isinstance(body, str) and body else exc.message)


def _is_api_error(exc: openai.APIStatusError) -> bool:
    """The body was an API error object (the SDK unwraps its `error`), not a page or another document."""
    return isinstance(exc.body, dict) and isinstance(exc.body.get("message"), str)


def _http_client(timeout: float) -> httpx2.AsyncClient:
    """aiohttp under the SDK (its supported `DefaultAioHttpClient`): at 64 calls in flight it costs
    far less CPU per call than the default pool. The hook stops retries of insufficient_quota."""
    return openai.DefaultAioHttpClient(timeout=timeout, event_hooks={"response": [refuse_hopeless_retries]})
