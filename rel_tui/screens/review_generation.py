"""The review screen's model calls: regenerate (`r`) and re-critique (`c`) in workers, the streamed
draft forwarded to the Draft pane, escape to cancel, and the keys that wait while a call runs.

A mixin of `ReviewScreen`: the workers belong to the screen and post typed messages to it
(rel_tui/messages.py); the handlers below own every UI change those cause. They are named
`on_<message>`, as Textual finds such handlers on every class of the screen's MRO (`@on` registers
only on the classes Textual's metaclass builds, which a plain mixin is not). The screen routes its
workers' state changes here (`generation_changed`), so failures are reported in one place.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual import work
from textual.content import Content
from textual.worker import Worker, WorkerState

from rel_core import verdicts
from rel_core.terminal_text import one_line
from rel_tui.database_write import NOT_SAVED_ERRORS, database_write, report_not_saved
from rel_tui.latex import displayable
from rel_tui.messages import CritiqueFinished, DraftChunk, DraftFinished, DraftStarted
from rel_tui.screens.text_prompt import hint_dialog
from rel_tui.widgets.draft_pane import DraftPane
from rel_tui.widgets.status_bar import CallStatus

GENERATION = "generation"
STREAM_INTERVAL = 0.05  # seconds between streamed-draft updates: smooth to read, cheap to draw

# While a new draft streams in, the shown attempt is about to be replaced: deciding on it or editing
# it then would act on a draft the expert is no longer looking at. Escape cancels first. The keys
# stay live so that pressing one says why nothing happens (see `waits_for_call`).
WAITING_KEY = {
    "accept": "a", "reject": "x", "skip": "s", "edit": "e", "previous_attempt": "[", "next_attempt": "]",
}  # fmt: skip


class GenerationWorkers:
    """Regenerating and re-criticising the shown attempt, for `ReviewScreen`."""

    generation_problem: int | None = None
    """The item a regenerate/critic worker works on."""
    call_awaited = "the model"
    """What a decision key waits for while a call runs here."""

    @property
    def generating(self) -> bool:
        return any(w.group == GENERATION and w.is_running for w in self.workers)

    @property
    def generating_here(self) -> bool:
        """A regeneration or critic run is under way for the item on screen."""
        return self.generating and self.generation_problem == self.session.problem_id

    def waits_for_call(self, action: str) -> bool:
        """True, after saying so, when a model call on the shown item makes this key wait."""
        if not self.generating_here:
            return False
        self.notify(
            f"{WAITING_KEY.get(action, action)} waits for {self.call_awaited} on #{self.generation_problem} (escape stops it).",
            severity="warning", timeout=4, markup=False,
        )  # fmt: skip
        return True

    def stop_generation_elsewhere(self) -> None:
        """The claim on the item a worker writes to went when the expert left it: stop the worker."""
        if self.generating and self.generation_problem != self.session.problem_id:
            self.workers.cancel_group(self, GENERATION)
            self.notify(f"Stopped the model call on #{self.generation_problem}: you left that item.", timeout=4, markup=False)

    # -- starting and stopping the calls ---------------------------------------------------------

    def model_calls_refused(self) -> bool:
        """True, after saying why, when the session refuses r and c on the open item (overlap items)."""
        reason = self.session.model_calls_refused()
        if reason is not None:
            self.notify(reason, severity="warning", timeout=6, markup=False)
        return reason is not None

    def action_regenerate(self) -> None:
        if self.model_calls_refused():
            return
        if self.generating:
            self.notify("A generation is already running (escape cancels it).", severity="warning", markup=False)
            return
        self.app.push_screen(hint_dialog(), self._hint_given)

    def _hint_given(self, hint: str | None) -> None:
        if hint is None:
            return
        attempt = self.attempt
        self.generation_problem = self.session.problem_id
        self.call_awaited = "the new draft"
        self.query_one(CallStatus).start("waiting for the model…")
        self.regenerate(self.session.problem_id, attempt.id if attempt else None, hint or None)

    @work(exclusive=True, group=GENERATION, exit_on_error=False)
    async def regenerate(self, problem_id: int, attempt_id: int | None, hint: str | None) -> None:
        self.post_message(DraftStarted(problem_id, hint))
        engine = await self.app.loop_engine()  # built off the UI thread: importing the SDKs takes seconds
        stream = StreamForwarder(lambda text: self.post_message(DraftChunk(problem_id, text)))
        result = await engine.regenerate(problem_id, attempt_id, hint, on_delta=stream.add)
        stream.flush()
        self.post_message(DraftFinished(problem_id, result.attempt, result.critique))

    def action_recritique(self) -> None:
        if self.model_calls_refused():
            return
        if self.attempt is None:
            self.notify("There is no attempt to criticise yet.", severity="warning", markup=False)
            return
        if self.generating:
            self.notify("A generation is already running (escape cancels it).", severity="warning", markup=False)
            return
        self.generation_problem = self.session.problem_id
        self.call_awaited = "the critic"
        self.query_one(CallStatus).start("waiting for the critic…")
        self.recritique(self.session.problem_id, self.attempt.id)

    @work(exclusive=True, group=GENERATION, exit_on_error=False)
    async def recritique(self, problem_id: int, attempt_id: int) -> None:
        engine = await self.app.loop_engine()
        critique = await engine.recritique(problem_id, attempt_id)
        self.post_message(CritiqueFinished(problem_id, critique))

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, GENERATION)

    # -- what the workers post ---------------------------------------------------------------------

    def on_draft_started(self, message: DraftStarted) -> None:
        self.action_show_pane("draft")
        self.query_one(DraftPane).show_stream("", Content("Regenerating…"))
        self.refresh_bindings()

    def on_draft_chunk(self, message: DraftChunk) -> None:
        if message.problem_id == self.session.problem_id:
            self.query_one(DraftPane).show_stream(message.text, Content("Regenerating…"))
            self.query_one(CallStatus).change("the model is writing…")

    def on_draft_finished(self, message: DraftFinished) -> None:
        if message.problem_id == self.session.problem_id:
            self.session.reload()
            self.show_item(message.attempt.id)
        self.notify(f"New attempt #{message.attempt.id} for #{message.problem_id}", timeout=3, markup=False)

    def on_critique_finished(self, message: CritiqueFinished) -> None:
        if message.problem_id == self.session.problem_id:
            shown = self.attempt.id if self.attempt else None
            self.session.reload()
            self.show_item(shown)
        critic = verdicts.critic_judgement(message.critique)  # what the critic said, not the combined verdict
        self.notify(displayable(f"Critic: {verdicts.said(critic)}"), timeout=3, markup=False)

    # -- how a call ended --------------------------------------------------------------------------

    def generation_changed(self, event: Worker.StateChanged) -> None:
        self.refresh_bindings()
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            self.query_one(CallStatus).stop()
        if event.state == WorkerState.ERROR:
            if isinstance(event.worker.error, NOT_SAVED_ERRORS):
                # What was committed before the database refused is kept and shown; the rest is redone by r or c.
                report_not_saved(self, "The model's answer was not saved (r or c asks again)", event.worker.error)
                with database_write(self, "The item was not reloaded") as write:
                    self.session.reload()
                if not write.failed and self.generation_problem == self.session.problem_id:
                    self.show_item()  # a new attempt may have been stored before the database refused the rest
                    return
            else:
                failed = "Critic failed" if self.call_awaited == "the critic" else "Generation failed"
                self.notify(one_line(event.worker.error), title=failed, severity="error", timeout=10, markup=False)
            self._restore_draft()
        elif event.state == WorkerState.CANCELLED:
            self.notify("Generation cancelled.", timeout=3, markup=False)
            self._restore_draft()

    def _restore_draft(self) -> None:
        if self.session.current is not None:
            self.show_attempt()


class StreamForwarder:
    """Collects streamed text and forwards the whole draft so far at most every STREAM_INTERVAL."""

    def __init__(self, forward: Callable[[str], object]) -> None:
        self.forward = forward
        self.parts: list[str] = []
        self.last_sent = 0.0

    def add(self, delta: str) -> None:
        self.parts.append(delta)
        now = time.monotonic()
        if now - self.last_sent >= STREAM_INTERVAL:
            self.flush()
            self.last_sent = now

    def flush(self) -> None:
        self.forward("".join(self.parts))
