"""The one-line bars of the review screen: the header (progress and the queue filter), the verdict
line (every judge of the shown attempt) and the call status (a model call under way, with its time)."""

from __future__ import annotations

import time

from textual.content import Content
from textual.timer import Timer
from textual.widgets import Static

from rel_core import verdicts
from rel_core.models import Attempt, Decision, ProblemHistory, ProblemState
from rel_core.terminal_text import one_line
from rel_tui.latex import displayable

# Below this width the header drops the annotator and the database, so the queue filter stays visible.
FULL_HEADER_WIDTH = 110


class StatusBar(Static):
    def show(self, counts: dict[ProblemState, int], annotator: str, database: str, queue: str, skips: int = 0) -> None:
        self.counts, self.annotator, self.database, self.queue, self.skips = counts, annotator, database, queue, skips
        self.update(self._header(self.size.width or FULL_HEADER_WIDTH))

    def on_resize(self) -> None:
        if hasattr(self, "counts"):
            self.update(self._header(self.size.width))

    def _header(self, width: int) -> Content:
        counts = self.counts
        total = sum(counts.values())
        accepted = counts[ProblemState.ACCEPTED]
        rejected = counts[ProblemState.REJECTED]
        wide = width >= FULL_HEADER_WIDTH
        # The queue first: it says what n, a and x move through, so it must never be cut off.
        parts: list[str | tuple[str, str]] = [
            ("queue: ", "bold"),
            one_line(self.queue),  # the filter comes from the expert's typing: shown as safe text
            " │ ",
            f"{accepted + rejected}/{total} reviewed · ",
            (f"{counts[ProblemState.AWAITING_REVIEW]} awaiting", "$text-warning"),
        ]
        if self.skips:
            parts += [" · ", (f"skipped {self.skips}×", "$text-warning")]
        if wide:
            parts += [
                " · ", (f"{accepted} accepted", "$text-success"), " · ", (f"{rejected} rejected", "$text-error"),
                # The annotator and the file name come from outside: shown as safe text.
                one_line(f" │ {self.annotator} │ {self.database}"),
            ]  # fmt: skip
        return Content.assemble(*parts)


def skips_of(history: ProblemHistory | None) -> int:
    """How often the item was skipped (skips are reviews with decision skipped; undone ones do not count)."""
    if history is None:
        return 0
    return sum(1 for r in history.reviews if r.decision == Decision.SKIPPED and r.undone_at is None)


def verdict_line(history: ProblemHistory | None, attempt: Attempt | None) -> Content:
    """Every judge of the attempt in one line, most telling first, e.g.
    "disputed: ✓ check · ✗ critic │ critic ✗ incorrect (step 2) │ rejected by bob: wrong answer"."""
    if history is None:
        return Content("")
    if attempt is None:
        return Content.styled("No attempt yet: r generates one, e writes one.", "$text-muted")
    summary = verdicts.summary_of(history, attempt)
    parts: list[str] = [summary.label]
    for judgement in (summary.check, summary.critic, summary.imported):
        if judgement is not None:
            parts.append(f"{verdicts.JUDGE_NAME[judgement.judge]} {verdicts.said(judgement)}")
    expert = summary.expert
    if expert is not None:
        decided = f"{expert.decision} by {expert.annotator}"
        if not expert.on_this_attempt:
            decided += " (another attempt)"
        if expert.reason:
            decided += f": {expert.reason}"
        parts.append(decided)
    skips = skips_of(history)
    if skips:
        parts.append(f"skipped {skips}×")
    return Content.assemble(("Verdicts ", "bold"), displayable(one_line(" │ ".join(parts))))


class CallStatus(Static):
    """ "waiting for the model… 3 s" from the key press until the first token or the critic's reply."""

    TICK_SECONDS = 1.0

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.started = 0.0
        self.waiting_for = ""
        self.timer: Timer | None = None

    @property
    def running(self) -> bool:
        return self.timer is not None

    def start(self, waiting_for: str) -> None:
        """Show at once that a call runs; the seconds tick on the UI's clock until `stop`."""
        self.stop()
        self.started = time.monotonic()
        self.waiting_for = waiting_for
        self.timer = self.set_interval(self.TICK_SECONDS, self._tick)
        self.add_class("-running")
        self._tick()

    def change(self, waiting_for: str) -> None:
        """The call moved on (the first token came): same clock, new words."""
        if self.running and waiting_for != self.waiting_for:
            self.waiting_for = waiting_for
            self._tick()

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        self.remove_class("-running")

    @property
    def elapsed(self) -> int:
        return int(time.monotonic() - self.started)

    def _tick(self) -> None:
        self.update(
            Content.assemble(("⏳ ", "bold"), f"{self.waiting_for} {self.elapsed} s", ("  · escape stops it", "$text-muted"))
        )
