"""Typed messages that workers post; the screens' @on handlers own every UI change they cause."""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from textual.message import Message

from rel_core.models import Attempt, Critique


@dataclass
class DraftStarted(Message):
    """A regeneration began for this problem."""

    problem_id: int
    hint: str | None


@dataclass
class DraftChunk(Message):
    """The streamed draft so far. It carries the whole text, so a newer chunk may replace an older one."""

    problem_id: int
    text: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DraftChunk) and message.problem_id == self.problem_id


@dataclass
class DraftFinished(Message):
    """The regenerated attempt is in the database, with the critique of it."""

    problem_id: int
    attempt: Attempt
    critique: Critique | None


@dataclass
class CritiqueFinished(Message):
    """The critic ran again on an attempt; the critique is in the database."""

    problem_id: int
    critique: Critique


@dataclass
class DraftRendered(Message):
    """A draft rendered off the UI thread, ready to show (key names the text and width it was made for)."""

    key: tuple[int, int]
    lines: list[list[Segment]]


@dataclass
class AnswerChecked(Message):
    """The deterministic answer check ran on an attempt; its CHECK critique is in the database."""

    problem_id: int
    attempt_id: int
    critique: Critique
