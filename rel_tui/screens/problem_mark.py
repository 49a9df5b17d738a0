"""Mark the problem itself broken (rel_core.problem_marks), or take a mark back.

A problem with no mark opens the form: a number key marks it at once with that kind (wrong
reference, ambiguous, incomplete, duplicate, needs figure) while nothing is typed, or the expert
types what is wrong and presses enter (kind `other`). A problem already marked opens on its marks:
`u` takes them back, `m` marks again (replacing one's own mark). Returns a `MarkChoice`, or None on
escape; the review screen writes it through the session.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from rel_core.problem_marks import PRESET_KINDS, MarkKind, ProblemMark
from rel_core.terminal_text import one_line
from rel_tui.screens.key_bursts import ClosesOnce, DigitKeysInput
from rel_tui.screens.text_prompt import PRESET_KEYS


@dataclass(frozen=True)
class MarkChoice:
    """What the expert chose: a kind (and words), or `unmark`."""

    kind: MarkKind | None = None
    note: str | None = None
    unmark: bool = False


class ProblemMarkDialog(ClosesOnce, ModalScreen[MarkChoice | None]):
    CSS_PATH = ["dialogs.tcss", "problem_mark.tcss"]
    BINDINGS = [
        Binding("escape", "dismiss_none", "Cancel", id="dialog.cancel", tooltip="Close without changing anything"),
        Binding("u", "unmark", "Unmark", id="mark.unmark", tooltip="Take the mark back (the problem returns to the queue)"),
        Binding("m", "change", "Mark again", id="mark.change", tooltip="Mark it again with another kind"),
    ]

    def __init__(self, problem_id: int, marks: list[ProblemMark]) -> None:
        super().__init__()
        self.problem_id = problem_id
        self.marks = marks
        self.form_open = not marks

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="problem-mark") as box:
            box.border_title = (
                f"Problem #{self.problem_id} is marked broken" if self.marks else f"Mark problem #{self.problem_id} broken"
            )
            yield Static(Content(self._marks_text()), id="mark-current", classes="prompt")
            with Vertical(id="mark-form"):
                yield Static(
                    Content("What is wrong with the problem itself? It leaves the queue, --auto and exports."),
                    classes="prompt",
                )
                listed = "\n".join(f"{n}  {kind.label}" for n, kind in enumerate(PRESET_KINDS, start=1))
                yield Static(Content(listed), id="mark-presets", classes="presets")
                yield DigitKeysInput(
                    placeholder="or type what is wrong, then enter",
                    id="mark-note",
                    compact=True,
                    digits=PRESET_KEYS,
                    on_digit=self._preset,
                )
            yield Static(id="mark-hint", classes="hint")

    def on_mount(self) -> None:
        self._show_mode()

    def _marks_text(self) -> str:
        # Names and words come from the database: one line each, shown as text, never markup.
        lines = [
            f"Marked broken by {one_line(m.annotator)}: {one_line(m.describe())} ({m.created_at[:16].replace('T', ' ')} UTC)"
            for m in self.marks
        ]
        return "\n".join(lines)

    def _show_mode(self) -> None:
        self.query_one("#mark-current").display = bool(self.marks)
        self.query_one("#mark-form").display = self.form_open
        note = self.query_one("#mark-note", Input)
        note.disabled = not self.form_open  # a hidden field must not take u and m as text
        if self.form_open:
            hint = f"1-{len(PRESET_KINDS)}: that kind · enter: mark with your words · escape: cancel"
            note.focus()
        else:
            hint = "u: unmark (back to the queue) · m: mark again · escape: close"
            self.set_focus(None)
        self.query_one("#mark-hint", Static).update(Content(hint))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("unmark", "change"):
            return not self.form_open
        return True

    def _preset(self, digit: str) -> bool:
        """A digit in the empty field marks the problem with that kind (no such kind: the digit is text)."""
        number = int(digit)
        if not self.form_open or number > len(PRESET_KINDS):
            return False
        self.dismiss(MarkChoice(kind=PRESET_KINDS[number - 1]))
        return True

    @on(Input.Submitted)
    def _typed(self, event: Input.Submitted) -> None:
        note = event.value.strip()
        if not note:
            self.notify("Press a number for a kind, or type what is wrong.", severity="warning", markup=False)
            return
        self.dismiss(MarkChoice(kind=MarkKind.OTHER, note=note))

    def action_unmark(self) -> None:
        self.dismiss(MarkChoice(unmark=True))

    def action_change(self) -> None:
        self.form_open = True
        self._show_mode()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def outcome_text(problem_id: int, choice: MarkChoice, taken_back: list[ProblemMark] | None = None) -> str:
    """The notification after a mark or an unmark (`taken_back`: the marks it took back), for the review screen."""
    if choice.unmark:
        if not taken_back:
            return f"#{problem_id}: no mark of yours to take back."
        return (
            f"#{problem_id} unmarked ({len(taken_back)} mark{'s' if len(taken_back) > 1 else ''} taken back): back in the queue."
        )
    assert choice.kind is not None
    what = choice.note if choice.kind == MarkKind.OTHER else choice.kind.label
    return f"#{problem_id} marked broken: {one_line(what or '')} (p goes back to it, b there unmarks)"
