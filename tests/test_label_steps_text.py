"""The labelling screen shows each step as the draft pane does (Markdown, LaTeX as Unicode), with its gutter.

Driven by Pilot on a real SQLite database; what the screen shows is read from the step list's
drawn lines, so the test sees what the expert sees.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import OptionList
from tui_data import busy_app as make_app
from tui_data import settle

from rel_core.models import Attempt, AttemptKind, ImportRecord, Problem
from rel_core.steps import split_steps
from rel_core.store import Store
from rel_tui.screens.label_steps import LabelStepsScreen, gutter_cells
from rel_tui.widgets.rendered_draft import render_steps

STEPS = [
    "## Setting up\n\nWe differentiate $f(x) = x\\ln x$ by the **product rule**, which for a product of two"
    " differentiable functions gives each one's derivative times the other, added up.",
    "1. The derivative of $x$ is $1$ and of $\\ln x$ is $\\frac{1}{x}$.",
    "$$f'(x) = \\ln x + x \\cdot \\frac{1}{x}$$",
    "So $f'(x) = \\ln x + 1$, and *that* is $0$ at $x = e^{-1}$.",
    "**Answer:** $x = \\frac{1}{e}$",
]
DRAFT = "\n\n".join(STEPS)


def draft_db(path: Path, draft: str) -> Path:
    record = ImportRecord(
        problem=Problem(text="Where is $x \\ln x$ smallest?", reference_answer="1/e", source="sample"),
        attempts=[Attempt(kind=AttemptKind.GENERATED, text=draft, model="openai:gpt-4o-mini", final_answer="1/e")],
        critiques=[],
    )
    with Store(path) as store:
        store.import_records([record])
    return path


async def open_labels(pilot) -> LabelStepsScreen:
    await settle(pilot)
    await pilot.press("l")
    await settle(pilot)
    assert isinstance(pilot.app.screen, LabelStepsScreen)
    return pilot.app.screen


def shown(screen: LabelStepsScreen) -> list[str]:
    """The step list's lines as drawn on screen (inside its border), top to bottom."""
    steps_list = screen.query_one("#steps", OptionList)
    return [steps_list.render_line(y).text.rstrip() for y in range(steps_list.scrollable_content_region.height)]


def step_lines(lines: list[str], number: int) -> list[str]:
    """The text of step `number` as drawn: its gutter line and those below it up to the next step."""
    start = next(i for i, line in enumerate(lines) if _gutter_number(line) == number)
    end = next((i for i in range(start + 1, len(lines)) if _gutter_number(lines[i]) is not None), len(lines))
    cells = len(lines[start].split("│", 1)[0]) + 1  # the gutter, then one cell of padding
    return [line[cells + 1 :] for line in lines[start:end]]


def _gutter_number(line: str) -> int | None:
    gutter = line.split("│", 1)[0][3:].strip() if "│" in line else ""
    return int(gutter) if gutter.isdecimal() else None


@pytest.fixture
def db(tmp_path) -> Path:
    return draft_db(tmp_path / "rel.db", DRAFT)


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
async def test_steps_read_as_in_the_draft_pane(db, size):
    app = make_app(db)
    async with app.run_test(size=size) as pilot:
        screen = await open_labels(pilot)
        lines = shown(screen)
        text = "\n".join(lines)
        assert "x ln x" in text and "xlnx" not in text  # the space an operator name needs
        assert "**" not in text and "\\frac" not in text and "$" not in text and "##" not in text
        assert "product rule" in text and "Answer:" in text and "1/e" in text
        assert [_gutter_number(line) for line in lines if _gutter_number(line) is not None] == [1, 2, 3, 4, 5]
        # Each step's lines are the draft pane's own rendering of that step, at the width it has here.
        steps = split_steps(DRAFT)
        body_width = screen.query_one("#steps", OptionList).scrollable_content_region.width - gutter_cells(steps) - 1
        rendered = render_steps(DRAFT, steps, body_width)
        for step in steps:
            first, end = rendered.spans[step.number - 1]
            pane = ["".join(s.text for s in line).rstrip() for line in rendered.lines[first:end]]
            assert [line.rstrip() for line in step_lines(lines, step.number)][: len(pane)] == pane, step.number


async def test_markdown_styles_show_as_styles_not_stars(db):
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_labels(pilot)
        steps_list = screen.query_one("#steps", OptionList)
        strips = [steps_list.render_line(y) for y in range(steps_list.scrollable_content_region.height)]
        bold = [segment.text for strip in strips for segment in strip if segment.style and segment.style.bold]
        assert any("product rule" in text for text in bold) and any("Answer:" in text for text in bold)


async def test_the_gutter_keeps_its_marks_and_three_digit_numbers(tmp_path):
    draft = "\n\n".join(f"Step text {n}: so $x_{{{n}}} = {n}\\cdot x$ holds." for n in range(1, 121))
    db = draft_db(tmp_path / "rel.db", draft)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_labels(pilot)
        await pilot.press("plus", "0", "minus", "exclamation_mark")
        await settle(pilot)
        lines = shown(screen)
        assert [line[:8] for line in lines[:5]] == ["✓     1│", "○     2│", "✗     3│", " ⚑    4│", "      5│"]
        assert lines[2].endswith("│ Step text 3: so x₃ = 3 · x holds.")
        await pilot.press("end")
        await settle(pilot)
        last = [line for line in shown(screen) if _gutter_number(line) is not None][-1]
        assert last.startswith("    120│") and "Step text 120" in last


async def test_the_steps_are_rendered_again_at_a_new_width(db):
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_labels(pilot)
        narrow = step_lines(shown(screen), 1)
        await pilot.resize_terminal(200, 50)
        await settle(pilot)
        wide = step_lines(shown(screen), 1)
        assert len(wide) < len(narrow)  # the long step wraps less
        assert "product rule" in "".join(wide) and max(map(len, wide)) > 80
