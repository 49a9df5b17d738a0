"""Text from the database made safe and readable for the terminal.

`displayable` turns control characters (ANSI escapes included) into visible symbols, so data can
never drive the terminal. `readable_math` rewrites LaTeX math spans into Unicode (pylatexenc),
leaving the prose around them untouched: running all of a Markdown draft through a LaTeX parser
would eat `%` as a comment and mangle underscores.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rel_core.terminal_text import for_terminal

_MATH = re.compile(
    r"\$\$(?P<display>.+?)\$\$"
    r"|\\\[(?P<bracket>.+?)\\\]"
    r"|\\\((?P<paren>.+?)\\\)"
    # Inline $…$: no space just inside the dollars, so "$5 and $6" stays prose.
    r"|(?<![\\$])\$(?P<inline>[^\s$](?:[^$\n]*?[^\s$\\])?)\$(?!\d)",
    re.DOTALL,
)

_SUPERSCRIPT = dict(zip("0123456789+-=()nijkx", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱʲᵏˣ"))
_SUBSCRIPT = dict(zip("0123456789+-=()aeijkmnoprstux", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑᵢⱼₖₘₙₒₚᵣₛₜᵤₓ"))
_SCRIPT = re.compile(r"(?P<op>[\^_])(?:\{(?P<group>[^{}]*)\}|(?P<single>[0-9a-zA-Z]))")
_NEEDS_PARSING = re.compile(r"[\\^_{}~]")
_DEGREES = re.compile(r"\^\s*\{?\\circ\}?")
_FRAC_VARIANTS = re.compile(r"\\[dt]frac(?![a-zA-Z])")
_OPERATORS = {
    "cdot": "·", "times": "×", "div": "÷", "pm": "±", "mp": "∓", "le": "≤", "leq": "≤", "ge": "≥",
    "geq": "≥", "ne": "≠", "neq": "≠", "approx": "≈", "equiv": "≡", "to": "→", "implies": "⟹",
}  # fmt: skip
_OPERATOR = re.compile(r"\s*\\(" + "|".join(sorted(_OPERATORS, key=len, reverse=True)) + r")(?![a-zA-Z])\s*")


def displayable(text: str) -> str:
    """Control, C1 and bidi-override characters as visible stand-ins (ESC shows as ␛), newlines and tabs kept."""
    return for_terminal(text)


def readable_math(text: str) -> str:
    """Every math span of `text` as Unicode; everything else as it was."""
    return _MATH.sub(_replace_span, text)


def _replace_span(match: re.Match[str]) -> str:
    kind = match.lastgroup or "inline"
    converted = math_to_unicode(match.group(kind))
    if kind in ("display", "bracket"):
        return f"\n\n    {converted.strip()}\n\n"
    return converted


@lru_cache(maxsize=4096)
def math_to_unicode(latex: str) -> str:
    """One LaTeX math expression as Unicode text; the source itself if it cannot be parsed."""
    if not _NEEDS_PARSING.search(latex):
        return latex.strip()  # plain numbers and letters: the parser (a few ms a call) adds nothing
    source = _FRAC_VARIANTS.sub(r"\\frac", _DEGREES.sub("°", latex))
    source = _SCRIPT.sub(_script, source)
    # Binary operators get one space either side, however the source spaced them.
    source = _OPERATOR.sub(lambda m: f" {_OPERATORS[m.group(1)]} ", source)
    try:
        return _latex_to_text(source).strip()
    except Exception:  # pylatexenc raises several parse errors; showing the source is always safe
        return latex


def _script(match: re.Match[str]) -> str:
    body = match.group("group") if match.group("group") is not None else match.group("single")
    table = _SUPERSCRIPT if match.group("op") == "^" else _SUBSCRIPT
    if body and all(char in table for char in body):
        # The empty group stops a preceding macro name (\sum) from swallowing the script.
        return "{}" + "".join(table[char] for char in body)
    return match.group(0)


def _fraction(node, l2tobj) -> str:
    numerator, denominator = (_argument_text(arg, l2tobj) for arg in node.nodeargd.argnlist[-2:])
    return f"{_grouped(numerator)}/{_grouped(denominator)}"


def _argument_text(node, l2tobj) -> str:
    return l2tobj.nodelist_to_text([node]).strip() if node is not None else ""


def _grouped(text: str) -> str:
    return text if re.fullmatch(r"[\w.·′]+|√\(.*\)|\(.*\)", text) else f"({text})"


@lru_cache(maxsize=1)
def _converter():
    from pylatexenc import latexwalker
    from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db
    from pylatexenc.macrospec import std_macro

    parse_db = latexwalker.get_default_latex_context_db()
    parse_db.add_context_category(
        "rel-tui",
        prepend=True,
        macros=[std_macro("binom", False, 2), std_macro("pmod", False, 1), std_macro("boxed", False, 1)],
    )
    text_db = get_default_latex_context_db()
    text_db.add_context_category(
        "rel-tui",
        prepend=True,
        macros=[
            MacroTextSpec("frac", simplify_repl=_fraction),
            MacroTextSpec("binom", simplify_repl="C(%(1)s, %(2)s)"),
            MacroTextSpec("pmod", simplify_repl=" (mod %s)"),
            MacroTextSpec("boxed", simplify_repl="[%s]"),
        ],
    )
    return LatexNodes2Text(math_mode="text", latex_context=text_db, keep_comments=False, strict_latex_spaces=False), parse_db


def _latex_to_text(latex: str) -> str:
    converter, parse_db = _converter()
    from pylatexenc import latexwalker

    walker = latexwalker.LatexWalker(latex, latex_context=parse_db, tolerant_parsing=True)
    nodes, _, _ = walker.get_latex_nodes()
    return converter.nodelist_to_text(nodes)
