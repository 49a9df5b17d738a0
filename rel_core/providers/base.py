"""The one interface every LLM provider speaks, and the typed errors they raise."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

PROVIDERS = ("openai", "anthropic")

DeltaCallback = Callable[[str], None]


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
    output_tokens: int | None = None
    tokens_estimated: bool = False
    latency_ms: float = 0.0
    finish_reason: str | None = None
    cost_usd: float | None = None
    llm_call_id: int | None = Field(default=None, description="Row id in llm_calls, when metered")


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


# Errors that stop a whole run rather than one problem: every later call would fail the same way.
FATAL_KINDS = frozenset({ErrorKind.CONFIG, ErrorKind.AUTH, ErrorKind.QUOTA, ErrorKind.NOT_FOUND})


class ProviderError(Exception):
    """A provider call that failed after the SDK's own retries; the message is one line."""

    def __init__(self, kind: ErrorKind, message: str, provider: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.provider = provider

    @property
    def fatal(self) -> bool:
        return self.kind in FATAL_KINDS


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
