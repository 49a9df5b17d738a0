"""Problem and draft text are data: markup-like text, ANSI escapes and huge drafts show literally."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static, TextArea
from tui_data import make_db, settle

from rel_core.config import Settings
from rel_core.models import Attempt, AttemptKind
from rel_core.store import Store
from rel_tui.app import ReviewApp
from rel_tui.latex import displayable, readable_math
from rel_tui.widgets.draft_pane import DraftPane

NASTY = (
    "[bold]not bold[/] and [/] alone, [link=https://evil.example]click[/link], \\[x\\] "
    "[red]x[/red] $[$ \x1b[31mred\x1b[0m \x1b]0;title\x07 \x1b[2J end"
)


def rendered_lines(pane: DraftPane) -> str:
    view = pane.query_one("#draft-rendered")
    return "\n".join(line if isinstance(line, str) else "".join(s.text for s in line) for line in view.lines)


async def test_markup_and_ansi_are_shown_literally(tmp_path):
    db = make_db(tmp_path / "rel.db", count=1, text=NASTY, draft=NASTY)
    with Store(db) as store:
        store.add_attempt(Attempt(problem_id=1, kind=AttemptKind.REVISED, text=NASTY, model="[b]evil[/b] [link=x]"))
    app = ReviewApp(db, Settings(), "[red]alice")
    async with app.run_test(size=(160, 48)) as pilot:
        title = Content.from_markup(app.screen.query_one(DraftPane).border_title).plain
        assert "[b]evil[/b] [link=x]" in title
        assert "[red]alice" in str(app.screen.query_one("#status", Static).render())
        problem = str(app.screen.query_one("#problem-text", Static).render())
        assert "[bold]not bold[/]" in problem
        assert "[link=https://evil.example]click[/link]" in problem
        assert "\x1b" not in problem and "␛[31mred␛[0m" in problem
        draft = rendered_lines(app.screen.query_one(DraftPane))
        assert "[bold]not bold[/]" in draft and "[red]x[/red]" in draft
        assert "\x1b" not in draft and "␛[2J" in draft
        await pilot.press("t")
        raw = app.screen.query_one("#draft-raw", TextArea).text
        assert raw.startswith("[1] [bold]not bold[/]") and "\x1b" not in raw  # [1]: its step label
        await pilot.press("a")
    with Store(db) as store:
        assert store.history(1).problem.state == "accepted"


async def test_huge_draft_stays_responsive(tmp_path):
    """A 10,000-line draft renders literally and the app keeps answering keys.

    No wall-clock assertion: speed is measured in bench/, and pytest-timeout catches a hang.
    """
    lines = [f"Line {n}: [bold]{n}[/] $x_{n} = \\frac{{{n}}}{{2}}$ \x1b[1m" for n in range(10_000)]
    huge = "\n".join(lines)
    db = make_db(tmp_path / "rel.db", count=2, draft=huge)
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(DraftPane)
        assert pane.showing_rendered
        assert "[bold]9999[/]" in rendered_lines(pane)
        await pilot.press("n")
        await settle(pilot)
        assert app.session.problem_id == 2
        assert str(app.screen.query_one("#problem-text", Static).render()).startswith("Problem 2:")
        pane = app.screen.query_one(DraftPane)
        draft = rendered_lines(pane)
        assert "[bold]0[/]" in draft and "[bold]9999[/]" in draft  # all of it, markup shown as text
        assert "\x1b" not in draft and "␛[1m" in draft
        await pilot.press("t", "end")
        assert not pane.showing_rendered
        raw = app.screen.query_one("#draft-raw", TextArea)
        assert "Line 9999: [bold]9999[/]" in raw.text
        await pilot.press("p")  # and it still answers keys after all that
        await settle(pilot)
        assert app.session.problem_id == 1
        assert str(app.screen.query_one("#problem-text", Static).render()).startswith("Problem 1:")


def test_latex_is_made_readable():
    text = r"So $\frac{a+1}{b} \le \sqrt{2}\alpha^2$ and $$x_{n+1} = \dfrac{1}{2}$$ costs $5 and $6."
    readable = readable_math(text)
    assert "(a+1)/b ≤ √(2)α²" in readable
    assert "xₙ₊₁ = 1/2" in readable
    assert "costs $5 and $6." in readable


def test_control_characters_become_visible():
    assert displayable("a\x1b[0mb\x00\x07\r\nc\td") == "a␛[0mb␀␇\nc\td"
