"""The word-level diff (rel_core.text_diff) on adversarial inputs up to ~200 kB: long runs of
whitespace and blank paragraphs, one huge line, a unit repeated thousands of times, unicode and
escape sequences. The "before" side of the diff rebuilds the old text and the "after" side the new
one, and every input finishes within a deadline a quadratic matcher blows through (the paragraph
matcher took 515 s on 60,000 identical paragraphs before it matched the shared ends by a scan)."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rel_core.text_diff import MAX_WORD_DIFF_TOKENS, Chunk, diff_regions, word_diff

MAX_CHARS = 200_000
ADVERSARIAL = settings(
    deadline=3000,  # ms per input: ~0.2 s at 200 kB on a loaded machine; the old matcher took minutes
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

PIECES = [
    " ", "  ", "\t", "\n", "\r\n", "\n\n", " \n", "\n \t\n", "\n\n\n\n", "\u00a0", "\u2003", "\u200b", "\r",
    "\x1b[31m", "\x1b[0m", "\x1b]8;;http://x\x1b\\", "\x07", "\x00", "\x7f", "\u202e", "é", "e\u0301", "∑", "√",
    "😀", "👩‍👩‍👧", "中文", "שלום", "$x^2$", "\\frac{1}{2}", "Step", "1.", "- ", "so", "the", "42", ".", ",",
]  # fmt: skip
_piece = st.sampled_from(PIECES) | st.text(min_size=1, max_size=6) | st.text(string.printable, min_size=1, max_size=6)
_long = st.sampled_from([10_000, 60_000, 150_000]) | st.integers(1_000, 100_000)
_many = st.sampled_from([20_000, 60_000]) | st.integers(1_000, 60_000)  # paragraphs: enough to hurt


def _joined(runs: list[tuple[str, int]], limit: int) -> str:
    return "".join(piece * count for piece, count in runs)[:limit]


def _texts() -> st.SearchStrategy[str]:
    """Long runs of pieces, a short unit repeated (thousands of identical words or paragraphs, the
    shape that made the paragraph matcher quadratic), or ordinary short text."""
    runs = st.lists(st.tuples(_piece, st.integers(1, 3) | _long), max_size=12).map(lambda r: _joined(r, MAX_CHARS))
    unit = st.lists(st.tuples(_piece, st.integers(1, 4)), min_size=1, max_size=6).map(lambda r: _joined(r, 200))
    repeated = st.tuples(unit, st.integers(100, 60_000)).map(lambda u: (u[0] * u[1])[:MAX_CHARS])
    blank = st.sampled_from(["\n\n", "\n \n", "\n\t\n\n", "\r\n\r\n"])
    paragraphs = st.tuples(unit, blank, _many).map(lambda p: ((p[0] + p[1]) * p[2])[:MAX_CHARS])
    short = st.lists(_piece, max_size=40).map("".join)
    return st.one_of(runs, repeated, paragraphs, paragraphs, short)


@st.composite
def _edited(draw, text: str) -> str:
    """`text` with a few slices deleted, replaced or inserted: most of it is shared, as in a revision."""
    for _ in range(draw(st.integers(0, 4))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + draw(st.integers(0, 2_000)))))
        inserted = draw(st.sampled_from(["", " ", "\n\n"]) | _piece | st.lists(_piece, max_size=40).map("".join))
        text = text[:start] + inserted + text[end:]
    return text[: 2 * MAX_CHARS]


@st.composite
def text_pairs(draw) -> tuple[str, str]:
    old = draw(_texts())
    new = draw(_edited(old)) if draw(st.integers(0, 3)) else draw(_texts())  # mostly a revision of `old`
    return (old, new) if draw(st.booleans()) else (new, old)


def assert_rebuilds_both_sides(chunks: list[Chunk], old: str, new: str) -> None:
    assert "".join(c.old for c in chunks) == old  # the "before" side is the old text, word for word
    assert "".join(c.new for c in chunks) == new
    for chunk in chunks:
        assert chunk.old or chunk.new
        assert chunk.tag in ("equal", "delete", "insert", "replace")
        if chunk.tag == "equal":
            assert chunk.old.split() == chunk.new.split()
        assert chunk.tag != "delete" or not chunk.new
        assert chunk.tag != "insert" or not chunk.old


@ADVERSARIAL
@given(text_pairs())
def test_the_diff_rebuilds_both_texts_and_finishes_on_adversarial_inputs(pair):
    old, new = pair
    assert_rebuilds_both_sides(word_diff(old, new), old, new)


@ADVERSARIAL
@given(text_pairs(), st.integers(1, 5))
def test_regions_are_capped_and_still_rebuild_both_texts(pair, max_regions):
    old, new = pair
    regions = diff_regions(old, new, max_regions)
    assert len(regions) <= max_regions
    flat = [chunk for region in regions for chunk in region if chunk.old or chunk.new]
    assert_rebuilds_both_sides(flat, old, new)


_paragraph = st.text(min_size=1, max_size=40).filter(lambda t: "\n" not in t and t.strip() and "ZZZ" not in t)


@settings(deadline=None, max_examples=200)
@given(st.lists(_paragraph, min_size=1, max_size=30, unique=True), st.data())
def test_an_edit_to_one_paragraph_leaves_the_others_equal(paragraphs, data):
    """Only the edited paragraph's words are marked changed (the paragraphs differ from each other)."""
    edited = data.draw(st.integers(0, len(paragraphs) - 1))
    old = "\n\n".join(paragraphs)
    new = "\n\n".join("ZZZ" if i == edited else p for i, p in enumerate(paragraphs))
    chunks = word_diff(old, new)
    assert_rebuilds_both_sides(chunks, old, new)
    assert [w for c in chunks if c.tag != "equal" for w in c.old.split()] == paragraphs[edited].split()
    assert [w for c in chunks if c.tag != "equal" for w in c.new.split()] == ["ZZZ"]


def test_thousands_of_identical_paragraphs_with_one_edit_keep_the_shared_ones_equal():
    old = "Step.\n\n" * 60_000
    new = "Step.\n\n" * 30_000 + "A new step.\n\n" + "Step.\n\n" * 30_000
    chunks = word_diff(old, new)
    assert [c.tag for c in chunks] == ["equal", "insert", "equal"]
    assert chunks[1].new == "A new step.\n\n"


def test_a_region_past_the_word_cap_is_shown_whole():
    old = " ".join(f"w{i}" for i in range(MAX_WORD_DIFF_TOKENS + 1))
    new = old.replace("w7 ", "seven ")
    assert word_diff(old, new) == [Chunk("replace", old, new)]


def test_the_word_diff_marks_only_the_changed_words():
    old = "We count the squares on the border: $4 \\cdot 11 + 2 = 46$."
    new = "We count the squares on the border and the corners: $4 \\cdot 11 + 2 + 4 = 50$."
    changed = [(c.tag, c.old.strip(), c.new.strip()) for c in word_diff(old, new) if c.tag != "equal"]
    assert changed == [("replace", "border:", "border and the corners:"), ("insert", "", "+ 4"), ("replace", "46$.", "50$.")]
