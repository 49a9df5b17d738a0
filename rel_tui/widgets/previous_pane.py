"""Wide terminals (≥180 columns): the attempt before the shown one, read-only, beside the draft."""

from __future__ import annotations

from rich.markdown import Markdown
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from rel_core.models import Attempt, ProblemHistory
from rel_tui.latex import displayable, readable_markdown

# Beyond this the previous attempt is cut: it is there to glance at, the draft pane shows it whole.
MAX_SHOWN_CHARS = 20_000


def previous_attempt(history: ProblemHistory, shown: Attempt | None) -> Attempt | None:
    """What the shown attempt grew from: its parent, else the attempt before it."""
    if shown is None:
        return None
    by_id = {a.id: a for a in history.attempts}
    if shown.parent_id in by_id:
        return by_id[shown.parent_id]
    earlier = [a for a in history.attempts if a.id is not None and shown.id is not None and a.id < shown.id]
    return earlier[-1] if earlier else None


class PreviousAttemptPane(VerticalScroll):
    attempt_id: int | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="previous-body")

    def show(self, history: ProblemHistory, shown: Attempt | None) -> None:
        if not self.screen.has_class("-widest"):
            self.attempt_id = None  # hidden below 180 columns: rendered once it is shown
            return
        attempt = previous_attempt(history, shown)
        if attempt is not None and attempt.id == self.attempt_id:
            return
        self.attempt_id = attempt.id if attempt else None
        body = self.query_one("#previous-body", Static)
        if attempt is None:
            self.border_title = "Previous attempt"
            body.update(Content.styled("No earlier attempt.", "italic $text-muted"))
        else:
            position = history.attempts.index(attempt) + 1
            self.border_title = displayable(f"Previous {position}/{len(history.attempts)} · {attempt.kind} (read-only)")
            text = attempt.text if len(attempt.text) <= MAX_SHOWN_CHARS else attempt.text[:MAX_SHOWN_CHARS] + "\n\n…"
            body.update(Markdown(displayable(readable_markdown(text))))
        self.scroll_home(animate=False)
