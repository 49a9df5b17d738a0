"""Choose which problems the queue holds: state, source, words in the text, drafts and critiques.

While the words field is empty, one digit picks a state and applies the filter at once."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from rel_core.models import ProblemState
from rel_core.review_session import QueueFilter
from rel_core.terminal_text import one_line
from rel_tui.screens.key_bursts import ClosesOnce, DigitKeysInput

ALL = "all"
# One key per state filter (while the words field is empty): the states an expert moves between.
STATE_KEYS = {
    "1": ProblemState.AWAITING_REVIEW,
    "2": ProblemState.ACCEPTED,
    "3": ProblemState.REJECTED,
    "4": ProblemState.FAILED,
    "5": ProblemState.ERRORED,
    "6": ProblemState.PENDING,
    "0": ALL,
}
MARKED_KEY = "7"  # the problems marked broken (rel_core.problem_marks), in any state


class FilterDialog(ClosesOnce, ModalScreen[QueueFilter | None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel", id="dialog.cancel", tooltip="Keep the current filter")]

    def __init__(self, current: QueueFilter, sources: list[str]) -> None:
        super().__init__()
        self.current = current
        self.sources = sources

    def compose(self) -> ComposeResult:
        state = str(self.current.states[0]) if len(self.current.states) == 1 else ALL
        with Vertical(classes="dialog") as box:
            box.border_title = "Filter the queue"
            yield Static(Content("State"))
            yield Select(
                [("all states", ALL)] + [(str(s).replace("_", " "), str(s)) for s in ProblemState],
                value=state,
                allow_blank=False,
                id="filter-state",
                compact=True,
            )
            yield Static(Content("Source"))
            yield Select(
                # Sources come from the data: shown as plain, safe text, never read as markup.
                [("any source", ALL)] + [(Text(one_line(s)), s) for s in sorted(self.sources)],
                value=self.current.source if self.current.source in self.sources else ALL,
                allow_blank=False,
                id="filter-source",
                compact=True,
            )
            yield Static(Content("Problem, draft or critique contains (whole words, all of them)"))
            # While the words field is empty, a digit picks a state (decided by the field, key by key).
            yield DigitKeysInput(
                value=self.current.search or "",
                placeholder="e.g. triangle area (zebra does not find zebrafish)",
                id="filter-search",
                compact=True,
                digits="".join(STATE_KEYS) + MARKED_KEY,
                on_digit=self._state_key,
            )
            with Horizontal(classes="buttons"):
                yield Button("Apply", variant="primary", id="apply", compact=True)
                yield Button("Clear", id="clear", compact=True)
            keys = " · ".join(f"{key} {str(state).replace('_', ' ')}" for key, state in STATE_KEYS.items())
            yield Static(
                Content(f"One key applies a state (words field empty): {keys} · {MARKED_KEY} marked broken (any state)"),
                id="state-keys",
                classes="hint",
            )
            yield Static(Content("enter: apply · escape: cancel"), classes="hint")

    def on_mount(self) -> None:
        self.query_one("#filter-search", Input).focus()

    def _state_key(self, digit: str) -> bool:
        if digit == MARKED_KEY:
            self.dismiss(QueueFilter(states=(), marked=True))
        else:
            self.query_one("#filter-state", Select).value = str(STATE_KEYS[digit])
            self._apply()
        return True

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def _apply(self) -> None:
        state = self.query_one("#filter-state", Select).value
        source = self.query_one("#filter-source", Select).value
        search = self.query_one("#filter-search", Input).value.strip()
        self.dismiss(
            QueueFilter(
                states=() if state == ALL else (ProblemState(state),),
                source=None if source == ALL else str(source),
                search=search or None,
            )
        )

    @on(Button.Pressed, "#clear")
    def _clear(self) -> None:
        self.dismiss(QueueFilter())

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
