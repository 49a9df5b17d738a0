"""Text from the database made safe and readable for the terminal.

`displayable` turns control characters (ANSI escapes included) into visible symbols, so data can
never drive the terminal. `readable_math` rewrites the LaTeX math spans of a text into Unicode and
leaves the prose around them untouched: running a whole Markdown draft through a LaTeX parser would
eat `%` as a comment and mangle underscores.

The rendering never changes meaning. It is a whitelist: every construct it knows has a faithful
Unicode form (operator names keep their spacing, multi-character scripts and fractions keep their
grouping, accents become combining characters); a span with anything else (matrices and other
environments, `\\color`, unknown macros, unbalanced braces, nesting deeper than `_MAX_DEPTH`, more
than `_MAX_SPAN` characters) is shown raw, as the original LaTeX. Finding spans and rendering them
both run in time linear in the input, and a text over `_MAX_TEXT` characters is shown as it is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from rel_core.terminal_text import for_terminal

_MAX_TEXT = 1_000_000  # characters; a longer text is shown as it is (worst case about a second of work)
_MAX_SPAN = 20_000  # characters of one math span; longer ones are shown raw (no real formula is this long)
_MAX_DEPTH = 40  # nested groups and arguments; deeper ones are shown raw (and the recursion stays bounded)


def displayable(text: str) -> str:
    """Control, C1 and bidi-override characters as visible stand-ins (ESC shows as ␛), newlines and tabs kept."""
    return for_terminal(text)


def readable_math(text: str) -> str:
    """Every math span of `text` as Unicode (or raw where it cannot be rendered faithfully); the rest as it was."""
    return _rewrite(text, markdown=False)


def readable_markdown(text: str) -> str:
    """`readable_math` for text that is then rendered as Markdown.

    Inline maths comes out with its ASCII punctuation backslash-escaped, so Markdown shows `a*b*c`,
    `x_(ab)` or a raw `\\begin{…}` span as written instead of reading emphasis or escapes into it;
    display maths becomes a fenced code block, shown literally even inside a list item.
    """
    return _rewrite(text, markdown=True)


def readable_answer(text: str) -> str:
    """An answer field (a reference answer, an `<ANSWER>`, what the answer check compared) as readable text.

    A field with math delimiters is rendered like a draft; a bare answer such as `\\frac{1}{2}` is
    read as one math expression; one that cannot be rendered faithfully is shown as it was.
    """
    if next(_math_spans(text), None) is not None:
        return readable_math(text)
    rendered = _render(text.strip())
    return text if rendered is None else rendered


def math_to_unicode(latex: str) -> str:
    """One LaTeX math expression (no delimiters) as Unicode text; the source itself if it cannot be rendered faithfully."""
    rendered = _render(latex)
    return latex if rendered is None else rendered


# --- Finding math spans ------------------------------------------------------------------------

# Delimiters, plus the escapes `\\` and `\$` (matched only so that they never count as delimiters).
_DELIMITER = re.compile(r"\\[\[\]()$\\]|\$\$|\$|\n")
_CLOSER = {"$$": "$$", "\\[": "\\]", "\\(": "\\)"}
_DISPLAY = {"$$", "\\["}


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    content: str
    display: bool


class _NextAfter:
    """The first of some sorted positions after a given one; queried with rising positions, so linear overall."""

    def __init__(self) -> None:
        self.positions: list[int] = []
        self._index = 0

    def after(self, position: int) -> int | None:
        positions, index = self.positions, self._index
        while index < len(positions) and positions[index] <= position:
            index += 1
        self._index = index
        return positions[index] if index < len(positions) else None


def _math_spans(text: str) -> Iterator[_Span]:
    """`$$…$$`, `\\[…\\]`, `\\(…\\)` and inline `$…$` spans, left to right; an opener without a closer is prose.

    One pass over the delimiters, each looked up once: 15k unclosed `\\[` cost no more than 15k letters.
    Inline `$…$` follows the usual Markdown-maths rule (no space just inside the dollars, on one line,
    not followed by a digit), so "costs $5 and $6" stays prose.
    """
    tokens = [(m.start(), m.group()) for m in _DELIMITER.finditer(text) if m.group() not in ("\\\\", "\\$")]
    following: dict[str, _NextAfter] = {kind: _NextAfter() for kind in ("$$", "$", "\\]", "\\)", "\n")}
    for position, kind in tokens:
        if kind in following:
            following[kind].positions.append(position)
    resume = 0
    for position, kind in tokens:
        if position < resume:
            continue
        if kind in _CLOSER:
            close = following[_CLOSER[kind]].after(position)
            if close is not None and close > position + 2:
                resume = close + 2
                yield _Span(position, resume, text[position + 2 : close], kind in _DISPLAY)
        elif kind == "$":
            close = _inline_close(text, position, following)
            if close is not None:
                resume = close + 1
                yield _Span(position, resume, text[position + 1 : close], False)


def _inline_close(text: str, opening: int, following: dict[str, _NextAfter]) -> int | None:
    close = following["$"].after(opening)
    if close is None or close == opening + 1:
        return None
    for blocker in ("$$", "\n"):
        found = following[blocker].after(opening)
        if found is not None and found < close:
            return None
    if text[opening + 1].isspace() or text[close - 1].isspace() or text[close - 1] == "\\":
        return None
    if close + 1 < len(text) and text[close + 1].isdecimal():
        return None
    return close


def _rewrite(text: str, markdown: bool) -> str:
    if len(text) > _MAX_TEXT:
        return text
    parts, last = [], 0
    for span in _math_spans(text):
        parts.append(text[last : span.start])
        parts.append(_shown(span, text[span.start : span.end], markdown))
        last = span.end
    parts.append(text[last:])
    return "".join(parts)


_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


_BACKTICKS = re.compile(r"`+")


def _shown(span: _Span, source: str, markdown: bool) -> str:
    rendered = _render(span.content)
    shown = (source if rendered is None else rendered).strip()  # raw: the whole span, delimiters included
    if span.display and markdown:
        # A fenced code block, which Markdown shows literally even inside a list item.
        fence = "`" * max([3, *(len(run) + 1 for run in _BACKTICKS.findall(shown))])
        return f"\n\n{fence}\n{shown}\n{fence}\n\n"
    if span.display:
        return "\n\n" + "\n".join(f"    {line}" for line in shown.split("\n")) + "\n\n"  # set apart
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", shown) if markdown else shown


# --- Rendering one expression ------------------------------------------------------------------

_NEEDS_PARSING = re.compile(r"[\\^_{}~&$]")
_TOKEN = re.compile(r"\\([A-Za-z]+)|\\(.)|(\\)|(\s+)|(.)", re.DOTALL)
_WHITESPACE_RUN = re.compile(r"\s+")
_SPACE_RUN = re.compile(r"  +")


class _Unrenderable(Exception):
    """This span has a construct with no faithful Unicode rendering: show it raw."""


@lru_cache(maxsize=4096)
def _render(latex: str) -> str | None:
    """`latex` as Unicode, or None when it has to be shown raw."""
    if len(latex) > _MAX_SPAN:
        return None
    if not _NEEDS_PARSING.search(latex):
        return _WHITESPACE_RUN.sub(" ", latex).strip()
    try:
        return _Parser(latex).render()
    except _Unrenderable:
        return None


# Piece kinds. A rendered expression is a list of pieces; joining them decides the spacing around
# operator names and whether a fraction or root needs parentheses, from its neighbours.
ATOM, OP, MUL, PUNCT, OPEN, CLOSE, BAR, SPACE, WORD, BIG, FRAC, ROOT, TEXT, GROUP = range(14)


class _Piece:
    __slots__ = ("bare", "kind", "pad", "sub", "sup", "text")

    def __init__(self, text: str, kind: int, bare: str = "", pad: bool = False) -> None:
        self.text = text  # FRAC and ROOT: the parenthesised form
        self.kind = kind
        self.bare = bare  # FRAC and ROOT: the form without parentheses, used where nothing binds to it
        self.pad = pad  # OP and MUL from a macro: one space either side (outside scripts)
        self.sup = False
        self.sub = False


_SPACE_PIECE = _Piece(" ", SPACE)

_SUPERSCRIPT = dict(zip("0123456789+-−=()nijkx", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾ⁿⁱʲᵏˣ", strict=True))
_SUBSCRIPT = dict(zip("0123456789+-−=()aeijkmnoprstux", "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎ₐₑᵢⱼₖₘₙₒₚᵣₛₜᵤₓ", strict=True))
_SCRIPT_CHARS = "".join({*_SUPERSCRIPT.values(), *_SUBSCRIPT.values()}) + "′'°"
_PAIRS = {"(": ")", "[": "]", "{": "}", "⌊": "⌋", "⌈": "⌉", "⟨": "⟩"}
_CLOSERS = set(_PAIRS.values())
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SYMBOL_ATOMS = "∞∅∂∇"
_OPERAND_END = ")]}⌋⌉⟩|‖!°∞′'"
_ROOTS = "√∛∜"
_DOTS = "…⋯⋮⋱"

# Symbols that are operands: the space after the macro is dropped, as TeX does (`\pi r` is πr).
_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ϵ", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ",
    "nu": "ν", "xi": "ξ", "pi": "π", "varpi": "ϖ", "rho": "ρ", "varrho": "ϱ", "sigma": "σ",
    "varsigma": "ς", "tau": "τ", "upsilon": "υ", "phi": "ϕ", "varphi": "φ", "chi": "χ", "psi": "ψ",
    "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π",
    "Sigma": "Σ", "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
    "infty": "∞", "partial": "∂", "nabla": "∇", "ell": "ℓ", "hbar": "ℏ", "imath": "ı", "jmath": "ȷ",
    "aleph": "ℵ", "emptyset": "∅", "varnothing": "∅", "angle": "∠", "measuredangle": "∡",
    "triangle": "△", "square": "□", "Box": "□", "blacksquare": "■", "forall": "∀", "exists": "∃",
    "nexists": "∄", "neg": "¬", "lnot": "¬", "prime": "′", "degree": "°", "ldots": "…", "dots": "…",
    "dotsc": "…", "dotsb": "⋯", "cdots": "⋯", "vdots": "⋮", "ddots": "⋱", "dagger": "†",
    "ddagger": "‡", "therefore": "∴", "because": "∵", "Re": "ℜ", "Im": "ℑ", "wp": "℘", "top": "⊤",
    "bot": "⊥", "checkmark": "✓", "clubsuit": "♣", "diamondsuit": "♢", "heartsuit": "♡",
    "spadesuit": "♠", "uparrow": "↑", "downarrow": "↓", "bigstar": "★", "rightangle": "∟",
}  # fmt: skip

# Relations and binary operators that a fraction may stand beside without parentheses.
_OPERATORS = {
    "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "leqslant": "⩽", "geqslant": "⩾", "ne": "≠",
    "neq": "≠", "approx": "≈", "equiv": "≡", "nequiv": "≢", "cong": "≅", "ncong": "≇", "sim": "∼",
    "nsim": "≁", "simeq": "≃", "propto": "∝", "ll": "≪", "gg": "≫", "lesssim": "≲", "gtrsim": "≳",
    "nleq": "≰", "ngeq": "≱", "nless": "≮", "ngtr": "≯", "prec": "≺", "succ": "≻", "asymp": "≍",
    "doteq": "≐", "triangleq": "≜", "coloneqq": "≔", "in": "∈", "notin": "∉", "ni": "∋",
    "subset": "⊂", "subseteq": "⊆", "subsetneq": "⊊", "supset": "⊃", "supseteq": "⊇",
    "supsetneq": "⊋", "nsubseteq": "⊈", "nsupseteq": "⊉", "cup": "∪", "cap": "∩", "setminus": "∖",
    "sqcup": "⊔", "sqcap": "⊓", "uplus": "⊎", "mid": "∣", "nmid": "∤", "parallel": "∥",
    "nparallel": "∦", "perp": "⊥", "to": "→", "rightarrow": "→", "leftarrow": "←", "gets": "←",
    "Rightarrow": "⇒", "Leftarrow": "⇐", "Leftrightarrow": "⇔", "leftrightarrow": "↔",
    "implies": "⟹", "impliedby": "⟸", "iff": "⟺", "mapsto": "↦", "longmapsto": "⟼",
    "longrightarrow": "⟶", "longleftarrow": "⟵", "longleftrightarrow": "⟷", "Longrightarrow": "⟹",
    "Longleftarrow": "⟸", "Longleftrightarrow": "⟺", "hookrightarrow": "↪", "land": "∧",
    "wedge": "∧", "lor": "∨", "vee": "∨", "oplus": "⊕", "ominus": "⊖", "otimes": "⊗", "odot": "⊙",
    "circ": "∘", "bullet": "∙", "vdash": "⊢", "models": "⊨", "diamond": "⋄", "wr": "≀",
}  # fmt: skip

# Products and quotients: a fraction beside one gets parentheses (a/b · c could be read a/(b·c)).
_PRODUCTS = {"cdot": "·", "times": "×", "div": "÷", "ast": "∗", "star": "⋆"}
_SIGNS = {"pm": "±", "mp": "∓"}  # often unary, so spaced as written

_OPERATOR_NAMES = {
    "arccos", "arcsin", "arctan", "arccot", "arg", "cos", "cosh", "cot", "coth", "csc", "csch", "deg",
    "det", "dim", "exp", "gcd", "hom", "inf", "ker", "lcm", "lg", "lim", "liminf", "limsup", "ln",
    "log", "max", "min", "Pr", "sec", "sech", "sgn", "sin", "sinh", "sup", "tan", "tanh",
}  # fmt: skip
_BIG_OPERATORS = {
    "sum": "∑", "prod": "∏", "coprod": "∐", "int": "∫", "iint": "∬", "iiint": "∭", "oint": "∮",
    "bigcup": "⋃", "bigcap": "⋂", "bigoplus": "⨁", "bigotimes": "⨂", "bigvee": "⋁", "bigwedge": "⋀",
    "bigsqcup": "⨆",
}  # fmt: skip
_DELIMITERS = {
    "langle": ("⟨", OPEN), "rangle": ("⟩", CLOSE), "lfloor": ("⌊", OPEN), "rfloor": ("⌋", CLOSE),
    "lceil": ("⌈", OPEN), "rceil": ("⌉", CLOSE), "lvert": ("|", OPEN), "rvert": ("|", CLOSE),
    "lVert": ("‖", OPEN), "rVert": ("‖", CLOSE), "vert": ("|", BAR), "Vert": ("‖", BAR),
    "lbrace": ("{", OPEN), "rbrace": ("}", CLOSE),
}  # fmt: skip
_SIZED = {"left": OPEN, "right": CLOSE, "middle": BAR, "bigl": OPEN, "Bigl": OPEN, "biggl": OPEN, "Biggl": OPEN,
          "bigr": CLOSE, "Bigr": CLOSE, "biggr": CLOSE, "Biggr": CLOSE}  # fmt: skip
_SIZES = {"big", "Big", "bigg", "Bigg", "bigm", "Bigm", "biggm", "Biggm"}
_SPACES = {"quad", "qquad", "thinspace", "medspace", "thickspace", "enspace", "enskip"}
_IGNORED = {"displaystyle", "textstyle", "scriptstyle", "limits", "nolimits", "negthinspace"}
_CONTROL_SYMBOLS = {
    "{": ("{", OPEN), "}": ("}", CLOSE), "|": ("‖", BAR), "%": ("%", ATOM), "$": ("$", ATOM),
    "#": ("#", ATOM), "&": ("&", ATOM), "_": ("_", ATOM),
}  # fmt: skip
_CONTROL_SPACES = {",", ":", ";", ">", " ", "\n", "\t", "\r"}
_MATH_FONTS = {"mathrm", "mathbf", "mathit", "mathsf", "mathtt", "mathnormal", "boldsymbol", "bm", "pmb"}
_TEXT_FONTS = {"text", "textrm", "textbf", "textit", "textsf", "texttt", "textnormal", "textup", "mbox", "emph"}
_DOUBLE_STRUCK = {"C": "ℂ", "H": "ℍ", "N": "ℕ", "P": "ℙ", "Q": "ℚ", "R": "ℝ", "Z": "ℤ"}
# Accents as combining characters. Over- and underlines run under every character; the others sit
# on one character only (a hat over "AB" has no faithful per-letter form).
_LINES = {"overline": "\u0305", "underline": "\u0332"}
_ACCENTS = {
    "bar": "\u0304", "hat": "\u0302", "widehat": "\u0302", "tilde": "\u0303", "widetilde": "\u0303",
    "vec": "\u20d7", "dot": "\u0307", "ddot": "\u0308", "acute": "\u0301", "grave": "\u0300",
    "breve": "\u0306", "check": "\u030c", "mathring": "\u030a",
}  # fmt: skip
_NEGATED = {
    "=": "≠", "<": "≮", ">": "≯", "equiv": "≢", "in": "∉", "ni": "∌", "subset": "⊄", "supset": "⊅",
    "subseteq": "⊈", "supseteq": "⊉", "le": "≰", "leq": "≰", "ge": "≱", "geq": "≱", "mid": "∤",
    "sim": "≁", "cong": "≇", "approx": "≉", "parallel": "∦", "exists": "∄",
}  # fmt: skip
_FRACTIONS = {"frac", "dfrac", "tfrac", "cfrac"}
_BINOMIALS = {"binom", "dbinom", "tbinom"}
_CHAR_KINDS = {
    "+": OP, "-": OP, "=": OP, "<": OP, ">": OP, ",": PUNCT, ";": PUNCT, ":": PUNCT, "?": PUNCT,
    "(": OPEN, "[": OPEN, ")": CLOSE, "]": CLOSE, "|": BAR, "/": MUL, "*": MUL,
}  # fmt: skip


@lru_cache(maxsize=1)
def _pylatexenc_symbols() -> dict[str, str]:
    """pylatexenc's long tail of symbol macros (⊲, ↠, ♯ …), kept to one character from a maths block.

    Loaded on the first macro not in the tables above. Its text-mode and letter macros are left out:
    a few of them are approximations (`\\eth` → ƪ), and raw is better than wrong.
    """
    from pylatexenc.latex2text import get_default_latex_context_db

    blocks = ((0x0370, 0x03FF), (0x2100, 0x214F), (0x2190, 0x23FF), (0x25A0, 0x26FF), (0x27C0, 0x2AFF))
    symbols = {}
    for spec in get_default_latex_context_db().iter_macro_specs():
        replacement = spec.simplify_repl
        name = spec.macroname
        if not isinstance(replacement, str) or len(replacement) != 1 or name.startswith("text") or name == "surd":
            continue
        if any(low <= ord(replacement) <= high for low, high in blocks):
            symbols[name] = replacement
    return symbols


class _Parser:
    """A recursive-descent reading of one math expression; each token is looked at a bounded number of times."""

    def __init__(self, latex: str) -> None:
        self.tokens: list[tuple[str, str]] = [_token(match) for match in _TOKEN.finditer(latex)]
        self.position = 0
        self.depth = 0

    def render(self) -> str:
        return _join(self.sequence(None))

    # Reading tokens.

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def skip_spaces(self) -> None:
        while (token := self.peek()) is not None and token[0] == "space":
            self.position += 1

    def next_kind_after_spaces(self) -> str | None:
        index = self.position
        while index < len(self.tokens) and self.tokens[index][0] == "space":
            index += 1
        return self.tokens[index][0] if index < len(self.tokens) else None

    def next_alnum_after_spaces(self) -> bool:
        """Whether the next token that is not a space is a letter or digit."""
        index = self.position
        while index < len(self.tokens) and self.tokens[index][0] == "space":
            index += 1
        return index < len(self.tokens) and self.tokens[index][0] == "char" and self.tokens[index][1].isalnum()

    def descend(self) -> None:
        """Every recursion (groups, arguments, text) goes through here, so the depth is bounded."""
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Unrenderable("nested too deep")

    def sequence(self, closing: str | None, after_over: bool = False) -> list[_Piece]:
        """Pieces up to `closing` ("}" or "]", consumed) or the end of the expression (None)."""
        self.descend()
        pieces: list[_Piece] = []
        while (token := self.peek()) is not None:
            kind, value = token
            if (kind == "}" and closing == "}") or (kind == "char" and value == "]" and closing == "]"):
                self.position += 1
                self.depth -= 1
                return pieces
            if kind == "cmd" and value in ("over", "choose"):
                if after_over:
                    raise _Unrenderable("two \\over in one group")
                self.position += 1
                numerator = _join(pieces)
                denominator = _join(self.sequence(closing, after_over=True))
                self.depth -= 1
                return [_fraction(numerator, denominator) if value == "over" else _binomial(numerator, denominator)]
            self.position += 1
            self.read(kind, value, pieces)
        if closing is not None:
            raise _Unrenderable("unclosed group")
        self.depth -= 1
        return pieces

    def read(self, kind: str, value: str, pieces: list[_Piece]) -> None:
        if kind == "space":
            _append(pieces, _SPACE_PIECE)
        elif kind == "char":
            _append(pieces, self.char_piece(value))
        elif kind == "{":
            self.group(self.sequence("}"), pieces)
        elif kind in ("^", "_"):
            self.script(kind, pieces)
        elif kind == "sym":
            self.control_symbol(value, pieces)
        elif kind == "cmd":
            self.command(value, pieces)
        else:  # a stray "}" or a lone trailing backslash
            raise _Unrenderable(f"unexpected {kind}")

    def char_piece(self, char: str) -> _Piece:
        if char in "&$":
            raise _Unrenderable("alignment or nested maths")  # & belongs to an environment
        if char == "~":
            return _SPACE_PIECE
        if char == ".":
            following = self.peek()
            is_decimal_point = following is not None and following[0] == "char" and following[1].isdecimal()
            return _Piece(".", ATOM if is_decimal_point else PUNCT)
        return _Piece(char, _CHAR_KINDS.get(char, ATOM))

    def group(self, inner: list[_Piece], pieces: list[_Piece]) -> None:
        """A braced group: spliced in, or one operand when a script follows (`{a+b}^2` is (a+b)²)."""
        if self.next_kind_after_spaces() in ("^", "_"):
            pieces.append(_Piece(_join(inner), GROUP))
        else:
            for piece in inner:
                _append(pieces, piece)

    def argument(self) -> list[_Piece]:
        """A macro's or a script's argument: a braced group or one token."""
        self.skip_spaces()
        token = self.peek()
        if token is None or token[0] in ("}", "^", "_"):
            raise _Unrenderable("missing argument")
        self.position += 1
        kind, value = token
        if kind == "{":
            return self.sequence("}")
        pieces: list[_Piece] = []  # one token, or one macro with its own arguments (x_\text{max}), as MathJax reads it
        self.descend()
        self.read(kind, value, pieces)
        self.depth -= 1
        return pieces

    def optional_argument(self) -> list[_Piece] | None:
        self.skip_spaces()
        if self.peek() == ("char", "["):
            self.position += 1
            return self.sequence("]")
        return None

    def text_argument(self) -> str:
        """The argument of `\\text` and its kin, in text mode: spaces kept, maths and most macros refused."""
        self.skip_spaces()
        token = self.peek()
        if token is None or token[0] != "{":
            return _join(self.argument())
        self.position += 1
        depth, parts = 1, list[str]()
        while (token := self.peek()) is not None:
            self.position += 1
            kind, value = token
            if kind == "{":
                depth += 1
            elif kind == "}":
                depth -= 1
                if depth == 0:
                    return "".join(parts)
            elif kind in ("char", "^", "_") and value != "$":
                parts.append(value)
            elif kind == "space" or (kind == "sym" and value in _CONTROL_SPACES):
                parts.append(" ")
            elif kind == "sym" and value in _CONTROL_SYMBOLS:
                parts.append(value)
            elif kind == "cmd" and value in _TEXT_FONTS:
                self.descend()
                parts.append(self.text_argument())
                self.depth -= 1
            elif kind == "cmd" and value in ("ldots", "dots", "textellipsis"):
                parts.append("…")
            elif kind == "cmd" and value in _SPACES:
                parts.append(" ")
            else:
                raise _Unrenderable(f"{value!r} in text")
        raise _Unrenderable("unclosed text")

    # Scripts.

    def script(self, marker: str, pieces: list[_Piece]) -> None:
        rendered = _join(self.argument(), tight=True)
        while pieces and pieces[-1].kind == SPACE:
            pieces.pop()  # TeX ignores the space in `x ^2`
        if not pieces:
            pieces.append(_Piece("", ATOM))
        base = pieces[-1]
        if (base.sup and marker == "^") or (base.sub and marker == "_"):
            raise _Unrenderable("double script")
        if base.kind in (FRAC, ROOT):
            base.text, base.kind = f"({base.bare})" if base.kind == FRAC else base.text, ATOM
        elif base.kind == GROUP or (base.kind == TEXT and not base.text.strip().isalpha()):
            base.text, base.kind = _wrapped(base.text) if base.text else "", ATOM
        base.text += _script_text(rendered, marker)
        base.sup = base.sup or marker == "^"
        base.sub = base.sub or marker == "_"

    # Macros.

    def control_symbol(self, value: str, pieces: list[_Piece]) -> None:
        if value in _CONTROL_SPACES:
            _append(pieces, _SPACE_PIECE)
        elif value == "!":
            pass  # a negative thin space
        elif value in _CONTROL_SYMBOLS:
            text, kind = _CONTROL_SYMBOLS[value]
            pieces.append(_Piece(text, kind))
        else:
            raise _Unrenderable(f"\\{value}")  # \\ (a line break) among them: a layout we cannot show

    def command(self, name: str, pieces: list[_Piece]) -> None:
        simple = _symbol_piece(name)
        if simple is not None:
            pieces.append(simple)
            self.spaces_after(simple)
        elif name in _IGNORED:
            self.skip_spaces()
        elif name in _SPACES:
            _append(pieces, _SPACE_PIECE)
        elif name in _FRACTIONS:
            numerator, denominator = _join(self.argument()), _join(self.argument())
            pieces.append(_fraction(numerator, denominator))
        elif name in _BINOMIALS:
            top, bottom = _join(self.argument()), _join(self.argument())
            pieces.append(_binomial(top, bottom))
        elif name == "sqrt":
            pieces.append(self.root())
        elif name in _SIZED or name in _SIZES:
            pieces.append(self.sized_delimiter(name))
        else:
            self.command_with_text(name, pieces)

    def spaces_after(self, piece: _Piece) -> None:
        """TeX drops the spaces after a control word; we keep them where they help reading (⋯ + n, ⌊x⌋ + 1)."""
        following = self.tokens[self.position + 1] if self.position + 1 < len(self.tokens) else ("", "")
        if piece.kind in (WORD, BIG):
            self.skip_spaces()  # these space themselves
        elif piece.kind == ATOM and piece.text not in _DOTS and following[0] == "char" and following[1].isalnum():
            self.skip_spaces()  # \pi r is πr, \angle ABC is ∠ABC

    def command_with_text(self, name: str, pieces: list[_Piece]) -> None:
        if name in _MATH_FONTS:
            self.group(self.argument(), pieces)
        elif name in _TEXT_FONTS:
            pieces.append(_Piece(self.text_argument(), TEXT))
        elif name == "operatorname":
            self.skip_spaces()
            if self.peek() == ("char", "*"):
                self.position += 1
            pieces.append(_Piece(self.text_argument().strip(), WORD))
        elif name == "mathbb":
            letters = _join(self.argument(), tight=True)
            if not letters or any(letter not in _DOUBLE_STRUCK for letter in letters):
                raise _Unrenderable("\\mathbb of a letter without a common Unicode form")
            pieces.append(_Piece("".join(_DOUBLE_STRUCK[letter] for letter in letters), ATOM))
        elif name in _LINES or name in _ACCENTS:
            pieces.append(_Piece(_accented(name, _join(self.argument(), tight=True)), ATOM))
        elif name == "not":
            pieces.append(self.negated())
        elif name == "bmod":
            pieces.append(_Piece("mod", MUL, pad=True))
            self.skip_spaces()
        elif name == "mod":
            pieces.append(_Piece("mod", WORD))
            self.group(self.argument(), pieces)  # spliced: `\mod 14` reads "mod 14", as TeX sets it
        elif name in ("pmod", "pod"):
            braced = self.next_kind_after_spaces() == "{"
            modulus = _join(self.argument())
            if not braced and modulus.isalnum() and self.next_alnum_after_spaces():
                # TeX sets `\pmod 12` as "(mod 1)2": faithful, but not what was meant; shown raw.
                raise _Unrenderable(f"\\{name} of one character, more following")
            pieces.append(_Piece(f"(mod {modulus})" if name == "pmod" else f"({modulus})", WORD))
        elif name == "boxed":
            pieces.append(_Piece(f"[{_join(self.argument())}]", ATOM))
        elif name in _pylatexenc_symbols():
            symbol = _pylatexenc_symbols()[name]
            is_operator = unicodedata.category(symbol) == "Sm"
            pieces.append(_Piece(symbol, OP if is_operator else ATOM, pad=is_operator))
            self.spaces_after(pieces[-1])
        else:
            raise _Unrenderable(f"\\{name}")

    def root(self) -> _Piece:
        index = self.optional_argument()
        radicand = _join(self.argument())
        if not radicand:
            raise _Unrenderable("empty root")
        sign = "√" if index is None else _root_sign(_join(index, tight=True))
        parenthesised = f"{sign}{radicand}" if _enclosed(radicand) else f"{sign}({radicand})"
        return _Piece(parenthesised, ROOT, bare=f"{sign}{radicand}" if _atomic(radicand) else parenthesised)

    def sized_delimiter(self, name: str) -> _Piece:
        self.skip_spaces()
        token = self.peek()
        self.position += 1
        if token is None:
            raise _Unrenderable("missing delimiter")
        kind, value = token
        if kind == "char" and value in "()[]|/.":
            text, natural = ("", OPEN) if value == "." else (value, _CHAR_KINDS[value])
        elif kind == "sym" and value in "{}|":
            text, natural = _CONTROL_SYMBOLS[value]
        elif kind == "cmd" and value in _DELIMITERS:
            text, natural = _DELIMITERS[value]
        else:
            raise _Unrenderable(f"\\{name} without a delimiter")
        return _Piece(text, _SIZED.get(name, natural))

    def negated(self) -> _Piece:
        self.skip_spaces()
        token = self.peek()
        self.position += 1
        if token is None or token[0] not in ("char", "cmd") or token[1] not in _NEGATED:
            raise _Unrenderable("\\not of something with no negated form")
        return _Piece(_NEGATED[token[1]], OP, pad=True)


def _token(match: re.Match[str]) -> tuple[str, str]:
    command, symbol, lone_backslash, space, char = match.groups()
    if command is not None:
        return "cmd", command
    if symbol is not None:
        return "sym", symbol
    if lone_backslash is not None:
        return "backslash", "\\"
    if space is not None:
        return "space", " "
    return (char, char) if char in "{}^_" else ("char", char)


def _symbol_piece(name: str) -> _Piece | None:
    """The piece for a macro that takes no argument, or None."""
    if name in _SYMBOLS:
        return _Piece(_SYMBOLS[name], ATOM)
    if name in _OPERATORS:
        return _Piece(_OPERATORS[name], OP, pad=True)
    if name in _PRODUCTS:
        return _Piece(_PRODUCTS[name], MUL, pad=True)
    if name in _SIGNS:
        return _Piece(_SIGNS[name], OP)
    if name in _OPERATOR_NAMES:
        return _Piece(name, WORD)
    if name in _BIG_OPERATORS:
        return _Piece(_BIG_OPERATORS[name], BIG)
    if name in _DELIMITERS:
        return _Piece(*_DELIMITERS[name])
    return None


def _append(pieces: list[_Piece], piece: _Piece) -> None:
    if piece.kind == SPACE and (not pieces or pieces[-1].kind == SPACE):
        return  # runs of spaces count once, so a neighbour is never more than one space away
    pieces.append(piece)


def _fraction(numerator: str, denominator: str) -> _Piece:
    if not numerator or not denominator:
        raise _Unrenderable("empty fraction part")
    bare = f"{_wrapped(numerator)}/{_wrapped(denominator, after_bar=True)}"
    return _Piece(f"({bare})", FRAC, bare=bare)


def _binomial(top: str, bottom: str) -> _Piece:
    if not top or not bottom:
        raise _Unrenderable("empty binomial part")
    return _Piece(f"C({top}, {bottom})", ATOM)


def _root_sign(index: str) -> str:
    if index in ("", "2"):
        return "√"
    if index in ("3", "4"):
        return "∛" if index == "3" else "∜"
    if all(char in _SUPERSCRIPT for char in index):
        return "".join(_SUPERSCRIPT[char] for char in index) + "√"
    raise _Unrenderable("root index without a superscript form")


def _accented(name: str, argument: str) -> str:
    if not argument or any(unicodedata.combining(char) for char in argument):
        raise _Unrenderable("accent over an empty or accented argument")
    if name in _LINES:
        return "".join(char + _LINES[name] for char in argument)
    if len(argument) != 1 or not argument.isalnum():
        raise _Unrenderable("accent over more than one character")
    return unicodedata.normalize("NFC", argument + _ACCENTS[name])  # ñ as one character where one exists


def _script_text(argument: str, marker: str) -> str:
    """A superscript (^) or subscript (_): Unicode when every character has a form, else ^x or ^(…)."""
    if not argument:
        return ""
    if marker == "^" and argument in ("∘", "°"):
        return "°"
    if marker == "^" and all(char in "′'" for char in argument):
        return argument
    table = _SUPERSCRIPT if marker == "^" else _SUBSCRIPT
    if all(char in table for char in argument):
        return "".join(table[char] for char in argument)
    if _is_one_symbol(argument) or _enclosed(argument):
        return marker + argument
    return f"{marker}({argument})"


def _is_one_symbol(text: str) -> bool:
    return len(text.rstrip("".join(char for char in text if unicodedata.combining(char)))) == 1


def _atomic(text: str, after_bar: bool = False) -> bool:
    """Whether `text` reads as one operand beside `/` or a script: x, 12, x², n!, π, (a+b), |x|.

    A root counts only after a fraction bar: 1/√2 is clear, √3/2 could be √(3/2).
    """
    core = text.rstrip(_SCRIPT_CHARS + "!")
    if after_bar and core[:1] and core[0] in _ROOTS:
        core = core[1:]
    if not core:
        return False
    if _enclosed(core) or _NUMBER.fullmatch(core):
        return True
    base = core.rstrip("".join(char for char in core if unicodedata.combining(char)))
    return len(base) == 1 and (base.isalpha() or base in _SYMBOL_ATOMS)


def _enclosed(text: str) -> bool:
    """Whether one bracket pair encloses all of `text`: (a+b) yes, (a)(b) no."""
    if len(text) < 2:
        return False
    if text[0] in "|‖":
        return text[-1] == text[0] and text[0] not in text[1:-1]
    if text[0] not in _PAIRS or text[-1] != _PAIRS[text[0]]:
        return False
    depth = 0
    for index, char in enumerate(text):
        if char in _PAIRS:
            depth += 1
        elif char in _CLOSERS:
            depth -= 1
            if depth == 0 and index != len(text) - 1:
                return False
    return depth == 0


def _wrapped(text: str, after_bar: bool = False) -> str:
    return text if _atomic(text, after_bar) else f"({text})"


def _join(pieces: list[_Piece], tight: bool = False) -> str:
    """The pieces as text. `tight` (inside scripts) drops spaces, so that `x^{n + 1}` can be xⁿ⁺¹."""
    texts = [_piece_text(pieces, index, tight) for index in range(len(pieces))]
    parts: list[str] = []
    last = ""
    for index, piece in enumerate(pieces):
        text = texts[index]
        if piece.kind in (WORD, BIG):
            # Operator names keep their spacing: x ln x, sin θ, a ≡ b (mod n), but ln(x).
            if last and _ends_operand(last):
                parts.append(" ")
            following = texts[index + 1] if index + 1 < len(texts) else ""
            if following and (_starts_operand(following) or (piece.kind == BIG and following[0] in _PAIRS)):
                text += " "  # ∑ₖ (1/k), but ln(x)
        parts.append(text)
        last = text[-1:] or last
    joined = "".join(parts)
    return joined if tight and " " not in joined else _SPACE_RUN.sub(" ", joined).strip()


def _piece_text(pieces: list[_Piece], index: int, tight: bool) -> str:
    piece = pieces[index]
    if piece.kind == SPACE:
        inside_brackets = (index > 0 and pieces[index - 1].kind == OPEN) or (
            index + 1 < len(pieces) and pieces[index + 1].kind == CLOSE
        )
        return "" if tight or inside_brackets else " "
    if piece.kind in (OP, MUL) and piece.pad:
        return piece.text if tight and piece.text != "mod" else f" {piece.text} "
    if piece.kind == FRAC:
        return piece.bare if _left_is_loose(pieces, index) and _right_is_loose(pieces, index) else piece.text
    if piece.kind == ROOT:
        # √2 · 3 is clear, √2x and √3/2 are not.
        right = _neighbour(pieces, index, 1)
        beside_product = right is not None and right.kind == MUL and right.text != "/"
        return piece.bare if beside_product or _right_is_loose(pieces, index) else piece.text
    return piece.text


def _neighbour(pieces: list[_Piece], index: int, step: int) -> _Piece | None:
    index += step
    if 0 <= index < len(pieces) and pieces[index].kind == SPACE:
        index += step
    return pieces[index] if 0 <= index < len(pieces) else None


def _left_is_loose(pieces: list[_Piece], index: int) -> bool:
    """Nothing on the left binds tighter than the fraction's bar: the start, an opening bracket, =, +, a comma…"""
    left = _neighbour(pieces, index, -1)
    return left is None or left.kind in (OP, PUNCT, OPEN) or (left.kind == TEXT and left.text.endswith(" "))


def _right_is_loose(pieces: list[_Piece], index: int) -> bool:
    right = _neighbour(pieces, index, 1)
    return right is None or right.kind in (OP, PUNCT, CLOSE) or (right.kind == TEXT and right.text.startswith(" "))


def _ends_operand(char: str) -> bool:
    return char.isalnum() or char in _OPERAND_END or char in _SCRIPT_CHARS or unicodedata.combining(char) > 0


def _starts_operand(text: str) -> bool:
    return text[0].isalnum() or text[0] in _ROOTS or text[0] in _SYMBOL_ATOMS or text[0] in "∑∫∏"
