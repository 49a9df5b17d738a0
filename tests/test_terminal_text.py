"""Nothing from data drives the terminal: control, C1 and bidi characters become visible stand-ins."""

from hypothesis import given, settings
from hypothesis import strategies as st

from rel_core.terminal_text import for_terminal, one_line

DANGEROUS = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0))]
DANGEROUS += ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
DANGEROUS += ["\u200e", "\u200f", "\u061c", "\u2028", "\u2029"]


def test_ansi_colour_is_shown_not_obeyed():
    assert for_terminal("\x1b[31mred\x1b[0m") == "␛[31mred␛[0m"


def test_osc_and_c1_csi_are_shown():
    assert one_line("\x1b]52;c;aGk=\x07") == "␛]52;c;aGk=␇"
    assert for_terminal("\x9b31m") == "\\x9b31m"


def test_bidi_override_is_shown():
    assert for_terminal("abc\u202edef") == "abc\\u202edef"


def test_newlines_kept_or_shown():
    assert for_terminal("a\r\nb\tc") == "a\nb\tc"
    assert one_line("a\r\nb\tc") == "a␍\\nb\\tc"
    assert one_line(ValueError("x\ny")) == "x\\ny"


def test_plain_text_and_unicode_untouched():
    text = "∑ x² = ½ — naïve 日本語 ✓"
    assert for_terminal(text) == text == one_line(text)


@settings(max_examples=300, deadline=200)
@given(st.text(alphabet=st.sampled_from([*DANGEROUS, "a", " ", "\n", "\t", "é", "["]), max_size=2000))
def test_no_dangerous_character_survives(text):
    shown = for_terminal(text)
    assert not any(ch in shown for ch in DANGEROUS)
    line = one_line(text)
    assert not any(ch in line for ch in [*DANGEROUS, "\n", "\t"])
