"""The Draft pane: the shown attempt as readable Markdown, or its raw text, or a draft streaming in."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.timer import Timer
from textual.widgets import TextArea
from textual.worker import get_current_worker

from rel_tui.latex import displayable
from rel_tui.messages import DraftRendered
from rel_tui.widgets.rendered_draft import RenderedDraft, cap_lines, plain_lines, render_markdown

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


class DraftPane(Vertical):
    """Shows one draft. `raw` toggles LaTeX source; `-raw` on the pane picks which view is visible."""

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

    def compose(self) -> ComposeResult:
        yield RenderedDraft(id="draft-rendered")
        yield TextArea(
            read_only=True, soft_wrap=True, show_cursor=False, id="draft-raw", compact=True
        )

    def show_text(self, text: str, title: Content) -> None:
        """Show a stored draft; the Markdown rendering follows at once or from a thread."""
        self.streaming = False
        self._draft_text = text
        self._draft_version += 1
        self._rendered_key = None
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

    def focus_view(self) -> None:
        """Focus whichever view is visible, so the arrow and page keys scroll it."""
        self.query_one("#draft-raw" if self.has_class("-raw") else "#draft-rendered").focus()

    @property
    def showing_rendered(self) -> bool:
        return not (self.raw or self.streaming or self._rendered_key is None)

    def _update_view(self) -> None:
        if self.raw and not self.streaming and self._raw_version != self._draft_version:
            self.query_one("#draft-raw", TextArea).load_text(displayable(_raw_head(self._draft_text)))
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
        if self.raw:
            cut = f", first {MAX_RAW_CHARS // 1000:,} KB" if size > MAX_RAW_CHARS else ""
            return f"raw{cut} (t: rendered)"
        if size > MAX_RENDER_CHARS:
            return f"{size // 1000:,} KB: plain lines (t: wrapped raw)"
        return "t: raw"

    def _render_width(self) -> int:
        # Less the rendered view's padding (2) and its always-reserved scrollbar gutter.
        gutter = self.query_one(RenderedDraft).styles.scrollbar_size_vertical
        return max(20, self.content_region.width - 2 - gutter)

    def _start_render(self) -> None:
        if self.content_region.width <= 0:
            return  # hidden (narrow layout, other tab): rendered on the next resize
        key = (self._draft_version, self._render_width())
        plain = len(self._draft_text) > MAX_RENDER_CHARS
        if len(self._draft_text) <= SYNC_RENDER_CHARS:
            self._show_rendered(key, render_markdown(self._draft_text, key[1]))
            return
        if self._rendered_key is None or self._rendered_key[0] != self._draft_version:
            opening = _opening(self._draft_text)
            self._show_rendered(key, plain_lines(opening) if plain else render_markdown(opening, key[1]))
        elif plain:
            return  # plain lines do not depend on the width: a resize needs no new ones
        # Start a moment later: the new item is on screen first, and an expert paging quickly past
        # long drafts never pays for their full render.
        if self._full_render_timer is not None:
            self._full_render_timer.stop()
        self.full_render_pending = True
        self._full_render_timer = self.set_timer(
            FULL_RENDER_DELAY, lambda: self._render_in_thread(key, self._draft_text, plain)
        )

    @work(thread=True, exclusive=True, group="render")
    def _render_in_thread(self, key: tuple[int, int], text: str, plain: bool) -> None:
        if key[0] != self._draft_version:
            return  # the pane moved on before this render started
        lines = plain_lines(text) if plain else render_markdown(text, key[1])
        if not get_current_worker().is_cancelled:
            self.post_message(DraftRendered(key, lines))

    @on(DraftRendered)
    def _on_rendered(self, message: DraftRendered) -> None:
        message.stop()
        if message.key[0] == self._draft_version:
            self.full_render_pending = False
            self._show_rendered(message.key, message.lines)

    def _show_rendered(self, key: tuple[int, int], lines) -> None:
        self._rendered_key = key
        self.query_one(RenderedDraft).show_lines(lines)
        self._update_view()

    def on_resize(self) -> None:
        if self._rendered_key is None or self._rendered_key[1] != self._render_width():
            self._start_render()


def _opening(text: str) -> str:
    """The start of a long draft, cut at a paragraph break: enough to fill the screen while the rest renders."""
    head = text[:SYNC_RENDER_CHARS]
    cut = head.rfind("\n\n")
    return head[:cut] if cut > 0 else head


def _raw_head(text: str) -> str:
    """What the raw view shows of a stored draft: its start, lines cut, and a marker if there is more."""
    if len(text) <= MAX_RAW_CHARS:
        return cap_lines(text)
    rest = len(text) - MAX_RAW_CHARS
    return f"{cap_lines(text[:MAX_RAW_CHARS])}\n⟨{rest:,} more characters: t shows them all as plain lines⟩"


def _raw_tail(text: str) -> str:
    """What the raw view shows of a draft streaming in: its end, which is where the new text is."""
    if len(text) <= MAX_RENDER_CHARS:  # reloaded for every chunk: less than the stored draft's view
        return cap_lines(text)
    skipped = len(text) - MAX_RENDER_CHARS
    return f"⟨{skipped:,} earlier characters not shown while streaming⟩\n{cap_lines(text[-MAX_RENDER_CHARS:])}"
