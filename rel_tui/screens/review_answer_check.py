"""The review screen's answer check of a shown attempt that has none (imported drafts, expert edits).

A check that needs no math-verify is stored at once, so the item is drawn once with it; otherwise
a worker asks the session to check (math-verify runs in the checker's processes) and posts
`AnswerChecked`. A mixin of `ReviewScreen`; see review_generation.py for why the handler is named
`on_answer_checked` rather than decorated with `@on`.
"""

from __future__ import annotations

from textual import work
from textual.worker import Worker, WorkerState

from rel_core.checking import check_of, is_checkable
from rel_core.models import Attempt, Problem
from rel_core.terminal_text import one_line
from rel_tui.database_write import NOT_SAVED_ERRORS, report_not_saved
from rel_tui.messages import AnswerChecked
from rel_tui.widgets.critic_pane import CriticPane
from rel_tui.widgets.draft_pane import DraftPane

ANSWER_CHECK = "answer-check"


class AnswerCheck:
    """Checking the shown attempt's answer against the reference, for `ReviewScreen`."""

    _check_shown: int | None = None  # the answer check stored and shown with its item

    def check_shown_attempt(self) -> None:
        history, attempt = self.session.current, self.attempt
        if attempt is None or not is_checkable(history.problem):
            return
        if check_of(history, attempt) is not None:
            return
        if self.generating and self.generation_problem == history.problem.id:
            return  # the loop engine checks what it writes; checking too could store two checks
        if not self._store_quick_check(history.problem, attempt):
            self.check_answer(history.problem, attempt)

    def _store_quick_check(self, problem: Problem, attempt: Attempt) -> bool:
        """Store at once a check that needs no math-verify, so the item is drawn once, check included.
        False when math-verify has to look: the worker does that off the UI path."""
        try:
            critique = self.session.store_quick_check(self.app.answer_checker(), problem, attempt)
        except NOT_SAVED_ERRORS as error:  # shown again, the item is checked again
            report_not_saved(self, "The answer check was not stored (it runs again when the item is shown)", error)
            return True
        except Exception as error:  # as a failed check worker: the pane says "not run", the expert goes on
            self.notify(one_line(error), title="Answer check failed", severity="warning", timeout=6, markup=False)
            return True
        if critique is None:
            return False
        self.session.reload()
        self._check_shown = critique.id
        # As the worker would, once the item is drawn: posted now, it would wake this screen before
        # the panes have asked for their repaint, and the item would be drawn in two frames.
        self.call_after_refresh(self.post_message, AnswerChecked(problem.id, attempt.id, critique))
        return True

    @work(exclusive=True, group=ANSWER_CHECK, exit_on_error=False)
    async def check_answer(self, problem: Problem, attempt: Attempt) -> None:
        # On the event loop, so the store is used from one thread; math-verify runs in the checker's processes.
        critique = await self.session.store_check(self.app.answer_checker(), problem, attempt)
        if critique is not None:
            self.post_message(AnswerChecked(problem.id, attempt.id, critique))

    def on_answer_checked(self, message: AnswerChecked) -> None:
        if message.problem_id != self.session.problem_id:
            return  # the expert moved on; the result is stored for when the item is shown again
        if message.critique.id is not None and message.critique.id == self._check_shown:
            return  # stored before the item was drawn, so already on screen
        self.session.reload()
        attempt = self.attempt
        self.query_one(CriticPane).show(self.session.current, attempt, self.critic_rulings())
        if attempt is not None and not self.query_one(DraftPane).streaming:
            # Only the title: re-showing the draft would lose the expert's scroll position.
            self.query_one(DraftPane).border_title = self.attempt_title(attempt)

    def answer_check_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:  # the pane keeps saying "not run"; the expert can go on
            return
        if isinstance(event.worker.error, NOT_SAVED_ERRORS):
            report_not_saved(self, "The answer check was not stored (it runs again when the item is shown)", event.worker.error)
        else:
            self.notify(one_line(event.worker.error), title="Answer check failed", severity="warning", timeout=6, markup=False)
