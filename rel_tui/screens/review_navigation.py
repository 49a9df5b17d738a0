"""The review screen's moving about: next and earlier items, older and newer attempts, the queue
table and the filter (which keeps the expert's place), the views of the shown item, scrolling,
help and the guidelines. A mixin of `ReviewScreen`.
"""

from __future__ import annotations

from textual.widget import Widget

from rel_core.review_session import QueueFilter
from rel_core.terminal_text import one_line
from rel_tui.database_write import database_write
from rel_tui.screens.edit import EditScreen
from rel_tui.screens.filter import FilterDialog
from rel_tui.screens.help import EDITOR_KEYS, FILTER_KEYS, QUEUE_KEYS, REJECT_KEYS, HelpScreen
from rel_tui.screens.queue import QueueScreen
from rel_tui.widgets.draft_pane import DraftPane
from rel_tui.widgets.problem_pane import ProblemPane


class Navigation:
    """The keys that move between items and attempts or change what is shown, for `ReviewScreen`."""

    def action_next(self) -> None:
        self.write_patiently(
            "The next item was not opened (n tries again)", "opening the next item", self._open_next, self._next_opened,
            failed=self._next_not_opened,
        )  # fmt: skip

    def _open_next(self) -> tuple[bool, bool]:
        """Open the next item (moved), else keep the open one if it is still in the queue (in_queue)."""
        moved = self.session.next()
        in_queue = not moved and self.session.current_in_queue()
        if in_queue:
            self.session.reload()  # it may have changed (a skip)
        elif not moved:
            self.session.close()
        return moved, in_queue

    def _next_opened(self, outcome: tuple[bool, bool]) -> None:
        moved, in_queue = outcome
        if moved:
            self.show_opened_item()
        elif in_queue:
            self.show_item(self.attempt.id if self.attempt else None)
            self.notify("No other item in this queue.", timeout=3, markup=False)
        else:
            self.show_empty()

    def _next_not_opened(self) -> None:
        if self.session.current is None:
            self.show_empty()

    def action_previous(self) -> None:
        self.write_patiently(
            "The earlier item was not opened (p tries again)", "opening the earlier item", self.session.previous,
            self._previous_opened,
        )  # fmt: skip

    def _previous_opened(self, opened: bool) -> None:
        if opened:
            self.show_opened_item()
        else:
            self.notify("No earlier item in this session.", severity="warning", markup=False)

    def action_previous_attempt(self) -> None:
        self.step_attempt(-1)

    def action_next_attempt(self) -> None:
        self.step_attempt(+1)

    def step_attempt(self, step: int) -> None:
        if self.waits_for_call("previous_attempt" if step < 0 else "next_attempt"):
            return
        count = len(self.session.current.attempts)
        index = self.attempt_index + step
        if 0 <= index < count:
            self.attempt_index = index
            self.show_attempt()

    # -- the queue and the filter ------------------------------------------------------------------

    def open_problem(self, problem_id: int | None) -> None:
        if problem_id is None or problem_id == self.session.problem_id:
            return

        def claim() -> tuple[bool, str | None]:
            opened = self.session.open(problem_id)
            return opened, None if opened else self.session.held_by(problem_id)

        def shown(outcome: tuple[bool, str | None]) -> None:
            opened, holder = outcome
            if opened:
                self.show_opened_item()
            else:
                self.notify(f"#{problem_id} is open by {one_line(holder or 'someone else')}.", severity="warning", markup=False)

        self.write_patiently(f"#{problem_id} was not opened", f"opening #{problem_id}", claim, shown)

    def action_queue(self) -> None:
        self.app.push_screen(QueueScreen(self.session), self._queue_closed)

    def _queue_closed(self, problem_id: int | None) -> None:
        self.open_problem(problem_id)
        self.update_status()

    def action_filter(self) -> None:
        self.app.push_screen(FilterDialog(self.session.filter, self.session.sources()), self._filtered)

    def _filtered(self, queue_filter: QueueFilter | None) -> None:
        if queue_filter is None or self.refuses_while_waiting() or self._kept_place(queue_filter):
            return

        def opened(first: bool) -> None:
            if first:
                self.show_opened_item()
            else:
                self.show_empty(no_matches=True)
                self.notify(f"No matches: {queue_filter.describe()}", severity="warning", timeout=4, markup=False)

        def not_opened() -> None:
            if self.session.current is None:  # the new filter holds: n opens its first item
                self.show_empty()

        self.write_patiently(
            "The filtered queue was not opened (n tries again)", "opening the filtered queue",
            lambda: self.session.apply_filter(queue_filter), opened, failed=not_opened,
        )  # fmt: skip

    def _kept_place(self, queue_filter: QueueFilter) -> bool:
        """The expert keeps their place: the open item stays on screen when it matches the new filter."""
        if self.session.current is None:
            return False
        before = self.session.filter
        self.session.filter = queue_filter
        with database_write(self, "The filtered queue was not opened (n tries again)") as write:
            stays = self.session.current_in_queue()
        if write.failed or not stays:
            self.session.filter = before  # apply_filter (or the same key, again) takes it from here
            return False
        self.update_status()
        self.notify(f"Queue: {queue_filter.describe()} · still on #{self.session.problem_id}", timeout=3, markup=False)
        return True

    # -- views of the shown item and scrolling -----------------------------------------------------

    def action_toggle_reference(self) -> None:
        if not self.has_class("-problem-open"):
            self.action_show_pane("problem")
        self.query_one(ProblemPane).toggle_reference()

    def action_toggle_raw(self) -> None:
        self.query_one(DraftPane).toggle_raw()

    def scrolled_pane(self) -> Widget:
        """The focused pane's scrolling part, else the draft's."""
        focused = self.focused
        if focused is not None and focused.allow_vertical_scroll:
            return focused
        draft = self.query_one(DraftPane)
        return draft.query_one("#draft-raw" if draft.has_class("-raw") else "#draft-rendered")

    def action_scroll_pane(self, lines: int) -> None:
        self.scrolled_pane().scroll_relative(y=lines, animate=False)

    def action_page_pane(self) -> None:
        self.scrolled_pane().scroll_page_down(animate=False)

    # -- help and leaving --------------------------------------------------------------------------

    def action_help(self) -> None:
        key_help = self.app.key_help
        sections = [
            ("Editor (e)", key_help(EditScreen.BINDINGS) + EDITOR_KEYS),
            ("Queue (g)", key_help(QueueScreen.BINDINGS) + QUEUE_KEYS),
            ("Reject dialog (x)", REJECT_KEYS),
            ("Filter dialog (/)", FILTER_KEYS),
        ]
        self.app.push_screen(HelpScreen(key_help(self.BINDINGS), sections))

    def action_guidelines(self) -> None:
        from rel_tui.screens.guidelines import show_guidelines

        show_guidelines(self.app, self.session.guidelines)

    def action_quit(self) -> None:
        if not self.quit_loses_work():
            self.app.exit()
