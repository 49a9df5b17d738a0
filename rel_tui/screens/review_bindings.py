"""The review screen's keys: every binding with its id (the user's keymap names them) and tooltip.

`ReviewScreen.BINDINGS` is this list, so the footer, the help screen and the keymap see each key
exactly as declared here; the actions live in the screen's modules (review_*.py).
"""

from __future__ import annotations

from textual.binding import Binding

REVIEW_BINDINGS = [
    Binding("escape", "cancel", "Cancel", id="cancel", tooltip="Stop the regeneration or critic run"),
    Binding("a", "accept", "Accept", id="accept", tooltip="Accept the shown attempt and go to the next item"),
    Binding("x", "reject", "Reject", id="reject", tooltip="Reject the item, with an optional reason"),
    Binding("e", "edit", "Edit", id="edit", tooltip="Edit the shown attempt; ctrl+s saves it as a new attempt"),
    Binding("r", "regenerate", "Regen", id="regenerate", tooltip="Revise the shown attempt with an optional hint"),
    Binding("s", "skip", "Skip", id="skip", tooltip="Record a skip and go to the next item"),
    Binding("n", "next", "Next", id="next", tooltip="Next item in the queue, no decision"),
    Binding("question_mark", "help", "Help", id="help", tooltip="All keys"),
    Binding("q", "quit", "Quit", id="quit", tooltip="Quit (every decision is already saved)"),
    Binding("c", "recritique", "Re-critique", id="recritique", tooltip="Run the critic again on the shown attempt"),
    Binding(
        "u",
        "undo",
        "Undo",
        id="undo",
        tooltip="Undo your last decision or mark (reopens it), label or ruling",
        show=False,
    ),
    Binding("p", "previous", "Prev", id="previous", tooltip="The item shown before this one", show=False),
    Binding(
        "left_square_bracket",
        "previous_attempt",
        "Older",
        id="previous_attempt",
        tooltip="Show the previous attempt of this problem",
        show=False,
    ),
    Binding(
        "right_square_bracket",
        "next_attempt",
        "Newer",
        id="next_attempt",
        tooltip="Show the next attempt of this problem",
        show=False,
    ),
    Binding(
        "t",
        "toggle_raw",
        "Raw",
        id="toggle_raw",
        tooltip="Switch the draft between rendered Markdown and raw text",
        show=False,
    ),
    Binding("slash", "filter", "Filter", id="filter", tooltip="Filter the queue by state, source and text"),
    Binding("g", "queue", "Queue", id="queue", tooltip="The queue as a table; enter opens an item", show=False),
    Binding(
        "o",
        "toggle_reference",
        "Reference",
        id="toggle_reference",
        tooltip="Open or close the reference solution",
        show=False,
    ),
    Binding(
        "1",
        "show_pane('problem')",
        "Problem",
        id="pane_problem",
        tooltip="Below 120 columns: open the whole problem (again: its first lines)",
        show=False,
    ),
    Binding(
        "2",
        "show_pane('draft')",
        "Draft",
        id="pane_draft",
        tooltip="Below 120 columns: the problem's first lines and the draft",
        show=False,
    ),
    Binding(
        "3",
        "show_pane('critic')",
        "Critic pane",
        id="pane_critic",
        tooltip="Below 120 columns: every judge's verdict in place of the draft",
        show=False,
    ),
    Binding(
        "G",
        "guidelines",
        "Guidelines",
        id="guidelines",
        tooltip="The project's annotation guidelines (review.guidelines)",
        show=False,
    ),
    Binding(
        "f",
        "jump_to_error",
        "First error",
        id="jump_to_error",
        tooltip="Move the step cursor to the critic's first wrong step",
    ),
    Binding(
        "J",
        "move_step(1)",
        "Next step",
        id="next_step",
        tooltip="Move the step cursor to the next step of the draft",
        show=False,
    ),
    Binding(
        "K",
        "move_step(-1)",
        "Previous step",
        id="previous_step",
        tooltip="Move the step cursor to the previous step of the draft",
        show=False,
    ),
    Binding(
        "d",
        "compare",
        "Compare",
        id="compare",
        tooltip="Compare the shown attempt with its parent (or another attempt), word by word",
    ),
    Binding(
        "j",
        "scroll_pane(1)",
        "Down",
        id="scroll_down",
        tooltip="Scroll the focused pane (the draft) down a line; also down arrow",
        show=False,
    ),
    Binding(
        "k",
        "scroll_pane(-1)",
        "Up",
        id="scroll_up",
        tooltip="Scroll the focused pane (the draft) up a line; also up arrow",
        show=False,
    ),
    Binding(
        "space",
        "page_pane",
        "Page",
        id="scroll_page",
        tooltip="Scroll the focused pane (the draft) a page down; also pagedown, pageup, home, end",
        show=False,
    ),
    Binding("l", "label_steps", "Label", id="label_steps", tooltip="Label each step: rate, first error, flag, comment"),
    Binding(
        "v",
        "rule('verdict')",
        "Rule verdict",
        id="rule_verdict",
        tooltip="Agree with the LLM critic's verdict; pressed again: disagree",
        show=False,
    ),
    Binding(
        "w",
        "rule('first_error_step')",
        "Rule step",
        id="rule_step",
        tooltip="Agree with the critic's first wrong step; again: disagree",
        show=False,
    ),
    Binding(
        "b",
        "mark_broken",
        "Broken",
        id="mark_broken",
        tooltip="Mark the problem itself broken (wrong reference, ambiguous, ...) or take the mark back",
        show=False,
    ),
]

# Keys that act on the open item: shown greyed out (and inactive) when the queue is empty.
NEEDS_ITEM = {
    "accept", "reject", "edit", "regenerate", "recritique", "skip",
    "previous_attempt", "next_attempt", "toggle_raw", "toggle_reference", "mark_broken",
}  # fmt: skip

# The footer's order (whatever the user's keymap) and, below 120 columns, the keys it shows: the
# most used ones that fit in 80 columns whole; ? lists every key.
BINDING_ORDER = {binding.id: index for index, binding in enumerate(REVIEW_BINDINGS) if binding.id}
NARROW_FOOTER = {"accept", "reject", "edit", "regenerate", "skip", "next", "help", "quit", "filter", "label_steps"}
