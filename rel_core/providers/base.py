"""The one interface every LLM provider speaks, and the typed errors they raise."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..config import redact_url
from ..terminal_text import one_line as terminal_one_line

PROVIDERS = ("openai", "anthropic")

DeltaCallback = Callable[[str], None]

TRUNCATED_FINISH_REASONS = ("length", "max_tokens")  # OpenAI's and Anthropic's words for "hit the limit"


class ChatMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class CompletionRequest(BaseModel):
    model: str
    """Model spec, `provider:model`."""
    messages: list[ChatMessage]
    system: str | None = None
    temperature: float | None = None
    max_tokens: int = 4096
    purpose: str = "generate"
    """What the call is for (generate, revise, rewrite, cleanup, critic): recorded with the call."""
    problem_id: int | None = None


class Completion(BaseModel):
    text: str
    model: str
    """The model that answered, as the server named it."""
    input_tokens: int | None = None
    """Every prompt token, cached or not (Anthropic reports the cached ones apart: they are added in)."""
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    """Prompt tokens read from the provider's prompt cache (part of input_tokens)."""
    cache_write_tokens: int | None = None
    """Prompt tokens written to the prompt cache (Anthropic; part of input_tokens)."""
    tokens_estimated: bool = False
    latency_ms: float = 0.0
    finish_reason: str | None = None
    reasoning: str | None = None
    """Reasoning text the server sent apart from the answer (reasoning_content / reasoning / thinking)."""
    cost_usd: float | None = None
    llm_call_id: int | None = Field(default=None, description="Row id in llm_calls, when metered")
    call_record: dict[str, Any] | None = Field(default=None, exclude=True, repr=False)
    """The call's llm_calls row, not yet written: `LLMClient.complete(defer_record=True)` leaves it to
    the caller, who writes it in the transaction that commits what the call produced."""

    def call_fields(self) -> dict[str, Any]:
        """The llm_calls columns this completion fills: what was answered and what it cost."""
        return {
            "response": self.text,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "tokens_estimated": self.tokens_estimated,
            "cost_usd": self.cost_usd,
            "finish_reason": self.finish_reason,
            "reasoning": self.reasoning,
        }

    @property
    def truncated(self) -> bool:
        """The model stopped at the token limit (OpenAI says `length`, Anthropic `max_tokens`)."""
        return self.finish_reason in TRUNCATED_FINISH_REASONS


class ErrorKind(StrEnum):
    CONFIG = "config"  # bad model spec, missing API key
    AUTH = "auth"
    NOT_FOUND = "not_found"
    RATE_LIMIT = "rate_limit"
    QUOTA = "quota"  # insufficient_quota: retrying never helps
    CONNECTION = "connection"
    TIMEOUT = "timeout"
    CONTEXT_LENGTH = "context_length"
    BAD_REQUEST = "bad_request"
    SERVER = "server"
    STREAM = "stream"  # the stream broke off mid-way
    EMPTY_ANSWER = "empty_answer"  # a complete answer with no text in it (no choices, null, only reasoning)
    NOT_AN_API = "not_an_api"  # a web server that is not the API (a 404 page, 405, 501): every call fails alike


# Errors that stop a whole run rather than one problem: every later call would fail the same way.
FATAL_KINDS = frozenset({ErrorKind.CONFIG, ErrorKind.AUTH, ErrorKind.QUOTA, ErrorKind.NOT_FOUND, ErrorKind.NOT_AN_API})


class ProviderError(Exception):
    """A provider call that failed after the SDK's own retries; the message is one line."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        provider: str | None = None,
        *,
        partial_text: str = "",
        status: int | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.provider = provider
        self.partial_text = partial_text
        """Text streamed before a stream broke off (recorded with the failed call)."""
        self.status = status
        """The HTTP status behind the error, when there was one."""
        self.llm_call_id: int | None = None
        """Row id of the failed call in llm_calls, when metered."""
        self.completion: Completion | None = None
        """An answer that came back whole but is unusable (an empty answer): its usage and reasoning
        are recorded with the failed call."""

    @property
    def fatal(self) -> bool:
        return self.kind in FATAL_KINDS

    def redact(self, secret: str | None) -> None:
        """Mask `secret` (the API key in use) in the message and the partial text: a proxy may echo the
        key in its error text, which would otherwise reach llm_calls, problems.state_detail and the
        screen. The SDK error it was raised from holds the raw text too, so it is cut off the chain."""
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            return
        self.args = tuple(redact(a, secret) if isinstance(a, str) else a for a in self.args)
        self.partial_text = redact(self.partial_text, secret)
        if self.completion is not None and self.completion.reasoning:
            self.completion.reasoning = redact(self.completion.reasoning, secret)
        if any(_leaks(str(e), secret) for e in _chain(self)[1:]):
            self.__cause__ = None
            self.__suppress_context__ = True


class EmptyAnswer(ProviderError):
    """The server answered in full, but with no answer text: no choices, `content: null`, or text only
    in a reasoning field. Never an empty draft: the call is recorded as failed, with its reasoning."""

    def __init__(self, message: str, provider: str | None, completion: Completion):
        super().__init__(ErrorKind.EMPTY_ANSWER, message, provider)
        self.completion = completion


def require_answer(completion: Completion, spec: str, base_url: str) -> Completion:
    """`completion`, or EmptyAnswer when it holds no answer text."""
    if completion.text.strip():
        return completion
    # no counts: the same failure reads the same on every problem
    what = "only reasoning and no answer text" if completion.reasoning and completion.reasoning.strip() else "no answer text"
    why = ""
    if completion.truncated:
        why = f"; it stopped at the token limit ({completion.finish_reason}): raise max_tokens"
    message = f"{spec}: {base_url} sent {what} (finish reason {completion.finish_reason or 'none'}){why}"
    raise EmptyAnswer(one_line(message), spec.partition(":")[0], completion)


def deadline_passed(spec: str, base_url: str, seconds: float) -> ProviderError:
    """The whole call (connect, retries, every byte of the answer) took longer than `timeout`: a server
    that keeps sending a byte now and then never trips the HTTP client's per-read timeout."""
    provider = spec.partition(":")[0]
    return ProviderError(
        ErrorKind.TIMEOUT,
        f"{spec}: {base_url} did not finish answering within {seconds:g} s (the whole-call limit); "
        f"raise [{provider}] timeout in rel.toml or check the server",
        provider,
    )


_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@")


def strip_url_credentials(text: str) -> str:
    """`text` with the user:password@ part of every URL in it removed."""
    return _URL_USERINFO.sub(r"\1", text) if "@" in text else text


def split_spec(spec: str) -> tuple[str, str]:
    """`openai:gpt-4o-mini` -> ("openai", "gpt-4o-mini"); anything else is a config error."""
    provider, sep, model = spec.partition(":")
    if not sep or provider not in PROVIDERS or not model:
        raise ProviderError(
            ErrorKind.CONFIG,
            f"model spec {spec!r} must be provider:model with provider one of {', '.join(PROVIDERS)}"
            " (e.g. openai:gpt-4o-mini, anthropic:claude-sonnet-4-5)",
        )
    return provider, model


# -- helpers shared by the provider implementations -------------------------------------------

API_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
BASE_URL_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}
API_NAME = {"openai": "OpenAI-compatible", "anthropic": "Anthropic Messages API"}
ENDPOINT_PATH = {"openai": "/chat/completions", "anthropic": "/v1/messages"}  # what each provider POSTs to

# What a web server that is not the API answers a POST with: 405 (nginx, Apache on a static site),
# 501 (`python -m http.server`), or a 404 that is no API error object (a page, FastAPI's
# {"detail": "Not Found"} for a base URL missing its /v1). None of them is transient.
NOT_AN_API_STATUSES = (405, 501)
# Statuses the SDKs would retry (every 5xx) that never change on a retry.
NEVER_RETRIED_STATUSES = frozenset({501})

# How servers say "too long": OpenAI's code, vLLM/llama.cpp/Ollama wording, Anthropic's wording.
_CONTEXT_LENGTH_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context length",
    "context window",
    "prompt is too long",
    "too many tokens",
)
_QUOTA_MARKERS = ("insufficient_quota", "credit balance is too low", "billing")


MIN_SECRET_LENGTH = 8  # shorter "keys" (e.g. "x") are not masked: they would mangle ordinary words
_ELLIPSIS = "…"  # what one_line() ends a cut text with
_MIN_CUT_PREFIX = 4  # a key cut by one_line() is masked if at least this much of it is left


def redact(text: str, secret: str | None) -> str:
    """`text` with every occurrence of `secret` replaced by ***, and also the start of it left where
    one_line() cut the text inside it (a key prefix is a leak too)."""
    if not text or not secret or len(secret) < MIN_SECRET_LENGTH:
        return text
    text = text.replace(secret, "***")
    if _ELLIPSIS not in text:
        return text
    pieces = text.split(_ELLIPSIS)
    for i, piece in enumerate(pieces[:-1]):
        for n in range(min(len(secret) - 1, len(piece)), _MIN_CUT_PREFIX - 1, -1):
            if piece.endswith(secret[:n]):
                pieces[i] = piece[:-n] + "***"
                break
    return _ELLIPSIS.join(pieces)


def _leaks(text: str, secret: str) -> bool:
    return redact(text, secret) != text


def one_line(text: object, limit: int = 300) -> str:
    """Provider messages can be long or multi-line; errors here are one line, and server text in them
    can never drive the terminal (escape and control characters are shown, not sent)."""
    flat = terminal_one_line(" ".join(str(text).split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


EXCERPT_CHARS = 200  # of a server's error text, in messages, llm_calls and problems.state_detail
_HTML = re.compile(r"(?i)<(?:!doctype|html|head|body|title|h1|p|pre)\b")
_HIDDEN_HTML = re.compile(r"(?is)<(script|style|head)\b[^>]*>.*?</\1\s*>")
_TAG = re.compile(r"<[^<>]*>")


def is_page(text: object) -> bool:
    """Whether a server's error body is an HTML page (looked for in its start only)."""
    return isinstance(text, str) and _HTML.search(text[: 20 * EXCERPT_CHARS]) is not None


def excerpt(text: object, limit: int = EXCERPT_CHARS) -> str:
    """A server's error text for a one-line message: an HTML page's text without its tags, head, scripts
    and styles; at most `limit` characters, never the whole page."""
    start = str(text)[: 20 * limit]  # only the start is shown: the patterns never see a whole page
    if _HTML.search(start):
        start = html.unescape(_TAG.sub(" ", _HIDDEN_HTML.sub(" ", start)))
    return one_line(start, limit)


def error_kind_for_status(status: int, code: str | None, message: str, api_error: bool = True, page: bool = False) -> ErrorKind:
    """Classify an HTTP error the SDK gave up on (after its retries, where it retries). `api_error`:
    the body was the API's JSON error object (with a message), not a page or some other document;
    `page`: the body was an HTML page (is_page)."""
    if status in NOT_AN_API_STATUSES or (status == 404 and not api_error):
        return ErrorKind.NOT_AN_API
    # LLM APIs answer a bad request with a JSON error (or at least text); a 400 *page* comes from a
    # proxy or web server in front ("plain HTTP request sent to HTTPS port", "header too large", a
    # web server refusing the POST), and it answers every problem's request alike: stop the run
    # rather than mark each problem errored. A non-page 400 may be about this one request: not fatal.
    if status == 400 and page:
        return ErrorKind.NOT_AN_API
    lowered = f"{code or ''} {message}".lower()
    if status == 402 or (status in (400, 403, 429) and any(m in lowered for m in _QUOTA_MARKERS)):
        return ErrorKind.QUOTA
    if status in (400, 413, 422) and any(m in lowered for m in _CONTEXT_LENGTH_MARKERS):
        return ErrorKind.CONTEXT_LENGTH
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 404:
        return ErrorKind.NOT_FOUND
    if status == 429:
        return ErrorKind.RATE_LIMIT
    if status == 408 or status >= 500:
        return ErrorKind.SERVER
    return ErrorKind.BAD_REQUEST


def base_url_setting(provider: str, own_spec: str | None = None) -> str:
    """Where the base URL a provider calls is set, for messages that say what to fix: a model's own
    `[models."SPEC"] base_url`, else the provider's section or the SDK's environment variable."""
    if own_spec is not None:
        return f'base_url for [models."{own_spec}"] in rel.toml'
    return f"[{provider}] base_url in rel.toml or {BASE_URL_ENV[provider]}"


def status_error_message(
    kind: ErrorKind,
    spec: str,
    base_url: str,
    status: int,
    detail: str,
    retries: int,
    key_env: str | None,
    url_setting: str | None = None,
) -> str:
    """One line that says what failed and what to do about it. `base_url` is the one called (shown
    without credentials), `url_setting` where it is set (base_url_setting)."""
    provider = spec.partition(":")[0]
    said = f"({status}: {detail})"
    if kind == ErrorKind.NOT_AN_API:
        return (
            f"{spec}: this does not look like an {API_NAME[provider]} endpoint "
            f"(HTTP {status} from {base_url}{ENDPOINT_PATH[provider]}: {detail}); "
            f"check {url_setting or base_url_setting(provider)}"
        )
    if kind == ErrorKind.AUTH:
        fix = f"check {key_env}" if key_env else f'if it needs a key, set api_key_env for [models."{spec}"] in rel.toml'
        return f"{provider}: the server at {base_url} refused the credentials {said}; {fix}"
    if kind == ErrorKind.NOT_FOUND:
        return (
            f"{spec}: model not found at {base_url} {said}; check the model name "
            "(generator/critic in rel.toml, REL_GENERATOR/REL_CRITIC, --generator/--critic)"
        )
    if kind == ErrorKind.QUOTA:
        return f"{provider}: out of quota or credit {said}; add credit or raise the limit, then resume the run"
    if kind == ErrorKind.CONTEXT_LENGTH:
        return f"{spec}: prompt plus max_tokens exceed the model's context window {said}; shorten the prompt or lower max_tokens"
    if kind == ErrorKind.RATE_LIMIT:
        return (
            f"{spec}: still rate limited after {retries} retries {said}; "
            f"lower [{provider}] concurrency or requests_per_minute, or raise max_retries"
        )
    if kind == ErrorKind.SERVER:
        return f"{spec}: server error at {base_url} after {retries} retries {said}; try again later"
    return f"{spec}: request rejected {said}"


def transport_error(
    exc: BaseException, spec: str, base_url: str, timeout: float, retries: int, url_setting: str | None = None
) -> ProviderError:
    """No HTTP answer at all: refused, unreachable or too slow, after the SDK's retries."""
    provider = spec.partition(":")[0]
    if timed_out(exc):
        return ProviderError(
            ErrorKind.TIMEOUT,
            f"{spec}: no response from {base_url} within {timeout:g} s, {_attempts(retries)}; "
            f"raise [{provider}] timeout in rel.toml or check the server",
            provider,
        )
    reason = "connection refused" if connection_refused(exc) else one_line(root_cause(exc), 120)
    return ProviderError(
        ErrorKind.CONNECTION,
        f"{provider}: cannot connect to {base_url} ({reason}), {_attempts(retries)}; is the server running? "
        f"Check {url_setting or base_url_setting(provider)}",
        provider,
    )


def _attempts(retries: int) -> str:
    return "1 attempt" if retries == 0 else f"{retries + 1} attempts"


def stream_broke(
    exc: BaseException | None, spec: str, base_url: str, partial_text: str, reason: str | None = None
) -> ProviderError:
    reason = reason or _why_stream_broke(exc)
    return ProviderError(
        ErrorKind.STREAM,
        f"{spec}: the response stream from {base_url} broke off after {len(partial_text)} characters ({reason}); "
        "the call can be retried",
        spec.partition(":")[0],
        partial_text=partial_text,
    )


def _why_stream_broke(exc: BaseException | None) -> str:
    if exc is None:
        return "it ended before the model finished"
    if any("timeout" in type(e).__name__.lower() for e in _chain(exc)):
        return "no data within the timeout"
    return "the connection closed mid-response"


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def root_cause(exc: BaseException) -> str:
    """The innermost error's text (SDK wrappers say only "Connection error.")."""
    innermost = _chain(exc)[-1]
    return str(innermost) or type(innermost).__name__


def timed_out(exc: BaseException) -> bool:
    """Judged by the innermost error: the aiohttp transport maps every connection error, even a
    refused one or a failed DNS lookup, to a connect *timeout* before the SDK sees it."""
    innermost = _chain(exc)[-1]
    return isinstance(innermost, TimeoutError) or "timeout" in type(innermost).__name__.lower()


def connection_refused(exc: BaseException) -> bool:
    """Whether the cause chain holds a refused connection (the aiohttp transport reports it as a timeout)."""
    return any(isinstance(e, ConnectionRefusedError) or "connect call failed" in str(e).lower() for e in _chain(exc))


def estimate_tokens(text: str) -> int:
    """Roughly four characters per token, for servers that report no usage."""
    return (len(text) + 3) // 4


async def refuse_hopeless_retries(response) -> None:
    """httpx response hook. The SDKs retry every 429 and 5xx, but `insufficient_quota` never clears by
    waiting, nor does a 501 (a web server that does not take POSTs): `x-should-retry: false` is the
    SDKs' own switch for "do not retry this response"."""
    if response.status_code in NEVER_RETRIED_STATUSES:
        response.headers["x-should-retry"] = "false"
        return
    if response.status_code != 429:
        return
    await response.aread()
    if b"insufficient_quota" in response.content:
        response.headers["x-should-retry"] = "false"


def not_json(exc: ValueError, spec: str, base_url: str, provider: str) -> ProviderError:
    """A 200 whose body does not parse as JSON (a proxy's page, a truncated body)."""
    return ProviderError(
        ErrorKind.SERVER, f"{spec}: unexpected answer from {base_url}: not valid JSON ({one_line(exc, 120)})", provider
    )


def not_an_event_stream(content_type: str, body: bytes, spec: str, base_url: str, provider: str) -> ProviderError:
    """A streamed call answered with a page or a JSON document instead of server-sent events."""
    snippet = excerpt(body.decode("utf-8", "replace"), 120)
    return ProviderError(
        ErrorKind.SERVER,
        f"{spec}: unexpected answer from {base_url}: not an event stream ({content_type or 'no content type'}: {snippet})",
        provider,
    )


_NOT_STREAM_TYPES = ("text/html", "text/plain", "application/json")


async def require_event_stream(response, spec: str, base_url: str, provider: str, close: Callable) -> None:
    """A streamed call's 200 must be server-sent events: a page or a JSON document in its place (a
    proxy's login or error page) is a server error that says what came, not an "empty stream"."""
    content_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type not in _NOT_STREAM_TYPES and not content_type.endswith("+json"):
        return
    try:
        body = await response.aread()
    finally:
        await close()
    raise not_an_event_stream(content_type, body[:2000], spec, base_url, provider)


def shown_url(url: str) -> str:
    """The URL without credentials (user:password@, ?key=values), even when it does not parse."""
    try:
        return redact_url(url)
    except ValueError:
        return re.sub(r"//[^/?#]*@", "//", url).partition("?")[0]


def require_json_object(answer: object, expected: str, spec: str, base_url: str, provider: str) -> dict:
    """A plain call's body, read as JSON by the SDK: anything but an object is a broken server."""
    if isinstance(answer, dict):
        return answer
    raise ProviderError(
        ErrorKind.SERVER,
        f"{spec}: unexpected answer from {base_url}: not {expected} ({one_line(answer, 120)})",
        provider,
    )
