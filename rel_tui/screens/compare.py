"""Two attempts of a problem compared word by word: side by side from 120 columns, unified below.

The shown attempt is compared with its parent (the attempt it was revised or edited from), or the
attempt before it; `[` and `]` pick any other attempt of the problem. The older of the two is on
the left. The diff is by words (rel_core.text_diff), and all text goes through `displayable`: it
is data, never markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from rel_core.models import Attempt, ProblemHistory
from rel_core.text_diff import diff_regions, word_count
from rel_core.text_diff import word_diff as word_diff  # re-exported: tests/test_tui_compare.py imports it here
from rel_tui.latex import displayable
from rel_tui.screens.help import HelpScreen
from rel_tui.screens.key_bursts import ClosesOnce

SIDE_BY_SIDE_COLUMNS = 120
MAX_COMPARE_CHARS = 150_000
"""Characters of each attempt compared and shown; a longer draft is cut there with a marker."""
MAX_ROWS = 200
"""Side by side, each unchanged run and each changed run is a row, so the two sides stay level."""
DELETED = "$text-error strike on $error-muted"
INSERTED = "$text-success bold on $success-muted"


@dataclass(frozen=True)
class DiffView:
    """What the screen shows of one diff: the rows side by side (old, new), the unified view and a
    count of the changes."""

    rows: list[tuple[Content, Content]]
    unified: Content
    summary: str


def diff_view(old: str, new: str) -> DiffView:
    """The diff from `old` to `new` as styled Content (pure: may be made in a thread)."""
    regions = diff_regions(_capped(old), _capped(new), MAX_ROWS)
    rows = []
    unified: list[str | tuple[str, str]] = []
    deleted = inserted = 0
    for region in regions:
        old_parts: list[str | tuple[str, str]] = []
        new_parts: list[str | tuple[str, str]] = []
        for chunk in region:
            a, b = displayable(chunk.old), displayable(chunk.new)
            if chunk.tag == "equal":
                old_parts.append(a)
                new_parts.append(b)
                unified.append(b)
                continue
            if a:
                old_parts.append((a, DELETED))
                # Replaced words end where their replacement starts: no line break between them.
                unified.append((a.rstrip() + " " if b else a, DELETED))
                deleted += word_count(a)
            if b:
                new_parts.append((b, INSERTED))
                unified.append((b, INSERTED))
                inserted += word_count(b)
        rows.append((_side(old_parts), _side(new_parts)))
    summary = f"+{inserted:,} words, −{deleted:,} words" if inserted or deleted else "no changes"
    return DiffView(rows, Content.assemble(*unified) if unified else Content("No changes."), summary)


def _side(parts: list[str | tuple[str, str]]) -> Content:
    # A row's side ends where its text does: the rows' own spacing keeps paragraphs apart.
    return Content.assemble(*parts).rstrip() if parts else Content("")


def _capped(text: str) -> str:
    if len(text) <= MAX_COMPARE_CHARS:
        return text
    return f"{text[:MAX_COMPARE_CHARS]}\n\n⟨{len(text) - MAX_COMPARE_CHARS:,} more characters not compared⟩"


def default_against(history: ProblemHistory, shown: Attempt) -> Attempt | None:
    """What the shown attempt is compared with first: its parent, else the attempt before it
    (the one after it for the first)."""
    others = [a for a in history.attempts if a.id != shown.id]
    parent = next((a for a in others if a.id == shown.parent_id), None)
    if parent is not None or not others:
        return parent
    earlier = [a for a in others if (a.id or 0) < (shown.id or 0)]
    return earlier[-1] if earlier else others[0]


@dataclass
class _DiffMade(Message):
    key: tuple[int | None, int | None]
    view: DiffView


class DiffPanes(Vertical):
    """A diff shown side by side (the screen's `-wide` class) or unified, with a line on what changed."""

    changes: str | None = None  # the shown diff's summary of changes

    def compose(self) -> ComposeResult:
        yield Static(Content("Comparing…"), id="compare-summary", classes="summary")
        with VerticalScroll(id="compare-sides", can_focus=True):
            with Horizontal(classes="row"):
                yield Static(id="compare-old-title", classes="side-title")
                yield Static(id="compare-new-title", classes="side-title")
            yield Vertical(id="compare-rows")
        with VerticalScroll(id="compare-unified", can_focus=True):
            yield Static(id="compare-unified-body")

    def show(self, view: DiffView, old_title: str, new_title: str) -> None:
        self.query_one("#compare-old-title", Static).update(Content(displayable(old_title)))
        self.query_one("#compare-new-title", Static).update(Content(displayable(new_title)))
        rows = self.query_one("#compare-rows", Vertical)
        rows.remove_children()
        rows.mount_all(
            Horizontal(Static(old, classes="old"), Static(new, classes="new"), classes="row") for old, new in view.rows
        )
        self.query_one("#compare-unified-body", Static).update(view.unified)
        self.changes = view.summary
        self.show_summary()
        for scroll in self.query(VerticalScroll):
            scroll.scroll_home(animate=False)

    def show_summary(self) -> None:
        """What changed, and how the layout shown (it follows the width) marks it."""
        how = "older left, newer right" if self.screen.has_class("-wide") else "removed struck through, added in bold"
        summary = f"{how} · {self.changes}"
        self.query_one("#compare-summary", Static).update(Content(displayable(summary)))

    def focus_view(self) -> None:
        wide = self.screen.has_class("-wide")
        self.query_one("#compare-sides" if wide else "#compare-unified").focus()
        if self.changes is not None:
            self.show_summary()


class CompareScreen(ClosesOnce, Screen[None]):
    """The shown attempt against its parent or any other attempt of the problem."""

    CSS_PATH = "compare.tcss"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (SIDE_BY_SIDE_COLUMNS, "-wide")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,d", "close", "Close", id="compare.close", tooltip="Back to the review"),
        Binding("left_square_bracket", "other(-1)", "Older", id="compare.older", tooltip="Compare with an older attempt of this problem"),
        Binding("right_square_bracket", "other(1)", "Newer", id="compare.newer", tooltip="Compare with a newer attempt of this problem"),
        Binding("p", "parent", "Parent", id="compare.parent", tooltip="Compare with the shown attempt's parent again"),
        Binding("question_mark", "help", "Help", id="compare.help", tooltip="All keys of this screen"),
    ]  # fmt: skip

    def __init__(self, history: ProblemHistory, shown_id: int | None, against_id: int | None = None) -> None:
        super().__init__()
        self.history = history
        self.shown = next(a for a in history.attempts if a.id == shown_id)
        default = default_against(history, self.shown)
        self.against = next((a for a in history.attempts if a.id == against_id), default)
        self.parent_attempt = default

    def compose(self) -> ComposeResult:
        yield Static(id="compare-title")
        yield DiffPanes(id="compare-panes")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.show_diff()

    def on_resize(self) -> None:
        # The breakpoint classes change after this handler: follow them once they have.
        self.call_after_refresh(self.query_one(DiffPanes).focus_view)

    def label(self, attempt: Attempt) -> str:
        position = self.history.attempts.index(attempt) + 1
        relation = " (shown)" if attempt is self.shown else (" (parent)" if attempt.id == self.shown.parent_id else "")
        return f"Draft {position}/{len(self.history.attempts)} #{attempt.id} · {attempt.kind}{relation}"

    def show_diff(self) -> None:
        old, new = sorted((self.against, self.shown), key=lambda a: self.history.attempts.index(a))
        title = f"#{self.history.problem.id}: {self.label(old)}  →  {self.label(new)}"
        self.query_one("#compare-title", Static).update(Content(displayable(title)))
        self.query_one("#compare-summary", Static).update(Content("Comparing…"))
        self.make_diff((old.id, new.id), old.text, new.text)

    @work(thread=True, exclusive=True, group="compare")
    def make_diff(self, key: tuple[int | None, int | None], old: str, new: str) -> None:
        view = diff_view(old, new)  # difflib on long drafts takes a while: off the UI thread
        if not get_current_worker().is_cancelled:
            self.post_message(_DiffMade(key, view))

    @on(_DiffMade)
    def _diff_made(self, message: _DiffMade) -> None:
        old, new = (next(a for a in self.history.attempts if a.id == i) for i in message.key)
        if {old.id, new.id} != {self.against.id, self.shown.id}:
            return  # another attempt was picked meanwhile
        self.query_one(DiffPanes).show(message.view, self.label(old), self.label(new))
        self.query_one(DiffPanes).focus_view()

    def action_other(self, step: int) -> None:
        others = [a for a in self.history.attempts if a is not self.shown]
        index = others.index(self.against) + step
        if 0 <= index < len(others):
            self.against = others[index]
            self.show_diff()
        else:
            self.notify("No other attempt that way.", timeout=2, markup=False)

    def action_parent(self) -> None:
        if self.parent_attempt is not None and self.parent_attempt is not self.against:
            self.against = self.parent_attempt
            self.show_diff()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.app.key_help(self.BINDINGS)))

    def action_close(self) -> None:
        self.dismiss(None)
