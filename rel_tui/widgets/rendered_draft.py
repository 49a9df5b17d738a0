"""A draft rendered as Markdown, shown through the line API so only visible lines are drawn.

Rendering (Rich Markdown over LaTeX turned into Unicode) is a pure function of text and width, so
long drafts can be rendered off the UI thread and the pane swaps the result in when it arrives.
Drafts too long to render are shown as plain lines, each made into a strip only when visible.
Very long lines (a 10 MB draft on one line) are cut for display with a visible marker: wrapping or
measuring them whole would hold the UI for seconds, and nobody reads a megabyte-long line.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.markdown import Markdown
from rich.segment import Segment
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from rel_tui.latex import displayable, readable_markdown

MAX_LINE_CHARS = 5_000
"""Characters of one line shown; the rest of the line is replaced by a marker saying how much."""


def cap_lines(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """`text` with each line longer than `limit` cut there and marked; linear in the text's length."""
    if len(text) <= limit:
        return text
    lines = text.split("\n")
    if all(len(line) <= limit for line in lines):
        return text
    return "\n".join(line if len(line) <= limit else _cut(line, limit) for line in lines)


def _cut(line: str, limit: int) -> str:
    return f"{line[:limit]} ⟨line cut here: {len(line) - limit:,} more characters⟩"


def render_markdown(text: str, width: int) -> list[list[Segment]]:
    """The draft as Markdown lines `width` cells wide; its text is data, never console markup.

    Lines stay lists of segments: a Strip costs more to build, so only visible ones are made.
    """
    console = Console(
        width=width, file=io.StringIO(), color_system="truecolor", force_terminal=True, legacy_windows=False
    )
    markdown = Markdown(displayable(readable_markdown(cap_lines(text))), hyperlinks=False)
    return console.render_lines(markdown, console.options.update_width(width), pad=False)


def plain_lines(text: str) -> list[str]:
    """The draft as unwrapped, displayable lines (each cut at MAX_LINE_CHARS)."""
    return displayable(cap_lines(text)).expandtabs(4).split("\n")


class RenderedDraft(ScrollView, can_focus=True):
    """Scrollable, read-only view of rendered lines (segment lists) or plain lines (strings)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._lines: list[list[Segment] | str] = []
        self._strips: dict[int, Strip] = {}

    @property
    def lines(self) -> list[list[Segment] | str]:
        return self._lines

    def show_lines(self, lines: list[list[Segment]] | list[str]) -> None:
        self._lines = lines
        self._strips = {}
        self.virtual_size = Size(max(map(_line_length, lines), default=0), len(lines))
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def _strip(self, index: int) -> Strip:
        strip = self._strips.get(index)
        if strip is None:
            line = self._lines[index]
            strip = self._strips[index] = Strip([Segment(line)] if isinstance(line, str) else line)
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        style = self.rich_style
        width = self.size.width
        if index >= len(self._lines):
            return Strip.blank(width, style)
        return self._strip(index).apply_style(style).crop_extend(scroll_x, scroll_x + width, style)


def _line_length(line: list[Segment] | str) -> int:
    return len(line) if isinstance(line, str) else sum(len(segment.text) for segment in line)
