"""LaTeX rendering on hostile input: it never raises, never emits control characters, never drops a
letter or digit, and stays linear (a per-input deadline that a quadratic blow-up on these 50–200 kB
inputs would blow through, generous for a loaded machine)."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rel_tui.latex import (
    displayable,
    math_to_unicode,
    readable_answer,
    readable_markdown,
    readable_math,
)

DEADLINE_MS = 3_000
LARGE = settings(max_examples=30, deadline=DEADLINE_MS, suppress_health_check=[HealthCheck.too_slow])

FRAGMENTS = [
    "\\", "\\\\", "{", "}", "$", "$$", "\\[", "\\]", "\\(", "\\)", "^", "_", "^{", "_{", "\\frac", "\\frac{",
    "\\sqrt", "\\sqrt[", "]", "\\left(", "\\right)", "\\left", "\\right", "\\text{", "\\begin{matrix}", "&",
    "%", "*", "x", "1", " ", "\n", "\t", "\\,", "\\pmod", "\\bmod", "\\overline{", "\\not", "~", "'", "é",
    "\\alpha", "\\ln", "\\over", "\\$", "|", "-", "|---|---|", "#", "\\mathbb{", "\\operatorname{", "\\x",
]  # fmt: skip


def runs(max_run: int, max_parts: int):
    """Runs of one fragment each, e.g. 15,000 × "\\[" then 3 × "x", as (fragment, count) pairs (a short repr)."""
    count = st.one_of(st.integers(1, 50), st.integers(max_run // 4, max_run))  # short runs and long ones
    return st.lists(st.tuples(st.sampled_from(FRAGMENTS), count), min_size=1, max_size=max_parts)


def joined(parts: list[tuple[str, int]]) -> str:
    return "".join(fragment * count for fragment, count in parts)


def nested(depth: int, opening: str, middle: str, closing: str) -> str:
    return opening * depth + middle + closing * depth


WORST_INPUTS = [
    "\\[" * 15_000,  # issue 8: the review screen froze for seconds on this
    "\\[" * 100_000,
    "$" * 200_000,
    "$$" * 100_000,
    "\\(" * 100_000 + "\\)",
    "\\" * 200_000,
    "$" + "\\" * 19_999 + "$",
    "$a$ " * 50_000,
    "$ a" * 60_000,
    "\\[" + "{" * 100_000 + "\\]",
    "\\[" + "}" * 100_000 + "\\]",
    "$" + "x^" * 9_999 + "$",
    "$" + "x_{" * 6_000 + "$",
    "$" + nested(200, "\\frac{", "1", "}{2}") + "$",
    "$" + nested(200, "\\sqrt{", "x", "}") + "$",
    "$" + nested(200, "{", "x", "}") + "$",
    "$" + nested(35, "\\frac{", "1", "}{2}") + "$",  # just under the depth cap: rendered
    ("$" + nested(200, "\\frac{", "1", "}{2}") + "$ ") * 50,
    "$" + "\\left(" * 5_000 + "$",
    "$" + "\\text{" * 5_000 + "$",
    "word " * 400_000,  # a 2 MB line
    "|-----|-----|\n" * 10_000,
    "\\[" + "a " * 9_000 + "\\]",
]


# C0 and C1 controls (but newline and tab), bidi controls and line separators: what rel_core.terminal_text shows.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def check(text: str) -> None:
    assert not CONTROL.search(text)  # the generators make none, so any in the output were made by us
    for rewrite in (readable_math, readable_markdown, readable_answer):
        shown = rewrite(text)
        assert not CONTROL.search(shown)
        assert not CONTROL.search(displayable(shown))


@LARGE
@given(runs(max_run=20_000, max_parts=10))
def test_adversarial_runs(parts):
    check(joined(parts))


@settings(max_examples=300, deadline=DEADLINE_MS)
@given(runs(max_run=40, max_parts=40))
def test_short_hostile_mixtures(parts):
    text = joined(parts)
    check(text)
    assert not CONTROL.search(math_to_unicode(text))


@settings(max_examples=len(WORST_INPUTS) * 3, deadline=DEADLINE_MS, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(WORST_INPUTS))))
def test_the_worst_inputs_found(index):
    check(WORST_INPUTS[index])


@settings(max_examples=200, deadline=DEADLINE_MS)
@given(st.text(max_size=2_000))
def test_control_characters_in_data_are_shown_not_sent(text):
    for rewrite in (readable_math, readable_markdown, readable_answer):
        assert not CONTROL.search(displayable(rewrite(text)))


@settings(max_examples=200, deadline=DEADLINE_MS)
@given(st.text(alphabet=st.characters(blacklist_characters="$\\"), max_size=5_000))
def test_text_without_maths_is_untouched(text):
    assert readable_math(text) == text


# --- Faithfulness: a well-formed expression keeps every letter and digit, in order --------------

LETTERS = st.sampled_from(list("abcnxyzABCPQR0123456789"))
SYMBOLS = st.sampled_from(["+", "-", "=", "<", ",", "\\cdot", "\\le", "\\times", "\\alpha", "\\pi", "\\infty", "\\cdots"])


def leaves():
    return st.one_of(LETTERS.map(lambda c: (c, c)), SYMBOLS.map(lambda s: (s, "")))


def combine(children):
    pair = st.tuples(children, children)
    word = st.text(alphabet="abcdefxyz", min_size=1, max_size=6)
    return st.one_of(
        pair.map(lambda p: (f"{p[0][0]} {p[1][0]}", p[0][1] + p[1][1])),
        pair.map(lambda p: (f"{p[0][0]}{{}}{p[1][0]}", p[0][1] + p[1][1])),  # {} so that \\cdot a is not \\cdota
        pair.map(lambda p: (f"\\frac{{{p[0][0]}}}{{{p[1][0]}}}", p[0][1] + p[1][1])),
        pair.map(lambda p: (f"\\binom{{{p[0][0]}}}{{{p[1][0]}}}", p[0][1] + p[1][1])),
        pair.map(lambda p: (f"{{{p[0][0]}}}^{{{p[1][0]}}}", p[0][1] + p[1][1])),
        pair.map(lambda p: (f"{{{p[0][0]}}}_{{{p[1][0]}}}", p[0][1] + p[1][1])),
        children.map(lambda c: (f"\\sqrt{{{c[0]}}}", c[1])),
        children.map(lambda c: (f"\\left( {c[0]} \\right)", c[1])),
        children.map(lambda c: (f"\\ln {c[0]}", c[1])),
        children.map(lambda c: (f"a \\bmod {c[0]}", "a" + c[1])),
        children.map(lambda c: (f"x \\equiv {c[0]} \\pmod{{7}}", "x" + c[1] + "7")),
        children.map(lambda c: (f"\\mathrm{{{c[0]}}}", c[1])),
        word.map(lambda w: (f"\\text{{{w}}}", w)),
        word.map(lambda w: (f"\\overline{{{w}}}", w)),
        st.sampled_from("xyn").map(lambda c: (f"\\hat{{{c}}}", c)),
    )


EXPRESSIONS = st.recursive(leaves(), combine, max_leaves=25)


def letters_and_digits(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", unicodedata.normalize("NFKD", text))


def is_subsequence(needle: str, haystack: str) -> bool:
    remaining = iter(haystack)
    return all(char in remaining for char in needle)


@settings(max_examples=250, deadline=DEADLINE_MS)
@given(EXPRESSIONS)
def test_no_letter_or_digit_is_lost(expression):
    latex, letters = expression
    shown = math_to_unicode(latex)
    assert "\\" not in shown, "a well-formed expression fell back to raw"
    assert is_subsequence(letters, letters_and_digits(shown)), shown


@settings(max_examples=100, deadline=DEADLINE_MS)
@given(EXPRESSIONS)
def test_a_span_in_prose_renders_like_the_bare_expression(expression):
    latex, _ = expression
    assert readable_math(f"Hence \\({latex}\\) holds.") == f"Hence {math_to_unicode(latex)} holds."
