"""A draft rendered as Markdown, shown through the line API so only visible lines are drawn.

The draft is shown as numbered steps (`rel_core.steps`, the rule the critic's prompt uses too):
each step is rendered on its own and a gutter drawn beside the lines gives its number, marks the
critic's first wrong step and the step cursor. The gutter is drawn when a line is shown, so moving
the cursor or the mark never re-renders the draft.

Rendering (Rich Markdown over LaTeX turned into Unicode) is a pure function of text and width, so
long drafts can be rendered off the UI thread and the pane swaps the result in when it arrives.
Drafts too long to render are shown as plain lines, each made into a strip only when visible.
Very long lines (a 10 MB draft on one line) are cut for display with a visible marker: wrapping or
measuring them whole would hold the UI for seconds, and nobody reads a megabyte-long line.
"""

from __future__ import annotations

import io
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import ClassVar

from rich.console import Console
from rich.markdown import Markdown
from rich.segment import Segment
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from rel_core.steps import Step
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


class Label(str):
    """A line the pane adds to the draft's own (the critic's mark), drawn in its own colour."""


FIRST_ERROR_LABEL = Label("✗ critic: first error")


def _console(width: int) -> Console:
    return Console(width=width, file=io.StringIO(), color_system="truecolor", force_terminal=True, legacy_windows=False)


def render_markdown(text: str, width: int, console: Console | None = None) -> list[list[Segment]]:
    """The draft as Markdown lines `width` cells wide; its text is data, never console markup.

    Lines stay lists of segments: a Strip costs more to build, so only visible ones are made.
    """
    console = console or _console(width)
    markdown = Markdown(displayable(readable_markdown(cap_lines(text))), hyperlinks=False)
    return console.render_lines(markdown, console.options.update_width(width), pad=False)


def plain_lines(text: str) -> list[str]:
    """The draft as unwrapped, displayable lines (each cut at MAX_LINE_CHARS)."""
    return displayable(cap_lines(text)).expandtabs(4).split("\n")


Line = list[Segment] | str


@dataclass
class StepLines:
    """A draft's lines with, per step, the lines it covers: `spans[n - 1]` = (first, end) of step n."""

    lines: list[Line]
    spans: list[tuple[int, int]] = field(default_factory=list)


def gutter_width(step_count: int) -> int:
    """Cells the step gutter takes: a mark, the number, a bar (none when there are no steps)."""
    return len(str(step_count)) + 2 if step_count else 0


_STEP_MARK = "\ue000\ue001"  # private-use characters: a paragraph of its own before each step


def render_steps(text: str, steps: list[Step], width: int, first_error: int | None = None) -> StepLines:
    """Each step rendered as Markdown, a blank line between; the critic's first wrong step opens
    with its label. Text without steps (blank) is rendered whole.

    The steps are rendered in one Markdown document, each after a marker paragraph that is then
    cut out: one parse instead of one per step (three times faster on a 50 kB draft). Where the
    markers do not come back one per step (an HTML block swallowed some), each step is rendered
    on its own instead.
    """
    if not steps:
        return StepLines(render_markdown(text, width))
    console = _console(width)
    marked = "\n\n".join(f"{_STEP_MARK}{step.number}\n\n{step.text}" for step in steps)
    groups = _split_at_marks(render_markdown(marked, width, console))
    if len(groups) != len(steps):
        groups = [render_markdown(step.text, width, console) for step in steps]
    lines: list[Line] = []
    spans = []
    for step, group in zip(steps, groups, strict=True):
        if lines:
            lines.append([])
        first = len(lines)
        if step.number == first_error:
            lines.append(FIRST_ERROR_LABEL)
        lines.extend(_trimmed(group) or [[]])
        spans.append((first, len(lines)))
    return StepLines(lines, spans)


def _split_at_marks(lines: list[list[Segment]]) -> list[list[list[Segment]]]:
    """The rendered lines in the groups the step marks open (the marks themselves dropped)."""
    groups: list[list[list[Segment]]] = []
    for line in lines:
        if "".join(segment.text for segment in line).lstrip().startswith(_STEP_MARK):
            groups.append([])
        elif groups:
            groups[-1].append(line)
        elif "".join(segment.text for segment in line).strip():
            return []  # text before the first mark: not the document we made
    return groups


def _trimmed(lines: list[list[Segment]]) -> list[list[Segment]]:
    """Without the blank lines Rich puts around some blocks (a list opens with one): steps are
    already a blank line apart."""
    blank = [not "".join(segment.text for segment in line).strip() for line in lines]
    start, end = 0, len(lines)
    while start < end and blank[start]:
        start += 1
    while end > start and blank[end - 1]:
        end -= 1
    return lines[start:end]


def plain_steps(text: str, steps: list[Step], first_error: int | None = None) -> StepLines:
    """The draft as plain lines (`plain_lines`) with the lines each step covers; linear in the text."""
    lines: list[Line] = list(plain_lines(text))
    spans = []
    line, offset = 0, 0
    for step in steps:
        line += text.count("\n", offset, step.start)
        end = line + text.count("\n", step.start, step.end) + 1
        offset = step.end
        spans.append((line, end))
        line = end - 1
    if first_error is not None and 0 < first_error <= len(spans):
        first, _ = spans[first_error - 1]
        lines.insert(first, FIRST_ERROR_LABEL)
        marked = first_error - 1  # that step's span now starts with the label; the later ones move down
        spans = [(a, b) if n < marked else (a + (n > marked), b + 1) for n, (a, b) in enumerate(spans)]
    return StepLines(lines, spans)


class RenderedDraft(ScrollView, can_focus=True):
    """Scrollable, read-only view of rendered lines (segment lists) or plain lines (strings), with
    a step gutter when the lines come with step spans."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "rendered-draft--gutter",
        "rendered-draft--cursor",
        "rendered-draft--error",
        "rendered-draft--error-step",
    }
    DEFAULT_CSS = """
    RenderedDraft > .rendered-draft--gutter { color: $text-muted; }
    RenderedDraft > .rendered-draft--cursor { color: $text; background: $accent 40%; text-style: bold; }
    RenderedDraft > .rendered-draft--error { color: $text-error; text-style: bold; }
    RenderedDraft > .rendered-draft--error-step { background: $error 12%; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._lines: list[Line] = []
        self._spans: list[tuple[int, int]] = []
        self._starts: list[int] = []
        self._strips: dict[int, Strip] = {}
        self._gutter = 0
        self._cursor_step: int | None = None
        self._error_step: int | None = None

    @property
    def lines(self) -> list[Line]:
        """The draft's lines as shown, without the gutter."""
        return self._lines

    @property
    def step_count(self) -> int:
        return len(self._spans)

    def show_lines(self, lines: list[list[Segment]] | list[str] | StepLines, error_step: int | None = None) -> None:
        """Show new lines (scrolled to the top); StepLines get the gutter, `error_step` its mark."""
        step_lines = lines if isinstance(lines, StepLines) else StepLines(list(lines))
        self._lines = step_lines.lines
        self._spans = step_lines.spans
        self._starts = [first for first, _ in self._spans]
        self._gutter = gutter_width(len(self._spans))
        self._error_step = error_step
        self._strips = {}
        width = max(map(_line_length, self._lines), default=0) + self._gutter
        self.virtual_size = Size(width, len(self._lines))
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def set_cursor_step(self, number: int | None) -> None:
        if number != self._cursor_step:
            self._cursor_step = number
            self._strips = {}  # the gutter is part of each cached strip
            self.refresh()

    def step_at(self, index: int) -> int | None:
        """The number of the step line `index` belongs to (None between steps)."""
        position = bisect_right(self._starts, index) - 1
        if position >= 0 and index < self._spans[position][1]:
            return position + 1
        return None

    def first_line_of(self, number: int) -> int:
        return self._spans[number - 1][0]

    def top_step(self) -> int | None:
        """The first step whose start is on screen, else the one the top line is in."""
        top = self.scroll_offset.y
        position = bisect_right(self._starts, top - 1)
        if position < len(self._starts) and self._starts[position] < top + max(1, self.size.height):
            return position + 1
        return self.step_at(top)

    def scroll_to_step(self, number: int) -> None:
        """Scroll so the step starts near the top, one line of what comes before above it."""
        self.scroll_to(y=max(0, self.first_line_of(number) - 1), animate=False)

    def _strip(self, index: int) -> Strip:
        strip = self._strips.get(index)
        if strip is None:
            strip = self._strips[index] = self._make_strip(index)
        return strip

    def _make_strip(self, index: int) -> Strip:
        line = self._lines[index]
        if isinstance(line, Label):
            segments = [Segment(line, self.get_component_rich_style("rendered-draft--error"))]
        else:
            segments = [Segment(line)] if isinstance(line, str) else line
        if not self._gutter:
            return Strip(segments)
        number = self.step_at(index)
        strip = Strip([*self._gutter_segments(index, number), *segments])
        if number is not None and number == self._error_step:
            strip = strip.apply_style(self.get_component_rich_style("rendered-draft--error-step"))
        return strip

    def _gutter_segments(self, index: int, number: int | None) -> list[Segment]:
        digits = self._gutter - 2
        if number is None:
            return [Segment(" " * self._gutter)]
        first = self._spans[number - 1][0] == index
        error = number == self._error_step
        cursor = number == self._cursor_step
        mark = "✗" if error else ("▶" if cursor else " ")
        label = f"{mark}{number:>{digits}}" if first else " " * (digits + 1)
        label_style = "rendered-draft--cursor" if cursor else ("rendered-draft--error" if error else "rendered-draft--gutter")
        bar_style = "rendered-draft--error" if error else label_style
        return [
            Segment(label, self.get_component_rich_style(label_style)),
            Segment("│", self.get_component_rich_style(bar_style)),
        ]

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        style = self.rich_style
        width = self.size.width
        if index >= len(self._lines):
            return Strip.blank(width, style)
        return self._strip(index).apply_style(style).crop_extend(scroll_x, scroll_x + width, style)


def _line_length(line: Line) -> int:
    return len(line) if isinstance(line, str) else sum(len(segment.text) for segment in line)
