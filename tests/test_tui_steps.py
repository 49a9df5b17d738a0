"""The draft as numbered steps (rel_core.steps), the critic's first wrong step marked, the jump to it
and the step cursor: the real app under Pilot on a real SQLite file."""

from __future__ import annotations

import pytest
from textual.widgets import TextArea
from tui_data import settle

from rel_core.config import Settings
from rel_core.models import (
    Attempt,
    AttemptKind,
    Critique,
    CritiqueSource,
    ImportRecord,
    Problem,
    Verdict,
)
from rel_core.steps import split_steps
from rel_core.store import Store
from rel_tui.app import ReviewApp
from rel_tui.widgets.draft_pane import DraftPane
from rel_tui.widgets.rendered_draft import RenderedDraft

CRITIC = "openai:gpt-4o-mini"


def stepped_draft(count: int = 6) -> str:
    body = [f"Paragraph {n}: we note that quantity {n} is $x_{n} = {n}$ and carry on." for n in range(1, count + 1)]
    return "## Setting up\n\n" + "\n\n".join(body) + "\n\n- a list item\n- another item\n\n**Answer:** $\\boxed{50}$\n"


def critic_db(path, draft: str, error_step: str | None = "3", verdict: Verdict = Verdict.INCORRECT):
    raw = (
        f"CORRECT: No\nERROR_STEP: {error_step}\nERROR_DESCRIPTION: Step {error_step} is wrong." if error_step else "CORRECT: Yes"
    )
    record = ImportRecord(
        problem=Problem(text="A garden is 14 m by 9 m with a 1 m path around it. Area of the path?", reference_answer="50"),
        attempts=[Attempt(kind=AttemptKind.GENERATED, text=draft, model=CRITIC, final_answer="50")],
        critiques=[Critique(verdict=verdict, source=CritiqueSource.LLM, model=CRITIC, first_error_step=error_step, raw=raw)],
    )
    with Store(path) as store:
        store.import_records([record])
    return path


def shown_lines(view: RenderedDraft, start: int = 0, count: int | None = None) -> list[str]:
    """The view's lines as drawn, gutter included."""
    end = len(view.lines) if count is None else min(len(view.lines), start + count)
    return ["".join(segment.text for segment in view._strip(index)) for index in range(start, end)]


def visible_text(view: RenderedDraft) -> str:
    return "\n".join(shown_lines(view, view.scroll_offset.y, view.size.height))


async def test_the_draft_is_shown_as_the_steps_rel_core_makes(tmp_path):
    draft = stepped_draft()
    steps = split_steps(draft)
    app = ReviewApp(critic_db(tmp_path / "rel.db", draft, error_step=None, verdict=Verdict.CORRECT), Settings(), "alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(DraftPane)
        view = pane.query_one(RenderedDraft)
        assert pane.steps == steps and view.step_count == len(steps) == 9
        lines = shown_lines(view)
        for step in steps:  # each step's first line carries its number; its text follows in the gutter
            first = lines[view.first_line_of(step.number)]
            assert first.startswith(f" {step.number}│"), first
        assert "Setting up" in "".join(lines[: view.first_line_of(2)])  # the heading joins step 1
        assert lines[view.first_line_of(1)].startswith(" 1│") and "Paragraph 1: we note" in "".join(
            lines[: view.first_line_of(2)]
        )
        assert lines[view.first_line_of(2)].startswith(" 2│Paragraph 2: we note")
        assert lines[view.first_line_of(7)].startswith(" 7│ • a list item")
        assert not any("✗" in line for line in lines)
        await pilot.press("t")  # the raw view labels the same steps, as the critic's prompt does
        await settle(pilot)
        raw = pane.query_one("#draft-raw", TextArea).text
        assert raw.startswith("[1] ## Setting up\n\nParagraph 1") and "\n\n[2] Paragraph 2:" in raw
        assert "[7] - a list item\n[8] - another item" in raw and "[9] **Answer:**" in raw


async def test_the_critics_first_wrong_step_is_marked_and_f_jumps_to_it(tmp_path):
    draft = stepped_draft(40)
    db = critic_db(tmp_path / "rel.db", draft, error_step="Step 30")
    app = ReviewApp(db, Settings(), "alice")
    selected = []

    def hook(message) -> None:
        if isinstance(message, DraftPane.StepSelected) and message not in selected:
            selected.append(message)  # the hook sees a message at each node it bubbles through

    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(DraftPane)
        view = pane.query_one(RenderedDraft)
        assert "✗ critic" not in visible_text(view)  # step 30 is far below the first screen
        assert "f: ✗ step 30" in str(pane.border_subtitle)
        await pilot.press("f")
        await pilot.pause()
        shown = visible_text(view)
        assert "✗30│✗ critic: first error" in shown, shown
        assert "Paragraph 30: we note" in shown  # the step's own text, under its label
        assert pane.current_step == 30 and view.scroll_offset.y > 0
        assert [message.step.number for message in selected] == [30]
        await pilot.press("t")  # the raw view scrolls there too, with the same label
        await settle(pilot)
        raw = pane.query_one("#draft-raw", TextArea)
        assert "[30 ✗ critic: first error] Paragraph 30" in raw.text
        row = raw.text[: raw.text.index("[30 ✗")].count("\n")
        label_y = raw.wrapped_document.location_to_offset((row, 0)).y
        assert 0 < raw.scroll_offset.y <= label_y < raw.scroll_offset.y + raw.size.height
    with Store(db) as store:  # looking is not deciding
        assert store.history(1).reviews == []


async def test_a_first_error_past_the_last_step_is_said_so(tmp_path):
    draft = stepped_draft(3)  # 6 steps
    app = ReviewApp(critic_db(tmp_path / "rel.db", draft, error_step="12"), Settings(), "alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen.query_one(RenderedDraft)
        assert shown_lines(view)[0].strip() == "✗ critic: first error at step 12, but this draft has 6 steps"
        await pilot.press("f")
        await pilot.pause()
        assert app.screen.query_one(DraftPane).current_step is None
        assert "first error is step 12, but this draft has 6 steps" in " ".join(str(n.message) for n in app._notifications)


async def test_the_step_cursor_moves_with_shift_j_and_k(tmp_path):
    draft = stepped_draft(30)
    app = ReviewApp(critic_db(tmp_path / "rel.db", draft, error_step="3"), Settings(), "alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(DraftPane)
        view = pane.query_one(RenderedDraft)
        assert pane.current_step is None
        await pilot.press("J")  # the first move starts at the step on top of the view
        assert pane.current_step == 1
        assert shown_lines(view)[0].startswith("▶ 1│")
        await pilot.press("J", "J", "J")
        assert pane.current_step == 4
        lines = shown_lines(view)
        assert lines[view.first_line_of(4)].startswith("▶ 4│") and lines[view.first_line_of(1)].startswith("  1│")
        await pilot.press("K")
        assert pane.current_step == 3
        assert shown_lines(view)[view.first_line_of(3)].startswith("✗ 3│✗ critic: first error")
        await pilot.press(*["J"] * 40)  # stops at the last step
        await pilot.pause()
        assert pane.current_step == len(pane.steps) == 33
        assert view.scroll_offset.y > 0


async def test_a_long_draft_is_numbered_in_a_thread_and_f_waits_for_it(tmp_path):
    draft = stepped_draft(400)  # ~30 kB: its opening is rendered at once, the rest in a thread
    app = ReviewApp(critic_db(tmp_path / "rel.db", draft, error_step="350"), Settings(), "alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.screen.query_one(DraftPane)
        await pilot.press("f")
        await settle(pilot)
        assert not pane.full_render_pending and len(pane.steps) == 403
        view = pane.query_one(RenderedDraft)
        assert pane.current_step == 350
        assert "✗350│✗ critic: first error" in visible_text(view)


# -- snapshots (cursor blink frozen) ------------------------------------------------------------------


async def _frozen_after_jump(pilot) -> None:
    await settle(pilot)
    await pilot.press("f")
    await settle(pilot)
    for widget in pilot.app.screen.query("TextArea, Input"):
        widget.cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_steps_with_the_first_error_marked(tmp_path, snap_compare, size):
    app = ReviewApp(critic_db(tmp_path / "rel.db", stepped_draft(8), error_step="6"), Settings(), "alice")
    assert snap_compare(app, terminal_size=size, run_before=_frozen_after_jump)


@pytest.mark.parametrize(
    "draft",
    [
        stepped_draft(5),
        "<pre>\nan HTML block swallows what follows\n\nstep two\n\nstep three",
        "1. first\n2. second\n\n$$\nx^2\n\n+ 1\n$$\n\n```\ncode\n\nmore code\n```\n\n> quoted\n\nend",
    ],
)
def test_rendering_in_one_document_matches_rendering_each_step(draft):
    from rel_tui.widgets.rendered_draft import (
        _console,
        _trimmed,
        render_markdown,
        render_steps,
    )

    steps = split_steps(draft)
    shown = render_steps(draft, steps, 60, first_error=2)
    console = _console(60)
    expected = []
    for step in steps:
        expected += ([[]] if expected else []) + (["✗ critic: first error"] if step.number == 2 else [])
        expected += _trimmed(render_markdown(step.text, 60, console)) or [[]]

    def text(lines):
        return [line if isinstance(line, str) else "".join(s.text for s in line) for line in lines]

    assert text(shown.lines) == text(expected)
    assert len(shown.spans) == len(steps) and shown.lines[shown.spans[1][0]] == "✗ critic: first error"
