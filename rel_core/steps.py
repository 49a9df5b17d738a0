"""A worked solution as numbered steps: the one rule the critic, the screen and the exports share.

"Step 3" must mean the same text to the critic that names it, to the expert who reads it and to
the per-step labels an export carries, so the split is defined once, here:

- Steps are separated by blank lines (lines of only whitespace).
- Each list item (`- `, `* `, `+ `, `1. `, `1) `, up to three spaces in) starts a step of its
  own; the lines after it, up to the next item or blank line, belong to it. Text before the
  first item of a paragraph (a lead-in such as "Three ways in:") is a step too.
- A fenced code block (``` or ~~~) and a display-math block (`$$ … $$`, `\\[ … \\]`) are never
  split, even where they hold blank lines: they belong to the step they start in.
- A heading line (`#`…) is not a step: it joins the step that follows it.

The split is a single pass over the lines (linear time), and every step is a slice of the
original text, so offsets can highlight it on screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Anchored, no nested quantifiers: each is tried once at the start of a line.
_LIST_ITEM = re.compile(r" {0,3}(?:[-*+]|\d{1,9}[.)])[ \t]")
_FENCE = re.compile(r" {0,3}(```|~~~)")
_HEADING = re.compile(r" {0,3}#{1,6}(?:[ \t]|$)")


@dataclass(frozen=True)
class Step:
    number: int
    start: int
    end: int
    text: str


def split_steps(text: str) -> list[Step]:
    """The numbered steps of `text` by the rule above; an empty or blank text has none."""
    spans = _spans(text)
    steps: list[Step] = []
    for start, end in spans:
        body = text[start:end].rstrip()
        if body.strip():
            steps.append(Step(len(steps) + 1, start, start + len(body), body))
    return steps


def numbered(text: str) -> str:
    """`text` with each step prefixed by its number in brackets, for prompts that cite steps."""
    return "\n\n".join(f"[{step.number}] {step.text}" for step in split_steps(text))


def step_containing(steps: list[Step], offset: int) -> Step | None:
    """The step that holds character `offset`, if any."""
    for step in steps:
        if step.start <= offset < step.end:
            return step
    return None


def _spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start: int | None = None  # where the open step began
    heading_start: int | None = None  # a heading waiting for the step it joins
    closer: str | None = None  # inside a fence or display block: the line that ends it
    position = 0
    for line in text.splitlines(keepends=True):
        line_start, position = position, position + len(line)
        content = line.rstrip("\r\n")
        if closer is not None:
            if _closes(content, closer):
                closer = None
            continue
        if not content.strip():
            if start is not None:
                spans.append((start, line_start))
                start = None
            continue
        opener = _opens_block(content)
        if _HEADING.match(content) and opener is None:
            if start is not None:
                spans.append((start, line_start))
                start = None
            if heading_start is None:
                heading_start = line_start
            continue
        if start is not None and _LIST_ITEM.match(content):
            spans.append((start, line_start))
            start = None
        if start is None:
            start = heading_start if heading_start is not None else line_start
            heading_start = None
        closer = opener
    if start is not None:
        spans.append((start, position))
    elif heading_start is not None:
        spans.append((heading_start, position))
    return spans


def _opens_block(content: str) -> str | None:
    """The closing marker when `content` opens a fence or display block it does not also close."""
    fence = _FENCE.match(content)
    if fence:
        return fence.group(1)
    stripped = content.strip()
    for opening, closing in (("$$", "$$"), ("\\[", "\\]")):
        if stripped.startswith(opening):
            rest = stripped[len(opening) :]
            return None if closing in rest else closing
    return None


def _closes(content: str, closer: str) -> bool:
    if closer in ("```", "~~~"):
        return content.strip().startswith(closer)
    return closer in content
