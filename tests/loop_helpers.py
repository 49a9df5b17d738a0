"""Scripting the loopback LLM server per problem and per loop step, for the loop and runner tests.

A problem's text carries a marker (e.g. `[P1]`); the step is recognised from the prompt the
loop's templates produce (`RecordedRequest.prompt`: the system message, with the problem, and the
user message). Each (marker, step) has a list of replies used in order; the last
one repeats.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from llm_server import RecordedRequest, Reply

STEP_SIGNATURES = (  # checked in order: the critic's prompt quotes the solution, so it goes first
    ("critic", "You are marking a student's worked solution"),
    ("revise", "Reviewer's hint:"),
    ("final_rewrite", "Rewrite the worked solution from the very beginning"),
    ("cleanup", "Edit it into one coherent trace"),
    ("generate", "Solve the problem above"),
    ("generate", "Solve the problem below"),  # a user template that still holds the problem
)


def step_of(request: RecordedRequest) -> str:
    prompt = request.prompt
    return next((step for step, signature in STEP_SIGNATURES if signature in prompt), "unknown")


def marker_of(request: RecordedRequest, markers) -> str | None:
    """The problem marker in the problem statement (the first one that appears)."""
    prompt = request.prompt
    found = [(prompt.find(m), m) for m in markers if m in prompt]
    return min(found)[1] if found else None


class Script:
    """Replies per problem marker and step; unscripted requests get a 400 so tests notice."""

    def __init__(self):
        self.replies: dict[tuple[str, str], list[Reply | str]] = {}
        self.used: dict[tuple[str, str], int] = defaultdict(int)
        self.seen: list[tuple[str | None, str]] = []
        self._lock = threading.Lock()

    def on(self, marker: str, step: str, *replies: Reply | str) -> Script:
        self.replies[(marker, step)] = list(replies)
        return self

    def __call__(self, request: RecordedRequest) -> Reply | str:
        marker = marker_of(request, {m for m, _ in self.replies})
        step = step_of(request)
        with self._lock:
            self.seen.append((marker, step))
            replies = self.replies.get((marker, step))
            if not replies:
                return Reply.error(400, f"unscripted request: {marker} {step}")
            index = min(self.used[(marker, step)], len(replies) - 1)
            self.used[(marker, step)] += 1
            return replies[index]

    def steps(self, marker: str) -> list[str]:
        return [step for m, step in self.seen if m == marker]


def solution(answer: str, note: str = "") -> str:
    return f"First thoughts... {note}\nLet me verify another way.\n<ANSWER>{answer}</ANSWER>"


def critic_json(verdict: str, step: int | None = None, description: str = "") -> str:
    import json

    return json.dumps({"verdict": verdict, "first_error_step": step, "error_description": description})
