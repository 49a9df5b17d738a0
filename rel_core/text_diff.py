"""The word-level difference between two texts (two attempts of a problem, a draft and its edit).

Unchanged paragraphs are matched first, then the words of each changed region (difflib over word
tokens), so a long draft with a few edits is quick. Every chunk is a slice of the inputs: the old
sides of the chunks join back into the old text, the new sides into the new text.

The work stays bounded on hostile input (thousands of blank or identical paragraphs, one huge
line): difflib's matcher takes time quadratic in the number of repeats of an item, so the shared
first and last paragraphs are matched without it, and a region too large to match item by item
is shown as deleted and inserted whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

MAX_WORD_DIFF_TOKENS = 20_000
"""A changed region with more words than this on a side is shown as deleted and inserted whole:
matching words across it would take seconds and tell the expert nothing more."""
MAX_MATCHED_PARAGRAPHS = 2_000
"""Paragraphs matched one by one (between the shared first and last ones); more on a side and the
rest is one changed region."""

_TOKEN = re.compile(r"\s+|\S+\s*")  # a word with the whitespace after it (or leading whitespace)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


@dataclass(frozen=True)
class Chunk:
    """A run of the diff: `tag` is equal, delete, insert or replace; `old`/`new` its text on each side."""

    tag: str
    old: str
    new: str


def word_diff(old: str, new: str) -> list[Chunk]:
    """The word-level difference from `old` to `new`: unchanged paragraphs are matched first, then
    the words of each changed region."""
    return _merged([chunk for region in diff_regions(old, new) for chunk in region])


def diff_regions(old: str, new: str, max_regions: int | None = None) -> list[list[Chunk]]:
    """The diff in regions that line up side by side: runs of unchanged paragraphs and, between
    them, the word-level chunks of each changed run. At most `max_regions` regions (the rest joins the last)."""
    old_blocks, new_blocks = _paragraphs(old), _paragraphs(new)
    regions: list[list[Chunk]] = []
    for tag, i1, i2, j1, j2 in _paragraph_opcodes(old_blocks, new_blocks):
        a, b = "".join(old_blocks[i1:i2]), "".join(new_blocks[j1:j2])
        region = [Chunk("equal", a, b)] if tag == "equal" else _word_chunks(a, b)
        if max_regions is None or len(regions) < max_regions:
            regions.append(region)
        else:
            regions[-1].extend(region)
    return regions


def word_count(text: str) -> int:
    return len(text.split())


def _paragraphs(text: str) -> list[str]:
    """`text` in paragraphs, each with the blank lines after it (they join back into `text`)."""
    blocks, start = [], 0
    for found in _PARAGRAPH_BREAK.finditer(text):
        blocks.append(text[start : found.end()])
        start = found.end()
    if start < len(text):
        blocks.append(text[start:])
    return blocks


def _paragraph_opcodes(old: list[str], new: list[str]) -> list[tuple[str, int, int, int, int]]:
    """difflib opcodes over paragraphs; the shared first and last ones are matched by a plain scan."""
    head = 0
    while head < min(len(old), len(new)) and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < min(len(old), len(new)) - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    old_end, new_end = len(old) - tail, len(new) - tail
    opcodes = [("equal", 0, head, 0, head)] if head else []
    if max(old_end, new_end) - head > MAX_MATCHED_PARAGRAPHS:
        opcodes.append(("replace", head, old_end, head, new_end))
    else:
        matcher = SequenceMatcher(None, old[head:old_end], new[head:new_end], autojunk=False)
        opcodes += [(tag, i1 + head, i2 + head, j1 + head, j2 + head) for tag, i1, i2, j1, j2 in matcher.get_opcodes()]
    if tail:
        opcodes.append(("equal", old_end, len(old), new_end, len(new)))
    return [op for op in opcodes if op[1] < op[2] or op[3] < op[4]]


def _word_key(token: str) -> str:
    # Words compare without their whitespace, except that a paragraph break stays a difference.
    return token.strip() + ("¶" if token.count("\n") > 1 else "")


def _word_chunks(old: str, new: str) -> list[Chunk]:
    old_tokens, new_tokens = _TOKEN.findall(old), _TOKEN.findall(new)
    if max(len(old_tokens), len(new_tokens)) > MAX_WORD_DIFF_TOKENS:
        return [Chunk("replace", old, new)]
    matcher = SequenceMatcher(None, [_word_key(t) for t in old_tokens], [_word_key(t) for t in new_tokens])
    return [Chunk(tag, "".join(old_tokens[i1:i2]), "".join(new_tokens[j1:j2])) for tag, i1, i2, j1, j2 in matcher.get_opcodes()]


def _merged(chunks: list[Chunk]) -> list[Chunk]:
    merged: list[Chunk] = []
    for chunk in chunks:
        if not (chunk.old or chunk.new):
            continue
        if merged and merged[-1].tag == chunk.tag:
            last = merged.pop()
            chunk = Chunk(chunk.tag, last.old + chunk.old, last.new + chunk.new)
        merged.append(chunk)
    return merged
