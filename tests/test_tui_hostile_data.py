"""Hostile text from the database never reaches the terminal raw, and huge drafts never freeze the screen.

Every field a screen shows (source, subject, text, draft, critique, model, annotator, file name,
claim holder, notifications, filter choices, the queue) holds ANSI escapes, an OSC 52 clipboard
write, a C1 CSI, a bidi override and console markup. On every screen, what Textual hands to the
terminal (the screen's rendered strips) holds none of those characters, and shows their stand-ins.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import TextArea
from tui_data import make_db, settle

from rel_core.config import Settings
from rel_core.models import (
    Attempt,
    AttemptKind,
    Critique,
    CritiqueSource,
    Decision,
    ImportRecord,
    Problem,
    ProblemState,
    Review,
    Verdict,
)
from rel_core.review_session import QueueFilter
from rel_core.store import Store
from rel_tui.app import ReviewApp
from rel_tui.screens.edit import EditScreen
from rel_tui.screens.filter import FilterDialog
from rel_tui.screens.help import HelpScreen
from rel_tui.screens.queue import QueueScreen
from rel_tui.widgets.draft_pane import DraftPane
from rel_tui.widgets.rendered_draft import MAX_LINE_CHARS

HOSTILE = "\x1b[31mred\x1b[0m \x1b]52;c;aGVsbG8=\x07 \x9b31m \u202egnp.exe [bold]b[/bold]"
# What each hostile part looks like on screen: visible, and inert.
STAND_INS = ("␛[31mred␛[0m", "␛]52;c;aGVsbG8=␇", "\\x9b31m", "\\u202e", "[bold]b[/bold]")
RAW = [
    chr(c)
    for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069)
]


def hostile_db(path: Path) -> Path:
    problem = Problem(
        text=f"Problem: {HOSTILE}",
        reference_answer=f"50 {HOSTILE}",
        reference_solution=f"Solution {HOSTILE}",
        source=f"src{HOSTILE}",
        subject=f"subj{HOSTILE}",
        level="1",
    )
    attempts = [
        Attempt(
            kind=AttemptKind.GENERATED,
            text=f"Draft {HOSTILE}\n\nThe answer is 48.",
            model=f"model{HOSTILE}",
            hint=f"hint{HOSTILE}",
        ),
    ]
    critiques = [
        Critique(
            verdict=Verdict.INCORRECT,
            source=CritiqueSource.LLM,
            model=f"critic{HOSTILE}",
            first_error_step=f"Step {HOSTILE}",
            error_description=f"Error {HOSTILE}",
            raw=f"raw {HOSTILE}",
        )
    ]
    with Store(path) as store:
        store.import_records([ImportRecord(problem=problem, attempts=attempts, critiques=critiques)])
        store.import_records([ImportRecord(problem=Problem(text="A second problem.", source=f"src{HOSTILE}"))])
        store.set_state(2, ProblemState.AWAITING_REVIEW)
        store.record_review(Review(problem_id=1, decision=Decision.SKIPPED, annotator=f"eve{HOSTILE}"))
    return path


def screen_text(app) -> str:
    """What the terminal is sent for the whole screen (toasts included), as text, checked for raw controls."""
    strips = app.screen._compositor.render_strips()
    text = "\n".join("".join(segment.text for segment in strip) for strip in strips)
    raw = sorted({f"U+{ord(c):04X}" for c in text if c in RAW and c != "\n"})
    assert raw == [], f"raw control characters reached the terminal: {raw}"
    return text


def assert_shown_inert(text: str, count: int = 1) -> None:
    for stand_in in STAND_INS:
        assert text.count(stand_in) >= count, stand_in


async def test_every_field_of_the_review_screen_shows_stand_ins(tmp_path):
    db = hostile_db(tmp_path / "rel\x1b[31m.db")
    app = ReviewApp(db, Settings(), "al\x1b[31m[b]")  # short: the status line has room for both
    async with app.run_test(size=(240, 60), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("o")  # the reference solution too
        await settle(pilot)
        app.notify(f"toast {HOSTILE}", title=f"title {HOSTILE}")
        await pilot.pause()
        text = screen_text(app)
        for shown in (
            "src␛[31m",
            "subj␛[31m",
            "Problem: ␛",
            "Solution ␛",
            "Draft ␛",
            "model␛",
            "critic␛",
            "Step ␛",
            "Error ␛",
            "eve␛",
            "al␛[31m[b]",
            "rel␛[31m.db",
            "toast ␛",
            "title ␛",
        ):
            assert shown in text, shown
        assert_shown_inert(text, count=5)


async def test_the_queue_the_filter_and_notices_show_stand_ins(tmp_path):
    db = hostile_db(tmp_path / "rel.db")
    with Store(db) as store:
        store.claim(2, f"runner{HOSTILE}", 600)
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(200, 50), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)
        text = screen_text(app)
        assert "src␛[31m" in text and "Problem: ␛[31m" in text
        await pilot.press("down", "enter")  # held by the runner: a notice names it
        await settle(pilot)
        text = screen_text(app)
        assert "open by runner␛[31m" in text
        assert_shown_inert(text)

        app.session.filter = QueueFilter(source=f"src{HOSTILE}")
        await pilot.press("slash")
        await settle(pilot)
        assert isinstance(app.screen, FilterDialog)
        text = screen_text(app)
        assert "src␛[31mred␛[0m" in text
        await pilot.press("tab", "tab", "enter")  # open the source list: every choice drawn
        await settle(pilot)
        assert_shown_inert(screen_text(app))


async def test_the_editor_shows_stand_ins_and_saves_what_it_showed(tmp_path):
    db = hostile_db(tmp_path / "rel.db")
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EditScreen)
        assert_shown_inert(screen_text(app))
        editor = app.screen.query_one("#editor", TextArea)
        editor.move_cursor(editor.document.end)
        await pilot.press(*" ok", "ctrl+s")
        await settle(pilot)
    with Store(db) as store:
        [edit] = [a for a in store.history(1).attempts if a.kind == AttemptKind.HUMAN_EDIT]
        assert "\x1b" not in edit.text and "␛[31mred" in edit.text and edit.text.endswith(" ok")


# -- huge drafts ---------------------------------------------------------------------------------


async def test_a_ten_megabyte_one_line_draft_opens_cut_and_the_app_answers_keys(tmp_path):
    draft = "x" * 10_000_000 + " \\boxed{50}"
    db = make_db(tmp_path / "rel.db", count=2, draft=draft)
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")  # answered while the draft is still being prepared
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await settle(pilot)
        pane = app.screen.query_one(DraftPane)
        [line] = pane.query_one("#draft-rendered").lines
        assert line.startswith("x" * MAX_LINE_CHARS) and f"line cut here: {len(draft) - MAX_LINE_CHARS:,} more characters" in line
        await pilot.press("t")  # the wrapped raw view holds a bounded part, with a marker
        await settle(pilot)
        raw = pane.query_one("#draft-raw", TextArea).text
        assert len(raw) < 10_000 and "line cut here" in raw
        await pilot.press("n")
        await settle(pilot)
        assert app.session.problem_id == 2
    with Store(db) as store:  # its answer was found off the UI thread, and checked
        history = store.history(1)
        [check] = [c for c in history.critiques_for(history.attempts[-1].id) if c.source == CritiqueSource.CHECK]
        assert check.verdict == Verdict.CORRECT


async def test_a_huge_markdown_draft_is_rendered_in_a_thread_with_long_lines_cut(tmp_path):
    paragraph = "word " * 4_000  # a 20 kB line in a 100 kB draft: Markdown, rendered off the UI thread
    db = make_db(tmp_path / "rel.db", count=1, draft="## Start\n\n" + "\n\n".join([paragraph] * 5))
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(DraftPane)
        assert not pane.full_render_pending
        text = screen_text(app)
        assert "Start" in text
        lines = ["".join(s.text for s in line) for line in pane.query_one("#draft-rendered").lines]
        assert sum("line cut here" in line for line in lines) == 5


async def test_the_llm_client_is_made_off_the_ui_thread(tmp_path, llm_env, monkeypatch):
    """Importing an SDK and making its client take seconds: the first `c` must not spend them on the UI thread."""
    import threading

    from llm_server import Reply

    from rel_core.providers import client as client_module

    made_on: list[threading.Thread] = []
    make_provider = client_module._make_provider

    def recording_make_provider(*args, **kwargs):
        made_on.append(threading.current_thread())
        return make_provider(*args, **kwargs)

    monkeypatch.setattr(client_module, "_make_provider", recording_make_provider)
    llm_env.enqueue(Reply(text="CORRECT: Yes"))
    db = make_db(tmp_path / "rel.db", count=1)
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert len(llm_env.requests) == 1  # the critic ran
    assert made_on and all(thread is not threading.main_thread() for thread in made_on)
