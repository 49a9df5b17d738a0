"""The first draft on screen is drawn once, at the width of the layout the terminal's size gives.

Textual sets a screen's breakpoint classes (-narrow, -wide, …) on its first resize, which comes
after the first layout: the review screen used to lay the panes out side by side first, render
the draft at that width (about 35 columns at 80×24), then stack them and render it again at the
full width a moment later: a visible flicker. The screen now starts with the classes of its size.
"""

from __future__ import annotations

import pytest
from textual.geometry import Size
from tui_data import DRAFT, make_db, settle

import rel_tui.widgets.draft_pane as draft_pane
from rel_core.config import Settings
from rel_tui.app import ReviewApp
from rel_tui.screens.review import ReviewScreen, breakpoint_classes
from rel_tui.widgets.draft_pane import SYNC_RENDER_CHARS
from rel_tui.widgets.rendered_draft import RenderedDraft


@pytest.fixture
def render_widths(monkeypatch):
    """The width each Markdown rendering of a draft was made for (the step gutter's included), in order."""
    widths: list[int] = []
    real_render_steps = draft_pane.render_steps

    def recording_render_steps(text, steps, width, first_error=None):
        widths.append(width + draft_pane.gutter_width(len(steps)))
        return real_render_steps(text, steps, width, first_error)

    monkeypatch.setattr(draft_pane, "render_steps", recording_render_steps)
    return widths


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 50)])
async def test_the_first_draft_is_rendered_once_at_its_final_width(tmp_path, render_widths, size):
    assert len(DRAFT) <= SYNC_RENDER_CHARS  # rendered at once: one rendering per width, none from a thread
    app = ReviewApp(make_db(tmp_path / "rel.db", count=2), Settings(), "alice")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        view = app.screen.query_one(RenderedDraft)
        assert view.step_count == 3  # the draft really was rendered, as steps
        assert len(render_widths) == 1, f"the draft was rendered at widths {render_widths}"
        # The rendering fills the view as it stands now (inside its padding and scrollbar gutter).
        assert render_widths[0] == view.scrollable_content_region.width


async def test_at_80_columns_the_draft_is_rendered_stacked_not_side_by_side(tmp_path, render_widths):
    app = ReviewApp(make_db(tmp_path / "rel.db", count=2), Settings(), "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.has_class("-narrow")
    # Stacked, the draft spans the terminal; side by side at 80 columns it would get under 40.
    assert render_widths and min(render_widths) > 65, render_widths


async def test_a_long_draft_is_rendered_at_one_width_only(tmp_path, render_widths):
    """A long draft shows its opening at once and the whole from a thread: both at the final width."""
    long_draft = "\n\n".join(f"Step {n}: since $x_{n} = {n}$, the sum grows by {n}." for n in range(400))
    assert len(long_draft) > SYNC_RENDER_CHARS
    app = ReviewApp(make_db(tmp_path / "rel.db", count=2, draft=long_draft), Settings(), "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.query_one(RenderedDraft).step_count == 400
    assert len(render_widths) == 2, render_widths  # the opening, then the whole draft
    assert len(set(render_widths)) == 1, render_widths


@pytest.mark.parametrize(
    ("size", "classes"),
    [
        ((80, 24), ["-narrow", "-short"]),
        ((119, 39), ["-narrow", "-short"]),
        ((120, 40), ["-wide", "-tall"]),
        ((179, 50), ["-wide", "-tall"]),
        ((180, 30), ["-widest", "-short"]),
        ((200, 50), ["-widest", "-tall"]),
    ],
)
def test_breakpoint_classes_follow_the_screens_breakpoints(size, classes):
    assert breakpoint_classes(Size(*size)) == classes


@pytest.mark.parametrize("size", [(80, 24), (150, 45), (200, 50)])
async def test_the_classes_given_at_start_are_those_textual_keeps(tmp_path, size):
    """The screen's own rule agrees with Textual's: after Textual's first resize nothing changed."""
    app = ReviewApp(make_db(tmp_path / "rel.db", count=1), Settings(), "alice")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        names = {name for _, name in ReviewScreen.HORIZONTAL_BREAKPOINTS + ReviewScreen.VERTICAL_BREAKPOINTS}
        assert sorted(screen.classes & names) == sorted(breakpoint_classes(Size(*size)))
