"""LLM providers behind one interface: `LLMClient.complete(CompletionRequest) -> Completion`."""

from .base import (
    PROVIDERS,
    ChatMessage,
    Completion,
    CompletionRequest,
    DeltaCallback,
    ErrorKind,
    ProviderError,
    split_spec,
)
from .client import LLMClient
from .pricing import cost_usd, price_for

__all__ = [
    "PROVIDERS",
    "ChatMessage",
    "Completion",
    "CompletionRequest",
    "DeltaCallback",
    "ErrorKind",
    "LLMClient",
    "ProviderError",
    "cost_usd",
    "price_for",
    "split_spec",
]
