"""The top line: progress through the dataset, the queue filter, the annotator and the database."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from rel_core.models import ProblemState


class StatusBar(Static):
    def show(self, counts: dict[ProblemState, int], annotator: str, database: str, queue: str) -> None:
        total = sum(counts.values())
        accepted = counts[ProblemState.ACCEPTED]
        rejected = counts[ProblemState.REJECTED]
        self.update(
            Content.assemble(
                ("rel-tui ", "bold"),
                f"{accepted + rejected}/{total} reviewed · ",
                (f"{counts[ProblemState.AWAITING_REVIEW]} awaiting", "$text-warning"),
                " · ",
                (f"{accepted} accepted", "$text-success"),
                " · ",
                (f"{rejected} rejected", "$text-error"),
                f" │ {annotator} │ {database} │ queue: {queue}",
            )
        )
