"""The review screen's steps and the critic: the critic's first wrong step and the step cursor,
comparing attempts, per-step labels and the expert's rulings on the critic (rel_core.labels,
through the session). A mixin of `ReviewScreen`.
"""

from __future__ import annotations

from rel_core import verdicts
from rel_core.labels import LabelAction, Ruling, RulingAspect, step_number
from rel_core.models import Attempt, Critique, CritiqueSource
from rel_core.terminal_text import one_line
from rel_tui.database_write import NOT_SAVED_ERRORS, database_write
from rel_tui.screens.compare import CompareScreen
from rel_tui.screens.label_steps import LabelStepsScreen
from rel_tui.widgets.critic_pane import CriticPane
from rel_tui.widgets.draft_pane import DraftPane


class StepsAndRulings:
    """The keys on the draft's steps, comparing attempts, labels and rulings, for `ReviewScreen`."""

    def critic_first_error(self, attempt: Attempt) -> str | None:
        """The LLM critic's first wrong step in the attempt, as it named it (None if it named none)."""
        critic = verdicts.summary_of(self.session.current, attempt).critic
        return critic.first_error_step if critic else None

    def action_jump_to_error(self) -> None:
        draft = self.query_one(DraftPane)
        if self.attempt is None or draft.streaming:
            self.notify("No stored draft is shown.", severity="warning", markup=False)
            return
        if verdicts.summary_of(self.session.current, self.attempt).critic is None:
            self.notify("No LLM critique of the shown attempt (c runs the critic).", severity="warning", markup=False)
            return
        self.action_show_pane("draft")
        problem = draft.jump_to_error()
        if problem is not None:
            self.notify(one_line(problem), severity="warning", timeout=4, markup=False)

    def action_move_step(self, delta: int) -> None:
        draft = self.query_one(DraftPane)
        if self.attempt is not None and not draft.streaming:
            self.action_show_pane("draft")
            draft.move_step(delta)

    def action_compare(self) -> None:
        attempt = self.attempt
        if attempt is None:
            self.notify("There is no attempt to compare.", severity="warning", markup=False)
            return
        if len(self.session.current.attempts) < 2:
            self.notify("This problem has only one attempt: nothing to compare it with.", severity="warning", markup=False)
            return
        self.app.push_screen(CompareScreen(self.session.current, attempt.id))

    # -- per-step labels and rulings on the critic -------------------------------------------------

    def shown_critique(self) -> Critique | None:
        """The LLM critique shown for the attempt (its latest): what the rulings are on."""
        attempt = self.attempt
        if attempt is None:
            return None
        return verdicts.latest(self.session.current.critiques_for(attempt.id), CritiqueSource.LLM)

    def critic_rulings(self) -> list[Ruling]:
        """The rulings on the shown critique, for the Critic pane (none if the database is busy)."""
        critique = self.shown_critique()
        if critique is None or critique.id is None:
            return []
        try:
            return self.session.rulings([critique.id])
        except NOT_SAVED_ERRORS:
            return []

    def action_label_steps(self) -> None:
        attempt = self.attempt
        if attempt is None:
            self.notify("There is no attempt to label yet.", severity="warning", markup=False)
            return
        critique = self.shown_critique()
        claimed = verdicts.critic_judgement(critique).first_error_step if critique else None
        title = f"Label steps · #{self.session.problem_id} · {self.attempt_title(attempt).plain}"
        screen = LabelStepsScreen(self.session, attempt, title, step_number(claimed))
        self.app.push_screen(screen, lambda _: self.show_attempt() if self.session.current else None)

    def undid_label(self, action: LabelAction) -> None:
        """`u` took back a step label or a ruling: say so and show the shown attempt's rulings again."""
        self.notify(f"Undid your {action.kind} label on attempt #{action.attempt_id}", timeout=3, markup=False)
        if self.session.current is not None:
            self.show_attempt()

    def action_rule(self, aspect: str) -> None:
        critique = self.shown_critique()
        if critique is None or critique.id is None:
            self.notify("No LLM critique of the shown attempt to rule on (c runs the critic).", severity="warning", markup=False)
            return
        judgement = verdicts.critic_judgement(critique)
        if aspect == RulingAspect.FIRST_ERROR_STEP and not judgement.first_error_step:
            self.notify("The critic names no first wrong step here; v rules on its verdict.", severity="warning", markup=False)
            return
        what = "verdict" if aspect == RulingAspect.VERDICT else "first wrong step"
        with database_write(self, f"The ruling on the critic's {what} was not saved") as write:
            agrees = self.session.toggle_ruling(critique.id, RulingAspect(aspect))
        if write.failed:
            return
        self.notify(f"You {'agree' if agrees else 'disagree'} with the critic's {what}", timeout=3, markup=False)
        self.query_one(CriticPane).show(self.session.current, self.attempt, self.critic_rulings())
