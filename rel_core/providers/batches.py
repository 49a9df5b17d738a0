"""Provider batch APIs through the real SDK clients: OpenAI Batch and Anthropic Message Batches.

    client = batch_client_for(llm_client, "openai:gpt-4o-mini")
    await client.probe()                        # ProviderError (config) when the server has no batch API
    batch_id = await client.submit(items, label, on_uploaded=record_file_id)
    status = await client.status(batch_id)      # provider status, ended?, request counts
    results = await client.results(batch_id)    # one BatchResult per custom_id, in any order

Requests are built and answers read by the same code as direct calls (openai_provider /
anthropic_provider), so a batch asks exactly what a direct call would and reads its answer the same way.
OpenAI: a JSONL file of {custom_id, method, url, body} uploaded with purpose "batch", one model per
batch, completion window 24 h; output and error files, matched by custom_id. Anthropic:
`requests: [{custom_id, params}]`, results as JSONL of succeeded | errored | canceled | expired.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .base import (
    Completion,
    CompletionRequest,
    ErrorKind,
    ProviderError,
    one_line,
    split_spec,
)

if TYPE_CHECKING:
    from .client import LLMClient

ResultKind = Literal["succeeded", "errored", "expired", "canceled"]
CHAT_URL = "/v1/chat/completions"


@dataclass(frozen=True)
class Limits:
    max_requests: int
    max_bytes: int


# The providers' documented limits per batch (OpenAI: per input file).
OPENAI_LIMITS = Limits(50_000, 200 * 1024 * 1024)
ANTHROPIC_LIMITS = Limits(100_000, 256 * 1024 * 1024)


@dataclass(frozen=True)
class BatchItem:
    custom_id: str
    request: CompletionRequest


@dataclass(frozen=True)
class BatchStatus:
    status: str  # the provider's own word: validating, in_progress, finalizing, ended, completed, ...
    ended: bool  # results (if any) can be collected
    counts: dict[str, int] = field(default_factory=dict)
    failure: str | None = None  # the batch as a whole was refused (validation): one line


@dataclass(frozen=True)
class BatchResult:
    custom_id: str
    kind: ResultKind
    completion: Completion | None = None
    error: str | None = None  # errored: the provider's message, one line


class BatchClient(Protocol):
    provider: str
    base_url: str
    limits: Limits

    def encoded(self, item: BatchItem) -> bytes: ...

    async def probe(self) -> None: ...

    async def submit(self, items: list[BatchItem], label: str, on_uploaded: Any) -> tuple[str, str]: ...

    async def find(self, label: str, input_file_id: str | None, since: datetime, count: int, known: set[str]) -> str | None:
        """The provider's id of a batch a killed run may have created; `known`: the ids this database has already."""
        ...

    async def status(self, batch_id: str) -> BatchStatus: ...

    async def results(self, batch_id: str) -> list[BatchResult]: ...

    async def cancel(self, batch_id: str) -> None: ...


def batch_client_for(llm_client: LLMClient, spec: str) -> BatchClient:
    """The batch client for a model spec, on the same SDK client (key, base URL, retries) as its direct calls."""
    provider = llm_client.provider_for(spec)
    if provider.name == "openai":
        return OpenAIBatches(provider)
    return AnthropicBatches(provider)


def no_batch_api(provider: str, base_url: str, status: int | None) -> ProviderError:
    return ProviderError(
        ErrorKind.CONFIG,
        f"{provider}: the server at {base_url} has no batch API (HTTP {status} on its batch endpoints); run without --batch",
        provider,
        status=status,
    )


class _SDKBatches:
    """What both adapters share: the direct-call provider they ride on (its SDK client, base URL and
    error translation), and how an SDK error becomes a ProviderError."""

    provider: str
    limits: Limits

    def __init__(self, provider: Any, sdk: ModuleType):
        self._provider = provider
        self._sdk = sdk  # openai or anthropic: both name their errors NotFoundError and APIError
        self.client = provider.client
        self.base_url = provider.base_url

    async def _call(self, pending: Any, spec: str, probing: bool = False) -> Any:
        try:
            return await pending
        except self._sdk.NotFoundError as exc:
            if probing:
                raise no_batch_api(self.provider, self.base_url, exc.status_code) from None
            raise self._provider.translate(exc, spec) from exc
        except self._sdk.APIError as exc:
            raise self._provider.translate(exc, spec) from exc


class OpenAIBatches(_SDKBatches):
    provider = "openai"
    limits = OPENAI_LIMITS

    def __init__(self, provider: Any):
        import openai

        super().__init__(provider, openai)

    def encoded(self, item: BatchItem) -> bytes:
        from .openai_provider import request_body

        _, model = split_spec(item.request.model)
        line = {
            "custom_id": item.custom_id,
            "method": "POST",
            "url": CHAT_URL,
            "body": request_body(model, item.request, False),
        }
        return (json.dumps(line, ensure_ascii=False) + "\n").encode()

    async def probe(self) -> None:
        await self._call(self.client.batches.list(limit=1), "openai", probing=True)

    async def submit(self, items: list[BatchItem], label: str, on_uploaded: Any) -> tuple[str, str]:
        """(the provider's batch id, its status); `on_uploaded(file_id)` runs between upload and create."""
        content = b"".join(self.encoded(item) for item in items)
        uploaded = await self._call(
            self.client.files.create(file=(f"{label}.jsonl", content), purpose="batch"), items[0].request.model
        )
        on_uploaded(uploaded.id)  # written before the batch is created: a kill now can still find it
        batch = await self._call(
            self.client.batches.create(
                input_file_id=uploaded.id, endpoint=CHAT_URL, completion_window="24h", metadata={"rel_batch": label}
            ),
            items[0].request.model,
        )
        return batch.id, batch.status

    async def find(self, label: str, input_file_id: str | None, since: datetime, count: int, known: set[str]) -> str | None:
        """The batch made from the uploaded file: the file id names it exactly."""
        if input_file_id is None:  # the file never got an id back: no batch can have been made from it
            return None
        return await self._call(self._find(input_file_id, since), "openai")

    async def _find(self, input_file_id: str, since: datetime) -> str | None:
        async for batch in self.client.batches.list(limit=100):  # newest first
            if batch.input_file_id == input_file_id:
                return batch.id
            if batch.created_at < since.timestamp() - 60:
                return None
        return None

    async def status(self, batch_id: str) -> BatchStatus:
        batch = await self._call(self.client.batches.retrieve(batch_id), "openai")
        counts = batch.request_counts.model_dump() if batch.request_counts else {}
        failure = None
        if batch.status == "failed":
            errors = batch.errors.data if batch.errors and batch.errors.data else []
            failure = "; ".join(_openai_batch_error(e) for e in errors[:3]) or "failed validation"
        ended = batch.status in ("completed", "expired", "cancelled", "failed")
        return BatchStatus(batch.status, ended, counts, failure)

    async def results(self, batch_id: str) -> list[BatchResult]:
        batch = await self._call(self.client.batches.retrieve(batch_id), "openai")
        results: list[BatchResult] = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                content = await self._call(self.client.files.content(file_id), "openai")
                results += [self._result(json.loads(line)) for line in content.text.splitlines() if line.strip()]
        return results

    async def cancel(self, batch_id: str) -> None:
        await self._call(self.client.batches.cancel(batch_id), "openai")

    def _result(self, line: dict[str, Any]) -> BatchResult:
        from .openai_provider import completion_from_json

        custom_id = str(line.get("custom_id"))
        response = line.get("response") or {}
        body = response.get("body") if isinstance(response, dict) else None
        if isinstance(response, dict) and response.get("status_code") == 200 and isinstance(body, dict):
            return BatchResult(custom_id, "succeeded", completion_from_json(body, str(body.get("model") or "")))
        error = line.get("error") or {}
        code = error.get("code") if isinstance(error, dict) else None
        if code == "batch_expired":
            return BatchResult(custom_id, "expired")
        if code == "batch_cancelled":
            return BatchResult(custom_id, "canceled")
        return BatchResult(custom_id, "errored", error=_openai_line_error(response, error))


class AnthropicBatches(_SDKBatches):
    provider = "anthropic"
    limits = ANTHROPIC_LIMITS

    def __init__(self, provider: Any):
        import anthropic

        super().__init__(provider, anthropic)

    def _entry(self, item: BatchItem) -> dict[str, Any]:
        from .anthropic_provider import request_params

        _, model = split_spec(item.request.model)
        return {"custom_id": item.custom_id, "params": request_params(model, item.request)}

    def encoded(self, item: BatchItem) -> bytes:
        return (json.dumps(self._entry(item), ensure_ascii=False) + ",").encode()

    async def probe(self) -> None:
        await self._call(self.client.messages.batches.list(limit=1), "anthropic", probing=True)

    async def submit(self, items: list[BatchItem], label: str, on_uploaded: Any) -> tuple[str, str]:
        batch = await self._call(
            self.client.messages.batches.create(requests=[self._entry(i) for i in items]), items[0].request.model
        )
        return batch.id, batch.processing_status

    async def find(self, label: str, input_file_id: str | None, since: datetime, count: int, known: set[str]) -> str | None:
        """A batch created since `since` with `count` requests that this database does not know yet:
        the Message Batches API keeps no metadata, so this is the best match there is (the results'
        custom_ids, which name this database's requests, are checked when it is collected)."""
        return await self._call(self._find(since, count, known), "anthropic")

    async def _find(self, since: datetime, count: int, known: set[str]) -> str | None:
        async for batch in self.client.messages.batches.list(limit=100):  # newest first
            if batch.created_at.timestamp() < since.timestamp() - 60:
                return None
            if batch.request_counts and sum(batch.request_counts.model_dump().values()) == count and batch.id not in known:
                return batch.id
        return None

    async def status(self, batch_id: str) -> BatchStatus:
        batch = await self._call(self.client.messages.batches.retrieve(batch_id), "anthropic")
        counts = batch.request_counts.model_dump() if batch.request_counts else {}
        return BatchStatus(batch.processing_status, batch.processing_status == "ended", counts)

    async def results(self, batch_id: str) -> list[BatchResult]:
        from .anthropic_provider import completion_from_json

        decoder = await self._call(self.client.messages.batches.results(batch_id), "anthropic")
        results: list[BatchResult] = []
        async for entry in decoder:
            result = entry.result
            if result.type == "succeeded":
                message = result.message.model_dump(mode="json")
                completion = completion_from_json(message, message.get("model") or "")
                results.append(BatchResult(entry.custom_id, "succeeded", completion))
            elif result.type == "errored":
                error = result.error.error
                results.append(BatchResult(entry.custom_id, "errored", error=one_line(f"{error.type}: {error.message}")))
            else:
                results.append(BatchResult(entry.custom_id, result.type))
        return results

    async def cancel(self, batch_id: str) -> None:
        await self._call(self.client.messages.batches.cancel(batch_id), "anthropic")


def _openai_batch_error(error: Any) -> str:
    where = f" (line {error.line})" if getattr(error, "line", None) else ""
    return one_line(f"{error.code or 'invalid'}: {error.message or ''}{where}")


def _openai_line_error(response: Any, error: Any) -> str:
    """The provider's message for one failed request of an OpenAI batch."""
    body = response.get("body") if isinstance(response, dict) else None
    inner = body.get("error") if isinstance(body, dict) else None
    source = inner if isinstance(inner, dict) else error if isinstance(error, dict) else {}
    status = response.get("status_code") if isinstance(response, dict) else None
    message = source.get("message") or "no message"
    code = source.get("code") or source.get("type")
    prefix = f"HTTP {status}" + (f" {code}" if code else "") if status else (code or "error")
    return one_line(f"{prefix}: {message}")
