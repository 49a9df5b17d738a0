"""The Draft pane: the shown attempt as readable Markdown, or its raw text, or a draft streaming in.

Both views show the draft as numbered steps (`rel_core.steps`, the rule the critic's prompt uses):
the rendered view in a gutter, the raw view as `[n]` labels, the same labels the critic reads.
The critic's first wrong step is marked, and a step cursor (`current_step`) moves through the
steps; each move posts `DraftPane.StepSelected`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widgets import TextArea
from textual.worker import get_current_worker

from rel_core.steps import Step, split_steps
from rel_tui.latex import displayable
from rel_tui.widgets.rendered_draft import (
    Label,
    RenderedDraft,
    StepLines,
    cap_lines,
    gutter_width,
    plain_steps,
    render_steps,
)

# Drafts up to this size render at once (a few ms). Longer ones show their first part rendered at
# once and the whole from a thread, so moving between items never waits on Markdown.
SYNC_RENDER_CHARS = 3_000
# Beyond this a draft is shown as plain lines (also made in a thread): rendering it would hold the
# GIL for seconds.
MAX_RENDER_CHARS = 200_000
# The raw view is a TextArea, which wraps all it holds when loaded (about half a second a megabyte):
# it shows this much at most, and the plain lines show the rest.
MAX_RAW_CHARS = 1_000_000
FULL_RENDER_DELAY = 0.15  # seconds
_STEP_NUMBER = re.compile(r"\d{1,9}")


def step_number(step: str | None) -> int | None:
    """The number in a critic's "first wrong step" ("3", "Step 3", "step 3-4"), None if it names none."""
    found = _STEP_NUMBER.search(step[:100]) if step else None
    return int(found.group()) if found else None


@dataclass
class _Rendered(Message):
    """A draft's steps and lines made off the UI thread (key names the text and width they were made for)."""

    key: tuple[int, int]
    lines: StepLines
    steps: list[Step]


class DraftPane(Vertical):
    """Shows one draft. `raw` toggles LaTeX source; `-raw` on the pane picks which view is visible."""

    @dataclass
    class StepSelected(Message):
        """The step cursor moved to `step` (by a step key or the jump to the critic's first error)."""

        pane: DraftPane
        step: Step

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.raw = False
        self.streaming = False
        self._draft_text = ""
        self._draft_version = 0
        self._rendered_key: tuple[int, int] | None = None
        self._raw_version = -1  # the raw view is filled only when shown: wrapping huge text is slow
        self._full_render_timer: Timer | None = None
        self.full_render_pending = False
        """True from showing a long draft's opening until its full rendering is shown."""
        self.steps: list[Step] = []
        """The steps shown: all of them, or (until the full rendering) those of a long draft's opening."""
        self.current_step: int | None = None
        """The number of the step the step cursor is on, None before the first step key."""
        self.first_error: str | None = None
        """The LLM critic's first wrong step as it said it (None: it named none)."""
        self._raw_rows: dict[int, int] = {}  # step number -> its row in the raw view
        self._scroll_pending: int | None = None  # a step to scroll to once the full rendering is in

    def compose(self) -> ComposeResult:
        yield RenderedDraft(id="draft-rendered")
        yield TextArea(read_only=True, soft_wrap=True, show_cursor=False, id="draft-raw", compact=True)

    def show_text(self, text: str, title: Content, first_error: str | None = None) -> None:
        """Show a stored draft, `first_error` the critic's first wrong step; the Markdown rendering
        follows at once or from a thread."""
        self.streaming = False
        self._draft_text = text
        self._draft_version += 1
        self._rendered_key = None
        self.first_error = first_error
        self.steps = []
        self.current_step = None
        self._scroll_pending = None
        self.border_title = title
        self._start_render()
        self._update_view()

    def show_stream(self, text: str, title: Content) -> None:
        """Show a draft as it streams in: raw, following the end."""
        self.streaming = True
        self.border_title = title
        raw = self.query_one("#draft-raw", TextArea)
        raw.load_text(displayable(_raw_tail(text)))
        raw.scroll_end(animate=False)
        self._raw_version = -1
        self._update_view()

    def toggle_raw(self) -> None:
        self.raw = not self.raw
        self._update_view()
        if self.current_step is not None:
            self._scroll_raw(self.current_step)

    def focus_view(self) -> None:
        """Focus whichever view is visible, so the arrow and page keys scroll it."""
        self.query_one("#draft-raw" if self.has_class("-raw") else "#draft-rendered").focus()

    @property
    def showing_rendered(self) -> bool:
        return not (self.raw or self.streaming or self._rendered_key is None)

    def _update_view(self) -> None:
        if self.raw and not self.streaming and self._raw_version != self._draft_version:
            raw_text, self._raw_rows = _raw_head(self._draft_text, step_number(self.first_error))
            self.query_one("#draft-raw", TextArea).load_text(displayable(raw_text))
            self._raw_version = self._draft_version
        had_focus = self.has_focus_within
        self.set_class(not self.showing_rendered, "-raw")
        if had_focus:
            self.focus_view()  # the focused view may just have been hidden
        self.border_subtitle = self._subtitle()

    def _subtitle(self) -> str:
        if self.streaming:
            return "streaming… (escape: cancel)"
        size = len(self._draft_text)
        error = f"f: ✗ step {step_number(self.first_error)} · " if step_number(self.first_error) else ""
        if self.raw:
            cut = f", first {MAX_RAW_CHARS // 1000:,} KB" if size > MAX_RAW_CHARS else ""
            return f"{error}raw{cut} (t: rendered)"
        if size > MAX_RENDER_CHARS:
            return f"{error}{size // 1000:,} KB: plain lines (t: wrapped raw)"
        return f"{error}t: raw"

    def _render_width(self) -> int:
        # Less the rendered view's padding (2) and its always-reserved scrollbar gutter.
        gutter = self.query_one(RenderedDraft).styles.scrollbar_size_vertical
        return max(20, self.content_region.width - 2 - gutter)

    def _start_render(self) -> None:
        if self.content_region.width <= 0:
            return  # hidden (narrow layout, other tab): rendered on the next resize
        key = (self._draft_version, self._render_width())
        plain = len(self._draft_text) > MAX_RENDER_CHARS
        error = step_number(self.first_error)
        if len(self._draft_text) <= SYNC_RENDER_CHARS:
            self._show_rendered(key, *_step_lines(self._draft_text, key[1], error, plain=False, complete=True))
            return
        if self._rendered_key is None or self._rendered_key[0] != self._draft_version:
            opening = _opening(self._draft_text)
            self._show_rendered(key, *_step_lines(opening, key[1], error, plain, complete=False))
        elif plain:
            return  # plain lines do not depend on the width: a resize needs no new ones
        # Start a moment later: the new item is on screen first, and an expert paging quickly past
        # long drafts never pays for their full render.
        if self._full_render_timer is not None:
            self._full_render_timer.stop()
        self.full_render_pending = True
        self._full_render_timer = self.set_timer(
            FULL_RENDER_DELAY, lambda: self._render_in_thread(key, self._draft_text, plain, error)
        )

    @work(thread=True, exclusive=True, group="render")
    def _render_in_thread(self, key: tuple[int, int], text: str, plain: bool, error: int | None) -> None:
        if key[0] != self._draft_version:
            return  # the pane moved on before this render started
        lines, steps = _step_lines(text, key[1], error, plain, complete=True)
        if not get_current_worker().is_cancelled:
            self.post_message(_Rendered(key, lines, steps))

    @on(_Rendered)
    def _on_rendered(self, message: _Rendered) -> None:
        message.stop()
        if message.key[0] == self._draft_version:
            self.full_render_pending = False
            self._show_rendered(message.key, message.lines, message.steps)

    def _show_rendered(self, key: tuple[int, int], lines: StepLines, steps: list[Step]) -> None:
        self._rendered_key = key
        self.steps = steps
        view = self.query_one(RenderedDraft)
        view.show_lines(lines, error_step=step_number(self.first_error))
        view.set_cursor_step(self.current_step if self.current_step and self.current_step <= len(steps) else None)
        target = self._scroll_pending or self.current_step
        if target is not None and target <= len(steps):
            view.scroll_to_step(target)
            if self._scroll_pending is not None:
                self._scroll_pending = None
                view.set_cursor_step(target)
                self.post_message(self.StepSelected(self, steps[target - 1]))
        self._update_view()

    def on_resize(self) -> None:
        if self._rendered_key is None or self._rendered_key[1] != self._render_width():
            self._start_render()

    # -- steps: the cursor and the critic's first error ---------------------------------------------

    @property
    def first_error_step(self) -> int | None:
        """The number of the critic's first wrong step, if it named one."""
        return step_number(self.first_error)

    def first_error_problem(self) -> str | None:
        """Why the critic's first wrong step cannot be shown, if it cannot (None when it can)."""
        if self.first_error is None:
            return "The critic marked no wrong step in this attempt."
        number = step_number(self.first_error)
        if number is None:
            return f"The critic's first error ({self.first_error}) names no step number."
        if number < 1 or (not self.full_render_pending and number > len(self.steps)):
            return f"The critic's first error is step {number}, but this draft has {len(self.steps)} steps."
        return None

    def jump_to_error(self) -> str | None:
        """Move the step cursor to the critic's first wrong step; a sentence saying why not if it cannot."""
        problem = self.first_error_problem()
        if problem is None:
            self.select_step(step_number(self.first_error))
        return problem

    def move_step(self, delta: int) -> None:
        """Move the step cursor `delta` steps; the first move starts from the step at the top of the view."""
        if not self.steps:
            return
        if self.current_step is None:
            start = self.query_one(RenderedDraft).top_step() if self.showing_rendered else None
            target = start or 1
        else:
            target = self.current_step + delta
        self.select_step(min(max(target, 1), len(self.steps)))

    def select_step(self, number: int) -> None:
        """Put the step cursor on step `number` and scroll both views to it."""
        self.current_step = number
        if number > len(self.steps):  # past a long draft's opening: scrolled to once it is all rendered
            self._scroll_pending = number
        else:
            view = self.query_one(RenderedDraft)
            view.set_cursor_step(number)
            view.scroll_to_step(number)
            self.post_message(self.StepSelected(self, self.steps[number - 1]))
        self._scroll_raw(number)

    def _scroll_raw(self, number: int) -> None:
        row = self._raw_rows.get(number)
        if row is None or not self.raw:
            return
        raw = self.query_one("#draft-raw", TextArea)

        def scroll() -> None:
            raw.scroll_to(y=max(0, raw.wrapped_document.location_to_offset((row, 0)).y - 1), animate=False)

        raw.call_after_refresh(scroll)  # the wrapped layout is known once the raw view has been laid out


def _step_lines(text: str, width: int, error: int | None, plain: bool, complete: bool) -> tuple[StepLines, list[Step]]:
    """The steps of `text` and its lines with the gutter's spans; pure, so it may run in a thread.
    `complete`: `text` is the whole draft, so a first error past its last step is said so at the top."""
    steps = split_steps(text)
    lines = plain_steps(text, steps, error) if plain else render_steps(text, steps, width - gutter_width(len(steps)), error)
    if complete and error is not None and not 0 < error <= len(steps):
        lines.lines.insert(0, Label(f"✗ critic: first error at step {error}, but this draft has {len(steps)} steps"))
        lines.spans = [(first + 1, end + 1) for first, end in lines.spans]
    return lines, steps


def _opening(text: str) -> str:
    """The start of a long draft, cut at a paragraph break: enough to fill the screen while the rest renders."""
    head = text[:SYNC_RENDER_CHARS]
    cut = head.rfind("\n\n")
    return head[:cut] if cut > 0 else head


def _raw_head(text: str, first_error: int | None = None) -> tuple[str, dict[int, int]]:
    """What the raw view shows of a stored draft: its start with each step labelled `[n]` where it
    begins, lines cut, and a marker if there is more; and the row each step label is on."""
    head = text[:MAX_RAW_CHARS]
    labelled, rows = _label_steps(head, first_error)
    if len(text) <= MAX_RAW_CHARS:
        if first_error is not None and not 0 < first_error <= len(rows):
            notice = f"⟨✗ critic: first error at step {first_error}, but this draft has {len(rows)} steps⟩\n"
            labelled, rows = notice + labelled, {number: row + 1 for number, row in rows.items()}
        return cap_lines(labelled), rows
    rest = len(text) - MAX_RAW_CHARS
    return f"{cap_lines(labelled)}\n⟨{rest:,} more characters: t shows them all as plain lines⟩", rows


def _label_steps(text: str, first_error: int | None) -> tuple[str, dict[int, int]]:
    parts, rows = [], {}
    row = previous = 0
    for step in split_steps(text):
        parts.append(text[previous : step.start])
        row += text.count("\n", previous, step.start)
        rows[step.number] = row
        mark = " ✗ critic: first error" if step.number == first_error else ""
        parts.append(f"[{step.number}{mark}] ")
        previous = step.start
    parts.append(text[previous:])
    return "".join(parts), rows


def _raw_tail(text: str) -> str:
    """What the raw view shows of a draft streaming in: its end, which is where the new text is."""
    if len(text) <= MAX_RENDER_CHARS:  # reloaded for every chunk: less than the stored draft's view
        return cap_lines(text)
    skipped = len(text) - MAX_RENDER_CHARS
    return f"⟨{skipped:,} earlier characters not shown while streaming⟩\n{cap_lines(text[-MAX_RENDER_CHARS:])}"
