"""The domain: problems, attempts at worked solutions, critiques, expert reviews and LLM calls.

These pydantic models are the boundary between the store, the loop, the importers and the UI.
Nothing here knows about SQLite or Textual.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, Field


def utcnow() -> str:
    """Timestamps are ISO-8601 UTC strings: sortable as text and readable in the database."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ProblemState(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    AWAITING_REVIEW = "awaiting_review"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"  # the loop ran out of iterations
    ERRORED = "errored"  # a provider error stopped the loop


class AttemptKind(StrEnum):
    GENERATED = "generated"
    REVISED = "revised"
    FINAL_REWRITE = "final_rewrite"
    CLEANED = "cleaned"
    HUMAN_EDIT = "human_edit"
    IMPORTED = "imported"


class Verdict(StrEnum):
    CORRECT = "correct"
    INCORRECT = "incorrect"
    UNKNOWN = "unknown"


class Standing(StrEnum):
    """Where the judges of one attempt stand together (rel_core.verdicts decides it)."""

    CORRECT = "correct"
    INCORRECT = "incorrect"
    UNKNOWN = "unknown"
    DISPUTED = "disputed"  # the answer check and the LLM critic reached opposite verdicts


class CritiqueSource(StrEnum):
    CHECK = "check"  # deterministic answer check (math-verify)
    LLM = "llm"  # an LLM critic
    EXPERT = "expert"
    IMPORTED = "imported"  # a verdict that came with imported data; not trusted as verification


class Decision(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SKIPPED = "skipped"


def content_hash(*parts: str | None) -> str:
    """Hash of whitespace-normalised text, so re-imports of the same content are recognised."""
    normalised = "\x1f".join(" ".join((part or "").split()) for part in parts)
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def require_id(record_id: int | None, what: str = "record") -> int:
    """The id of a record read from (or written to) the store, where it is always set: the models
    keep `id: int | None` for records not yet stored, and passing one of those on is a bug, said here."""
    if record_id is None:
        raise ValueError(f"{what} has no id: it was never stored")
    return record_id


class Problem(BaseModel):
    id: int | None = None
    text: str
    reference_answer: str | None = None
    reference_solution: str | None = None
    source: str | None = None
    subject: str | None = None
    level: str | None = None
    tags: list[str] = Field(default_factory=list)
    state: ProblemState = ProblemState.PENDING
    state_detail: str | None = None
    created_at: str = Field(default_factory=utcnow)
    updated_at: str = Field(default_factory=utcnow)

    @property
    def hash(self) -> str:
        return content_hash(self.text)


class Attempt(BaseModel):
    id: int | None = None
    problem_id: int | None = None
    parent_id: int | None = None
    kind: AttemptKind
    text: str
    final_answer: str | None = None
    model: str | None = None
    template: str | None = None
    template_version: str | None = None
    temperature: float | None = None
    iteration: int = 0
    hint: str | None = None
    llm_call_id: int | None = None
    reasoning: str | None = None
    """Reasoning the model sent apart from its answer (reasoning_content, thinking), if any."""
    created_at: str = Field(default_factory=utcnow)


class Critique(BaseModel):
    id: int | None = None
    attempt_id: int | None = None
    verdict: Verdict = Verdict.UNKNOWN
    first_error_step: str | None = None
    error_description: str | None = None
    source: CritiqueSource
    model: str | None = None
    raw: str | None = None
    llm_call_id: int | None = None
    created_at: str = Field(default_factory=utcnow)


class Review(BaseModel):
    id: int | None = None
    problem_id: int
    decision: Decision
    attempt_id: int | None = None
    annotator: str
    seconds_spent: float = 0.0
    note: str | None = None
    previous_state: ProblemState | None = None
    undone_at: str | None = None
    created_at: str = Field(default_factory=utcnow)
    guideline_version: str | None = None
    """Start of the SHA-256 of the guidelines in force when the decision was made (None: none configured)."""
    role: str | None = None
    """`adjudicated` for an adjudicator's final word on a disputed overlap item; None for an expert's own decision."""


class LLMCall(BaseModel):
    id: int | None = None
    problem_id: int | None = None
    provider: str
    model: str
    purpose: str
    request: str
    response: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    """Of input_tokens, read from the provider's prompt cache."""
    cache_write_tokens: int | None = None
    """Of input_tokens, written to the prompt cache (Anthropic)."""
    tokens_estimated: bool = False
    latency_ms: float | None = None
    cost_usd: float | None = None
    finish_reason: str | None = None
    error: str | None = None
    reasoning: str | None = None
    """Reasoning text sent apart from the answer (reasoning_content / reasoning / thinking)."""
    created_at: str = Field(default_factory=utcnow)


class ProblemHistory(BaseModel):
    """Everything known about one problem, oldest first."""

    problem: Problem
    attempts: list[Attempt]
    critiques: list[Critique]
    reviews: list[Review]

    def critiques_for(self, attempt_id: int | None) -> list[Critique]:
        """The critiques of one attempt (none for an attempt that was never stored: its id is None)."""
        return [c for c in self.critiques if c.attempt_id == attempt_id]

    @property
    def adjudicated(self) -> Review | None:
        """An adjudicator's live final word on a disputed overlap item (rel_core.adjudication), if any."""
        return next((r for r in reversed(self.reviews) if r.role == "adjudicated" and r.undone_at is None), None)

    @property
    def accepted_attempt(self) -> Attempt | None:
        final = self.adjudicated  # it overrides the experts' own decisions
        if final is not None:
            return (
                next((a for a in self.attempts if a.id == final.attempt_id), None)
                if final.decision == Decision.ACCEPTED
                else None
            )
        if self.problem.state != ProblemState.ACCEPTED:
            # an expert's accept that does not stand (an overlap item still waiting for the other experts
            # or for adjudication) is that expert's label, not the item's solution
            return None
        for review in reversed(self.reviews):
            if review.undone_at is None and review.decision == Decision.ACCEPTED:
                return next((a for a in self.attempts if a.id == review.attempt_id), None)
        return None

    @property
    def latest_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None


class QueueItem(BaseModel):
    """One row of the review queue: enough to list it without loading its attempts."""

    id: int
    text: str
    state: ProblemState
    source: str | None
    subject: str | None
    attempts: int
    verdict: Standing | None  # of the accepted attempt, else the latest (rel_core.verdicts)
    verdict_label: str | None = None  # e.g. "✓ correct", "disputed: ✓ check · ✗ critic"


class ImportRecord(BaseModel):
    """One problem as an importer found it, with any drafts that came with it."""

    problem: Problem
    attempts: list[Attempt] = Field(default_factory=list)
    critiques: list[Critique] = Field(default_factory=list)  # one per attempt, same order; may be shorter
    origin: str = ""  # path:line, for error messages
    # Content hashes worked out where the record was read (an import worker process), so that the
    # process writing the database does not spend its time on them; None: the store works them out.
    problem_hash: str | None = None
    attempt_hashes: list[str] | None = None  # one per attempt
