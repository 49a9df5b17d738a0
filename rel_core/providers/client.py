"""LLMClient: the one entry point for LLM calls. It routes a model spec to its provider, limits
concurrency and rate per provider, and records every call, success or failure, in llm_calls.

    client = LLMClient(settings, store)
    completion = await client.complete(
        CompletionRequest(model="openai:gpt-4o-mini", system="...", messages=[ChatMessage(role="user", content="...")]),
        on_delta=print_chunk,  # optional: stream text as it arrives
    )
    await client.aclose()
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from ..config import ProviderSettings, Settings, redact_url
from ..models import LLMCall
from .base import (
    API_KEY_ENV,
    BASE_URL_ENV,
    Completion,
    CompletionRequest,
    DeltaCallback,
    ErrorKind,
    ProviderError,
    base_url_setting,
    deadline_passed,
    estimate_tokens,
    one_line,
    redact,
    require_answer,
    shown_url,
    split_spec,
    strip_url_credentials,
)
from .pricing import cost_usd, is_hosted_url

if TYPE_CHECKING:
    from ..store import Store

# Sent as the key to servers that need none (a local vLLM or Ollama): the SDKs refuse an empty key.
NO_KEY = "no-key-needed"


class Provider(Protocol):
    name: str
    base_url: str
    api_key: str
    """The key sent (never stored): masked wherever a server's error text is kept."""

    def streams(self, request: CompletionRequest, on_delta: DeltaCallback | None) -> bool: ...

    async def complete(self, model: str, request: CompletionRequest, on_delta: DeltaCallback | None) -> Completion: ...

    async def aclose(self) -> None: ...


class ProviderGate:
    """At most `concurrency` calls in flight, and starts spaced to `requests_per_minute` if set."""

    def __init__(self, settings: ProviderSettings):
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._interval = 60.0 / settings.requests_per_minute if settings.requests_per_minute else 0.0
        self._next_start = 0.0

    async def __aenter__(self) -> None:
        await self._slots.acquire()
        try:
            await self._wait_for_rate()
        except BaseException:
            self._slots.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._slots.release()

    async def _wait_for_rate(self) -> None:
        if not self._interval:
            return
        now = time.monotonic()
        start = max(now, self._next_start)
        self._next_start = start + self._interval  # reserved before sleeping, so waiters queue in order
        if start > now:
            await asyncio.sleep(start - now)


class LLMClient:
    def __init__(self, settings: Settings, store: Store | None = None):
        self.settings = settings
        self.store = store
        self._providers: dict[tuple[str, str | None, str | None], Provider] = {}
        self._gates: dict[str, ProviderGate] = {}

    async def complete(
        self, request: CompletionRequest, on_delta: DeltaCallback | None = None, *, defer_record: bool = False
    ) -> Completion:
        """Run one call and record it. Raises ProviderError (with `llm_call_id` set) when it fails.

        `defer_record`: a completed call's llm_calls row is left in `completion.call_record` for the
        caller to write with what the call produced, in one transaction (a failed call is recorded at once)."""
        started = time.perf_counter()
        provider: Provider | None = None
        sent = False
        try:
            provider_name, model = split_spec(request.model)
            provider = self.provider_for(request.model)
            async with self._gate(provider_name):
                started, sent = time.perf_counter(), True
                completion = await self._within_deadline(provider, model, request, on_delta)
            require_answer(completion, request.model, provider.base_url)
        except ProviderError as exc:
            self._mask(exc, provider)  # before it is recorded or shown anywhere
            if exc.completion is not None and provider is not None:  # an empty answer still cost its tokens
                self._meter(request, exc.completion, provider)
            exc.llm_call_id = self._record_failure(
                request, provider, on_delta, started, str(exc), exc.partial_text, exc.completion
            )
            raise
        except asyncio.CancelledError:
            if sent:  # a cancelled worker's call may still have cost something
                self._record_failure(request, provider, on_delta, started, "cancelled", "")
            raise
        except Exception as exc:  # e.g. the on_delta callback failed
            error = strip_url_credentials(redact(f"{type(exc).__name__}: {one_line(exc)}", _key_of(provider)))
            self._record_failure(request, provider, on_delta, started, error, "")
            raise
        completion.latency_ms = (time.perf_counter() - started) * 1000
        self._meter(request, completion, provider)
        row = self._call_row(request, provider, on_delta, completion)
        if defer_record:
            completion.call_record = row
        elif row is not None and self.store is not None:
            completion.llm_call_id = self.store.log_call_row(row)
        return completion

    async def _within_deadline(
        self, provider: Provider, model: str, request: CompletionRequest, on_delta: DeltaCallback | None
    ) -> Completion:
        """The call, streamed answer and SDK retries included, within the provider's `timeout`: the
        HTTP client's own timeout is per read, and a server that drips a byte now and then never trips it."""
        seconds = getattr(self.settings, provider.name).timeout
        streamed: list[str] = []
        if on_delta is not None:  # the text so far is kept with the failed call

            def tee(delta: str) -> None:
                streamed.append(delta)
                on_delta(delta)

        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                return await provider.complete(model, request, tee if on_delta is not None else None)
        except TimeoutError:
            if not deadline.expired():  # some other timeout, not this deadline's
                raise
            error = deadline_passed(request.model, provider.base_url, seconds)
            error.partial_text = "".join(streamed)
            raise error from None

    @staticmethod
    def _mask(exc: ProviderError, provider: Provider | None) -> None:
        """No key, and no user:password@ of a URL, in what is kept or shown of a provider error."""
        exc.redact(_key_of(provider))
        exc.args = tuple(strip_url_credentials(a) if isinstance(a, str) else a for a in exc.args)

    def provider_for(self, spec: str) -> Provider:
        """The provider client for a model spec, made on first use (one per provider and base URL)."""
        provider_name, _ = split_spec(spec)
        model_settings = self.settings.models.get(spec)
        own = model_settings if model_settings is not None and model_settings.base_url is not None else None
        own_server = own is not None
        base_url = own.base_url if own is not None else getattr(self.settings, provider_name).base_url
        key_env = own.api_key_env if own is not None else API_KEY_ENV[provider_name]
        cache_key = (provider_name, base_url, key_env)
        if cache_key not in self._providers:
            api_key = resolve_api_key(spec, base_url, key_env, own_server)
            where = base_url_setting(provider_name, spec if own_server else None)
            check_base_url(provider_name, base_url or os.environ.get(BASE_URL_ENV[provider_name]), where)
            try:
                provider_settings = getattr(self.settings, provider_name)
                provider = _make_provider(provider_name, provider_settings, base_url, api_key, key_env, own_server)
            except ValueError as exc:  # what the SDK's URL parser still refuses
                raise ProviderError(
                    ErrorKind.CONFIG,
                    f"{provider_name}: base_url is not usable ({one_line(exc, 120)}); fix {where}",
                    provider_name,
                ) from None
            self._providers[cache_key] = provider
        return self._providers[cache_key]

    async def aclose(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.aclose()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- metering --------------------------------------------------------------------------------

    def _gate(self, provider_name: str) -> ProviderGate:
        if provider_name not in self._gates:
            self._gates[provider_name] = ProviderGate(getattr(self.settings, provider_name))
        return self._gates[provider_name]

    def _meter(self, request: CompletionRequest, completion: Completion, provider: Provider) -> None:
        """Fill in estimated tokens for servers that report none, then the cost: from the price table
        only when the call went to the provider's hosted API (a model behind another base_url is
        priced only by the config)."""
        if completion.input_tokens is None or completion.output_tokens is None:
            completion.tokens_estimated = True
            if completion.input_tokens is None:
                completion.input_tokens = estimate_tokens(prompt_text(request))
            if completion.output_tokens is None:
                completion.output_tokens = estimate_tokens(completion.text)
        completion.cost_usd = cost_usd(
            request.model,
            self.settings,
            completion.input_tokens,
            completion.output_tokens,
            completion.model,
            hosted=_is_hosted(provider.name, provider.base_url),
            cached_input_tokens=completion.cached_input_tokens,
            cache_write_tokens=completion.cache_write_tokens,
        )

    def _call_row(
        self, request: CompletionRequest, provider: Provider, on_delta: DeltaCallback | None, completion: Completion
    ) -> dict | None:
        """The llm_calls row of a completed call (None without a store: nothing is recorded)."""
        if self.store is None:
            return None
        # A row, not an LLMCall: validating and dumping a model per call is measurable at 64 in flight.
        return {
            "problem_id": request.problem_id,
            "provider": provider.name,
            "model": split_spec(request.model)[1],
            "purpose": request.purpose,
            "request": request_json(request, provider, on_delta),
            "latency_ms": completion.latency_ms,
            **completion.call_fields(),
        }

    def _record_failure(
        self,
        request: CompletionRequest,
        provider: Provider | None,
        on_delta: DeltaCallback | None,
        started: float,
        error: str,
        partial_text: str,
        answer: Completion | None = None,
    ) -> int | None:
        """Record a failed call; `answer` is the whole but unusable (metered) answer of an EmptyAnswer,
        whose tokens, cost and reasoning are kept too."""
        if self.store is None:
            return None
        provider_name, _, model = request.model.partition(":")
        return self.store.log_call(
            LLMCall(
                problem_id=request.problem_id,
                provider=provider.name if provider else provider_name or "unknown",
                model=model or request.model,
                purpose=request.purpose,
                request=request_json(request, provider, on_delta),
                response=partial_text or None,
                latency_ms=(time.perf_counter() - started) * 1000,
                error=error,
                **_usage_of(answer),
            )
        )


def _usage_of(answer: Completion | None) -> dict:
    if answer is None:
        return {}
    return {
        "input_tokens": answer.input_tokens,
        "output_tokens": answer.output_tokens,
        "cached_input_tokens": answer.cached_input_tokens,
        "cache_write_tokens": answer.cache_write_tokens,
        "tokens_estimated": answer.tokens_estimated,
        "cost_usd": answer.cost_usd,
        "finish_reason": answer.finish_reason,
        "reasoning": answer.reasoning,
    }


def resolve_api_key(spec: str, base_url: str | None, key_env: str | None, own_server: bool) -> str:
    """The key to send, read from the environment at call time (never from config, never stored).

    A model with its own base_url gets the key named by its `api_key_env`, or none: the hosted
    provider's key is never sent to another server. A provider-wide base URL (rel.toml or the SDK's
    *_BASE_URL variable) that is not the hosted API may need no key either."""
    provider = spec.partition(":")[0]
    key = os.environ.get(key_env) if key_env else None
    if key:
        return key
    if own_server and key_env:
        raise ProviderError(
            ErrorKind.CONFIG, f"{key_env} is not set: export it (api_key_env for {spec} in rel.toml names it)", provider
        )
    effective_url = base_url or os.environ.get(BASE_URL_ENV[provider])
    if own_server or (effective_url and not _is_hosted(provider, effective_url)):
        return NO_KEY
    raise ProviderError(
        ErrorKind.CONFIG,
        f"{key_env} is not set: export {key_env}=... to use {spec} "
        f"(for a local server that needs no key, set its base_url in rel.toml)",
        provider,
    )


def check_base_url(provider: str, url: str | None, where: str) -> None:
    """A base URL the HTTP client cannot use fails every call the same way: a config error, found
    before the first call rather than on every problem of a run."""
    if not url:
        return  # the SDK's default
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError when out of range or not a number
        problem = None
        if parts.scheme not in ("http", "https"):
            problem = "it must start with http:// or https://"
        elif not parts.hostname:
            problem = "it names no host"
        elif "@" in parts.netloc:  # it would be logged, stored and shown with the URL
            problem = "it holds credentials (user:password@): put the key in the environment variable api_key_env names"
    except ValueError as exc:
        problem = one_line(exc, 120)
    if problem:
        raise ProviderError(
            ErrorKind.CONFIG, f"{provider}: base_url {shown_url(url)!r} is not usable ({problem}); fix {where}", provider
        )


def _key_of(provider: Provider | None) -> str | None:
    """The key a provider sends, to mask it in error text (a server may echo it)."""
    return getattr(provider, "api_key", None)


def _is_hosted(provider: str, url: str) -> bool:
    return bool(url) and is_hosted_url(provider, url)


def _make_provider(
    name: str,
    settings: ProviderSettings,
    base_url: str | None,
    api_key: str,
    key_env: str | None,
    own_url: bool = False,
) -> Provider:
    # Imported here so that using one provider never needs the other's SDK loaded.
    if name == "openai":
        from .openai_provider import OpenAIProvider

        return OpenAIProvider(settings, base_url, api_key, key_env, own_url)
    from .anthropic_provider import AnthropicProvider

    return AnthropicProvider(settings, base_url, api_key, key_env, own_url)


def prompt_text(request: CompletionRequest) -> str:
    return "\n".join([request.system or "", *(m.content for m in request.messages)])


def request_json(request: CompletionRequest, provider: Provider | None, on_delta: DeltaCallback | None) -> str:
    """What was asked, for the record: never headers, never keys."""
    record = {
        "model": request.model,
        "base_url": redact_url(provider.base_url) if provider else None,
        "stream": provider.streams(request, on_delta) if provider else on_delta is not None,
        "system": request.system,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
    }
    return json.dumps(record, ensure_ascii=False)
