"""The step-labelling screen: the shown attempt's numbered steps, each rated, flagged or commented by one key.

The steps are rel_core.steps' (the ones the critic names and the exports carry); the labels are
rel_core.labels', written through the session inside the busy-database guard, one transaction per key.
Ratings are PRM800K's: good +1, neutral 0, bad -1; "first error here" rates the step -1 and clears
the ratings after it.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from rel_core.labels import ActionKind, AttemptLabels, LabelError, Rating, StepLabel
from rel_core.models import Attempt
from rel_core.review_session import ReviewSession
from rel_core.steps import Step, split_steps
from rel_core.terminal_text import one_line
from rel_tui.database_write import database_write
from rel_tui.latex import displayable, readable_math
from rel_tui.screens.help import HelpScreen
from rel_tui.screens.key_bursts import ClosesOnce
from rel_tui.screens.text_prompt import TextPromptDialog
from rel_tui.widgets.draft_pane import MAX_RENDER_CHARS
from rel_tui.widgets.rendered_draft import StepLines, render_steps

# One cell each at 80 columns (no emoji: their width differs between terminals).
RATING_MARK = {
    Rating.GOOD: ("✓", "bold green"),
    Rating.NEUTRAL: ("○", "bold yellow"),
    Rating.BAD: ("✗", "bold red"),
}
FLAG_MARK = ("⚑", "bold yellow")
COMMENT_MARK = ("c", "bold cyan")
ACTION_WORD = {
    ActionKind.RATE: "rating",
    ActionKind.FIRST_ERROR: "first error",
    ActionKind.FLAG: "flag",
    ActionKind.COMMENT: "comment",
    ActionKind.RULE: "ruling on the critic",
}


def gutter(label: StepLabel | None, number: int, digits: int = 2) -> Text:
    """Rating, flag and comment marks (blank where there is none), then the step's number, right-aligned
    in `digits` cells and set off from the text by a bar: a step whose text starts with a list number
    ("1. ...") must not read as "3. 1. ..."."""
    rating = RATING_MARK[label.rating] if label and label.rating is not None else " "
    flag = FLAG_MARK if label and label.flagged else " "
    comment = COMMENT_MARK if label and label.comment else " "
    return Text.assemble(rating, flag, comment, (f" {number:>{digits}}", "bold cyan"), ("│", "dim"))


def gutter_cells(steps: list[Step]) -> int:
    """The gutter's width: room for the largest step number whole (REL drafts reach hundreds of steps)."""
    digits = max([2, *(len(str(s.number)) for s in steps)])
    return MARK_CELLS + 1 + digits + 1


MARK_CELLS = 3  # rating, flag, comment


class RenderedSteps:
    """An attempt's steps rendered as the draft pane renders them (Markdown over LaTeX as Unicode),
    all at once and once per width: each step's prompt takes its lines from here."""

    def __init__(self, text: str, steps: list[Step]) -> None:
        self.text = text
        self.steps = steps
        self._rendered: tuple[int, StepLines] | None = None

    def lines(self, number: int, width: int) -> list[list[Segment]]:
        if self._rendered is None or self._rendered[0] != width:
            self._rendered = (width, render_steps(self.text, self.steps, width))
        step_lines = self._rendered[1]
        first, end = step_lines.spans[number - 1]
        return [[Segment(line)] if isinstance(line, str) else line for line in step_lines.lines[first:end]]


class StepBody:
    """One step's text as the draft pane shows it, at whatever width the list gives it; a draft too
    long for the draft pane to render is shown as its plain text, as there."""

    def __init__(self, step: Step, rendered: RenderedSteps | None) -> None:
        self.step = step
        self.rendered = rendered

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.rendered is None:
            yield Text(displayable(readable_math(self.step.text)))
            return
        for line in self.rendered.lines(self.step.number, options.max_width):
            yield from line
            yield Segment.line()


def step_prompt(
    step: Step, label: StepLabel | None, critic_step: int | None, cells: int = 7, body: StepBody | None = None
) -> Table:
    """One step as the list shows it: the gutter (`cells` wide), then the text (`body`, by default
    plain Text: never markup-parsed) with its notes below it, wrapped under the text rather than
    under the gutter."""
    notes = []  # each on a line of its own, below the text
    if critic_step == step.number:
        notes.append(Text("critic: ✗ here (its first wrong step)", "bold red"))
    if label and label.comment:
        notes.append(Text(f"c: {displayable(readable_math(label.comment))}", "dim"))
    grid = Table.grid(padding=(0, 1, 0, 0), expand=True)
    grid.add_column(width=cells, no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_row(gutter(label, step.number, cells - MARK_CELLS - 2), Group(body or StepBody(step, None), *notes))
    return grid


class LabelStepsScreen(ClosesOnce, Screen[None]):
    CSS_PATH = "label_steps.tcss"
    AUTO_FOCUS = "#steps"
    BINDINGS = [
        Binding("escape", "back", "Back", id="label_steps.back", tooltip="Back to the review (every label is already saved)"),
        Binding("plus,equals_sign", "rate(1)", "Good", id="label_steps.good", tooltip="Rate the step good (+1)"),
        Binding("0", "rate(0)", "Neutral", id="label_steps.neutral", tooltip="Rate the step neutral (0)"),
        Binding("minus", "rate(-1)", "Bad", id="label_steps.bad", tooltip="Rate the step bad (−1)"),
        Binding("f", "first_error", "First error", id="label_steps.first_error",
                tooltip="The first error is here: rate it −1 and clear the ratings of the steps after it"),
        Binding("exclamation_mark", "flag", "Flag", id="label_steps.flag", tooltip="Flag the step for a second look, or unflag it"),
        Binding("m", "comment", "Comment", id="label_steps.comment", tooltip="Attach a short comment to the step (empty removes it)"),
        Binding("u", "undo", "Undo", id="label_steps.undo", tooltip="Take back your last label or ruling"),
        Binding("j", "cursor('down')", "Down", id="label_steps.down", tooltip="Next step (also down)", show=False),
        Binding("k", "cursor('up')", "Up", id="label_steps.up", tooltip="Previous step (also up)", show=False),
        Binding("question_mark", "help", "Help", id="label_steps.help", tooltip="All keys of this screen"),
    ]  # fmt: skip

    def __init__(self, session: ReviewSession, attempt: Attempt, title: str, critic_step: int | None = None) -> None:
        """`critic_step`: the step the LLM critic claims is the first wrong one, marked in the gutter."""
        super().__init__()
        self.session = session
        assert attempt.id is not None, "only a stored attempt has labels"
        self.attempt = attempt
        self.attempt_id: int = attempt.id
        self.title_text = title
        self.critic_step = critic_step
        self.steps = split_steps(attempt.text)
        rendered = RenderedSteps(attempt.text, self.steps) if len(attempt.text) <= MAX_RENDER_CHARS else None
        self.bodies = [StepBody(step, rendered) for step in self.steps]
        self.labels: AttemptLabels | None = None
        self.unsaved_comment: dict[int, str] = {}  # a comment the database refused, offered again by m

    def compose(self) -> ComposeResult:
        yield Static(Content(displayable(self.title_text)), id="label-title")
        yield OptionList(*[Option(Content(""), id=f"step-{s.number}") for s in self.steps], id="steps")
        yield Static(id="label-summary")
        yield Footer(id="label-footer", compact=True)

    def on_mount(self) -> None:
        if not self.steps:
            self.query_one("#label-summary", Static).update(Content("This draft has no steps to label."))
        self.reload_labels()
        if self.steps:
            self.query_one("#steps", OptionList).highlighted = 0

    # -- showing -------------------------------------------------------------------------------

    @property
    def current_step(self) -> Step | None:
        index = self.query_one("#steps", OptionList).highlighted
        return self.steps[index] if index is not None and 0 <= index < len(self.steps) else None

    def reload_labels(self) -> None:
        """Read this expert's labels again and redraw every step's gutter."""
        with database_write(self, "The labels were not read (they are saved; press a key to try again)") as read:
            self.labels = self.session.step_labels(self.attempt_id)
        if read.failed:
            return
        steps_list = self.query_one("#steps", OptionList)
        cells = gutter_cells(self.steps)
        for index, (step, body) in enumerate(zip(self.steps, self.bodies, strict=True)):
            steps_list.replace_option_prompt_at_index(
                index, step_prompt(step, self.labels.steps.get(step.number), self.critic_step, cells, body)
            )
        self.query_one("#label-summary", Static).update(self.summary())

    def summary(self) -> Content:
        assert self.labels is not None
        rated = len(self.labels.rated)
        text = f"{rated}/{len(self.steps)} steps rated"
        if self.labels.first_error is not None:
            text += f" · first error: step {self.labels.first_error}"
        if self.critic_step is not None:
            text += f" · critic: step {self.critic_step}"
        if self.labels.stale:
            text += f" · {self.labels.stale} older labels on changed text not shown"
        return Content(f"{text} · annotator {displayable(self.session.annotator)}")

    # -- labelling (each key one write, shown at once) ----------------------------------------------

    def label(self, what: str, write_label, step: Step | None = None) -> bool:
        """Run one label write on the step (default: under the cursor); True if it was saved."""
        step = step or self.current_step
        if step is None:
            self.notify("There is no step to label.", severity="warning", markup=False)
            return False
        try:
            with database_write(self, f"The {what} of step {step.number} was not saved") as write:
                write_label(step)
        except LabelError as error:
            self.notify(one_line(error), title="Not labelled", severity="warning", markup=False)
            return False
        if write.failed:
            return False
        self.reload_labels()
        return True

    def action_rate(self, rating: int) -> None:
        rating = Rating(rating)
        if self.label("rating", lambda step: self.session.rate_step(self.attempt_id, step, rating)):
            self.query_one("#steps", OptionList).action_cursor_down()  # as PRM800K: rate, then the next step

    def action_first_error(self) -> None:
        self.label("first error", lambda step: self.session.mark_first_error(self.attempt_id, step))

    def action_flag(self) -> None:
        self.label("flag", lambda step: self.session.toggle_step_flag(self.attempt_id, step))

    def action_comment(self) -> None:
        step = self.current_step
        if step is None:
            return
        label = self.labels.steps.get(step.number) if self.labels else None
        value = self.unsaved_comment.get(step.number, (label.comment if label else None) or "")
        dialog = TextPromptDialog(
            "Comment",
            f"A short comment on step {step.number} (empty removes it):",
            placeholder="e.g. the sign flips here",
            footnote="enter: save · escape: cancel",
            value=value,
        )
        self.app.push_screen(dialog, lambda text: self._commented(step, text))

    def _commented(self, step: Step, text: str | None) -> None:
        if text is None:
            return
        self.unsaved_comment[step.number] = text
        if self.label("comment", lambda s: self.session.comment_step(self.attempt_id, s, text), step):
            self.unsaved_comment.pop(step.number, None)  # kept until saved: m offers it again

    def action_undo(self) -> None:
        with database_write(self, "Nothing was undone") as write:
            action = self.session.undo_label()
        if write.failed:
            return
        if action is None:
            self.notify("No label to undo.", severity="warning", markup=False)
            return
        where = f"step {', '.join(map(str, action.steps))}" if action.steps else "the critique"
        elsewhere = "" if action.attempt_id == self.attempt_id else f" of attempt #{action.attempt_id}"
        self.notify(f"Undid the {ACTION_WORD[action.kind]} on {where}{elsewhere}", timeout=3, markup=False)
        self.reload_labels()

    # -- moving --------------------------------------------------------------------------------

    def action_cursor(self, direction: str) -> None:
        steps_list = self.query_one("#steps", OptionList)
        steps_list.action_cursor_down() if direction == "down" else steps_list.action_cursor_up()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.app.key_help(self.BINDINGS)))

    def action_back(self) -> None:
        self.dismiss(None)
