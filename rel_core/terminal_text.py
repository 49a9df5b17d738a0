"""Text from outside (servers, files, file names, the database) made safe to print on a terminal.

A terminal obeys what it is sent: an ESC starts a command (colours, cursor moves, window titles,
OSC 52 clipboard writes), C1 codes do the same on some terminals, and bidirectional overrides make
text read differently from what it is. None of that may come from data. Each such character is
shown as a visible stand-in instead, so the text still says what it held.

`for_terminal` keeps newlines and tabs (for multi-line text such as a draft); `one_line` also
shows them, for progress lines, error messages and reports that must stay one line each. Both
run in linear time (one `str.translate`).
"""

from __future__ import annotations

# C0 controls (but \t and \n) and DEL become their Unicode "control pictures" (ESC shows as ␛).
_C0 = {code: 0x2400 + code for code in range(0x20) if code not in (0x09, 0x0A)}
_C0[0x7F] = 0x2421  # ␡
# C1 controls: no picture exists, so they are written as \x9b and so on.
_C1 = {code: f"\\x{code:02x}" for code in range(0x80, 0xA0)}
# Bidirectional embeddings, overrides and isolates (the "Trojan Source" characters), and the
# invisible marks that steer them, written as \u202e and so on.
_BIDI = {code: f"\\u{code:04x}" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}
# Line and paragraph separators move the cursor on some terminals.
_SEPARATORS = {0x2028: "\\u2028", 0x2029: "\\u2029"}

_MULTI_LINE: dict[int, int | str] = {**_C0, **_C1, **_BIDI, **_SEPARATORS}
_ONE_LINE: dict[int, int | str] = {**_MULTI_LINE, 0x09: "\\t", 0x0A: "\\n"}


def for_terminal(text: str) -> str:
    """`text` with every character that could drive a terminal shown as a visible stand-in.

    Newlines and tabs are kept; a CR LF pair becomes a plain newline.
    """
    return text.replace("\r\n", "\n").translate(_MULTI_LINE)


def one_line(text: object) -> str:
    """`text` (any object, through `str`) as one safe line: newlines and tabs shown as `\\n`, `\\t`."""
    return str(text).translate(_ONE_LINE)
