"""The review screen's decisions on the shown item: accept (confirmed when a judge objects), reject
with a reason, skip, undo, and editing the shown attempt (with an autosaved edit offered back).

A mixin of `ReviewScreen`; every write goes through the session by `write_patiently`
(rel_tui.patient_writes), so a busy database is waited for without freezing the screen, then
reported, and loses nothing.
"""

from __future__ import annotations

from rel_core import verdicts
from rel_core.labels import LabelAction
from rel_core.models import Attempt, Decision, Review, Standing
from rel_core.planner import reference_answer_of
from rel_core.problem_marks import ProblemMark
from rel_core.terminal_text import one_line
from rel_tui.database_write import database_write
from rel_tui.latex import displayable
from rel_tui.screens.confirm import AcceptAnywayDialog, ConfirmDialog
from rel_tui.screens.diff import DiffScreen
from rel_tui.screens.edit import EditScreen
from rel_tui.screens.problem_mark import MarkChoice, ProblemMarkDialog, outcome_text
from rel_tui.screens.text_prompt import reason_dialog


class Decisions:
    """The keys that decide on or edit the shown item, for `ReviewScreen`."""

    def action_accept(self) -> None:
        if self.waits_for_call("accept") or self.refuses_while_waiting():
            return
        if self.attempt is None:
            self.notify("There is no attempt to accept yet.", severity="warning", markup=False)
            return
        history, attempt = self.session.current, self.attempt
        summary = verdicts.summary_of(history, attempt, reference_answer_of(history.problem))
        if not summary.objections:
            self.decide(Decision.ACCEPTED)
            return
        disputed = summary.standing == Standing.DISPUTED
        lines = [f"The judges disagree ({summary.label})."] if disputed else []
        lines += [verdicts.objection_text(j) for j in summary.objections]
        dialog = AcceptAnywayDialog([displayable(line) for line in lines], disputed=disputed)
        self.app.push_screen(dialog, lambda accept: self._accept_confirmed(accept, attempt.id))

    def _accept_confirmed(self, accept: bool | None, attempt_id: int | None) -> None:
        if not accept:
            return
        if self.attempt is None or self.attempt.id != attempt_id:  # the screen moved on meanwhile
            self.notify("Not accepted: another attempt is shown now.", severity="warning", markup=False)
            return
        self.decide(Decision.ACCEPTED)

    def action_reject(self) -> None:
        if self.waits_for_call("reject") or self.refuses_while_waiting():  # (before its dialog: nothing typed is lost)
            return
        subject = "draft" if self.attempt is not None else "problem"  # no attempt: the problem itself is rejected
        self.app.push_screen(reason_dialog(self.app.settings.review.reject_presets, subject=subject), self._rejected)

    def _rejected(self, reason: str | None) -> None:
        if reason is not None:
            self.decide(Decision.REJECTED, note=reason)

    def action_skip(self) -> None:
        if self.waits_for_call("skip"):
            return
        self.decide(Decision.SKIPPED)

    def decide(self, decision: Decision, note: str | None = None) -> None:
        attempt = self.attempt
        problem_id = self.session.problem_id

        def decided(_review_id: int) -> None:
            self.notify(f"#{problem_id} {decision}" + (f": {note}" if note else ""), timeout=3, markup=False)
            self.action_next()

        self.write_patiently(
            f"The {decision} decision was not saved", f"saving {decision} on #{problem_id}",
            lambda: self.session.decide(decision, attempt.id if attempt else None, note), decided, saves=True,
        )  # fmt: skip

    def action_undo(self) -> None:
        self.write_patiently("Nothing was undone", "undoing your last action", self.session.undo_latest, self._undone, saves=True)

    def _undone(self, review: LabelAction | Review | ProblemMark | None) -> None:
        if review is None:
            self.notify("Nothing to undo.", severity="warning", markup=False)
            return
        if isinstance(review, LabelAction):
            self.undid_label(review)
            return
        if isinstance(review, ProblemMark):
            self.notify(f"Undid your broken mark on #{review.problem_id}: back in the queue", timeout=3, markup=False)
            self.reopen(review.problem_id)
            return
        self.notify(f"Undid {review.decision} of #{review.problem_id}", timeout=3, markup=False)
        self.reopen(review.problem_id, review.attempt_id)

    def reopen(self, problem_id: int, attempt_id: int | None = None) -> None:
        """Open the item an undo gave back (at the attempt it was decided on)."""

        def reopened(_: None) -> None:
            if self.session.problem_id == problem_id:
                self.show_opened_item(attempt_id)
            else:
                self.notify(f"#{problem_id} is open elsewhere; its state was restored.", severity="warning", markup=False)
                self.update_status()

        def not_reopened() -> None:
            self.session.remember(problem_id)
            self.update_status()

        self.write_patiently(
            f"#{problem_id} was not reopened (p opens it)", f"reopening #{problem_id}",
            lambda: self._reopen(problem_id), reopened, failed=not_reopened,
        )  # fmt: skip

    def _reopen(self, problem_id: int) -> None:
        if self.session.problem_id == problem_id:
            self.session.reload()
        else:
            self.session.open(problem_id)

    def action_mark_broken(self) -> None:
        """b: mark the problem itself broken (rel_core.problem_marks), or take the mark back."""
        problem_id = self.session.problem_id
        if problem_id is None or self.refuses_while_waiting():
            return

        def chosen(choice: MarkChoice | None) -> None:
            if choice is None or self.session.problem_id != problem_id:
                return

            def write() -> list[ProblemMark]:
                taken = self.session.unmark_problem() if choice.unmark else []
                if not choice.unmark:
                    self.session.mark_problem(choice.kind, choice.note)
                return taken

            def written(taken: list[ProblemMark]) -> None:
                self.notify(outcome_text(problem_id, choice, taken), timeout=4, markup=False)
                if not choice.unmark:
                    self.action_next()  # a marked problem has left the queue

            doing = "unmarking" if choice.unmark else "marking"
            self.write_patiently(
                f"#{problem_id} was not {'unmarked' if choice.unmark else 'marked'}", f"{doing} #{problem_id}", write, written,
                saves=True,
            )  # fmt: skip

        self.app.push_screen(ProblemMarkDialog(problem_id, self.session.marks_on_item()), chosen)

    # -- editing -------------------------------------------------------------------------------

    def action_edit(self) -> None:
        if self.waits_for_call("edit") or self.refuses_while_waiting():  # the item may change when the wait ends
            return
        history = self.session.current
        saved = self.session.saved_edit(history.problem.id)
        parent = self.attempt
        if saved is not None:
            parent = next((a for a in history.attempts if a.id == saved["attempt_id"]), parent)
        text = saved["text"] if saved else (parent.text if parent else "")
        editor = EditScreen(self.session, history.problem.id, parent, text, self.autosave_seconds)
        self.app.push_screen(editor, lambda attempt_id: self._edited(attempt_id, parent))

    def _edited(self, attempt_id: int | None, parent: Attempt | None) -> None:
        with database_write(self, "The item was not reloaded"):
            self.session.reload()
        self.show_item(attempt_id if attempt_id is not None else (self.attempt.id if self.attempt else None))
        if attempt_id is not None:
            edited = self.attempt.text
            self.app.push_screen(DiffScreen(parent.text if parent else "", edited, f"Saved as attempt #{attempt_id}"))

    def offer_autosaved_edit(self) -> None:
        history = self.session.current
        saved = self.session.saved_edit(history.problem.id)
        if saved is None:
            return
        self.app.push_screen(
            ConfirmDialog(
                f"You have an unsaved edit of this item (autosaved {one_line(saved['updated_at'][:19]).replace('T', ' ')} UTC).",
                [("resume", "Resume editing"), ("later", "Later"), ("discard", "Discard it")],
                title="Unsaved edit",
            ),
            self._autosave_answered,
        )

    def _autosave_answered(self, answer: str | None) -> None:
        if answer == "resume":
            self.action_edit()
        elif answer == "discard":
            problem_id = self.session.problem_id
            self.write_patiently(
                "The autosaved edit was not discarded (it is offered again next time)", "discarding the autosaved edit",
                lambda: self.session.discard_edit(problem_id), lambda _: None, saves=True,
            )  # fmt: skip
