"""The top line: progress through the dataset, the queue filter, the annotator and the database."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from rel_core.models import ProblemState
from rel_core.terminal_text import one_line


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
                # The annotator, the file name and the filter come from outside: shown as safe text.
                one_line(f" │ {annotator} │ {database} │ queue: {queue}"),
            )
        )
