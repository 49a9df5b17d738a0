"""Per-step labels and rulings on the critic, driven by Pilot on a real SQLite database.

`l` opens the labelling screen on the shown attempt; + / 0 / - rate a step, f marks the first
error, ! flags, m comments, u undoes; `v` and `w` in the review screen rule on the LLM critic.
Everything is then read back from the step_labels, label_actions and critic_rulings tables.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from db_lock import database_held
from rich.console import Console
from textual.widgets import Input, OptionList, Static
from tui_data import busy_app as make_app
from tui_data import busy_notices, pending_problem, settle

from rel_core import labels
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
from rel_tui.screens.help import HelpScreen
from rel_tui.screens.label_steps import LabelStepsScreen
from rel_tui.screens.review import ReviewScreen
from rel_tui.widgets.critic_pane import CriticPane

STEPS = [
    "The path adds 1 m on each side, so the outer rectangle is $(14+2)$ by $(9+2)$.",
    "Its area is $16 \\cdot 11 = 176$.",
    "The garden alone is $14 \\cdot 9 = 120$.",
    "So the path is $176 - 120 = 56$.",
    "**Answer:** $\\boxed{56}$",
]
DRAFT = "\n\n".join(STEPS)


def labelled_db(path: Path) -> Path:
    record = ImportRecord(
        problem=Problem(text="A garden is 14 m by 9 m with a 1 m path around it. Area of the path?", reference_answer="50", source="sample"),
        attempts=[Attempt(kind=AttemptKind.GENERATED, text=DRAFT, model="openai:gpt-4o-mini", final_answer="56")],
        critiques=[
            Critique(verdict=Verdict.INCORRECT, source=CritiqueSource.LLM, model="openai:gpt-4o-mini",
                     first_error_step="Step 3", error_description="14 times 9 is 126, not 120.")
        ],
    )  # fmt: skip
    with Store(path) as store:
        store.import_records([record])
    return path


@pytest.fixture
def db(tmp_path) -> Path:
    return labelled_db(tmp_path / "rel.db")


async def open_labels(app: ReviewApp, pilot) -> LabelStepsScreen:
    await settle(pilot)
    await pilot.press("l")
    await settle(pilot)
    assert isinstance(app.screen, LabelStepsScreen)
    return app.screen


def standing(db: Path, annotator: str = "alice") -> labels.AttemptLabels:
    with Store(db) as store:
        return labels.attempt_labels(store, 1, annotator)


def table(db: Path, sql: str) -> list[tuple]:
    with Store(db) as store:
        return [tuple(row) for row in store.conn.execute(sql)]


def ratings(db: Path) -> dict[int, int | None]:
    return {n: label.rating for n, label in standing(db).steps.items()}


def shown_prompt(screen: LabelStepsScreen, index: int) -> str:
    """The step's row as plain text, as the option list draws it (76 cells: 80 less border and padding)."""
    console = Console(width=76, file=io.StringIO(), record=True)
    console.print(screen.query_one("#steps", OptionList).get_option_at_index(index).prompt)
    return console.export_text()


async def test_rating_keys_save_at_once_with_annotator_and_move_down(db):
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_labels(app, pilot)
        assert len(screen.steps) == len(split_steps(DRAFT)) == 5
        await pilot.press("plus")  # step 1 good, cursor to 2
        await pilot.press("equals_sign")  # step 2 good (= is + without shift)
        await pilot.press("0")  # step 3 neutral
        await pilot.press("minus")  # step 4 bad
        await pilot.pause()
        assert ratings(db) == {1: 1, 2: 1, 3: 0, 4: -1}, "each key is in the database before the next"
        assert shown_prompt(screen, 0).startswith("✓")
        assert shown_prompt(screen, 2).startswith("○")
        assert shown_prompt(screen, 3).startswith("✗")
        assert screen.query_one("#steps", OptionList).highlighted == 4
    rows = table(db, "select annotator, kind, created_at, undone_at from label_actions order by id")
    assert [r[:2] for r in rows] == [("alice", "rate")] * 4
    assert all(r[2] and r[3] is None for r in rows), "every action carries its time and is live"
    steps = table(db, "select step, field, rating from step_labels order by id")
    assert steps == [(1, "rating", 1), (2, "rating", 1), (3, "rating", 0), (4, "rating", -1)]


async def test_first_error_marks_bad_and_clears_later_ratings(db):
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_labels(app, pilot)
        await pilot.press("plus", "plus", "plus", "plus", "plus")  # all five good
        assert ratings(db) == dict.fromkeys(range(1, 6), 1)
        await pilot.press("up", "k", "k")  # back to step 3 (the cursor stays on 5 at the end)
        assert screen.current_step.number == 3
        await pilot.press("f")
        await pilot.pause()
        assert ratings(db) == {1: 1, 2: 1, 3: -1}, "later steps unlabelled, as PRM800K phase 2"
        assert standing(db).first_error == 3
        assert shown_prompt(screen, 3).startswith(" "), "the cleared step shows no mark"
        assert "first error: step 3" in str(screen.query_one("#label-summary", Static).render())
    assert table(db, "select kind from label_actions order by id desc limit 1") == [("first_error",)]


async def test_flag_comment_and_undo(db):
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_labels(app, pilot)
        await pilot.press("j")  # step 2
        await pilot.press("exclamation_mark")
        await pilot.pause()
        assert standing(db).steps[2].flagged
        assert "⚑" in shown_prompt(screen, 1)[:3]
        await pilot.press("m")
        await pilot.pause()
        await pilot.press(*"sign error?", "enter")
        await settle(pilot)
        assert isinstance(app.screen, LabelStepsScreen)
        assert standing(db).steps[2].comment == "sign error?"
        assert "c: sign error?" in shown_prompt(screen, 1)
        await pilot.press("m")  # the prompt offers the comment to edit
        await pilot.pause()
        assert app.screen.query_one(Input).value == "sign error?"
        await pilot.press("escape")
        await pilot.press("u")  # takes back the comment
        await pilot.pause()
        assert standing(db).steps[2].comment is None and standing(db).steps[2].flagged
        await pilot.press("exclamation_mark")  # unflag
        await pilot.pause()
        assert 2 not in standing(db).steps
        await pilot.press("u")  # takes back the unflag: flagged again
        await pilot.pause()
        assert standing(db).steps[2].flagged
        assert "⚑" in shown_prompt(screen, 1)[:3]
    kinds = table(db, "select kind, undone_at is not null from label_actions order by id")
    assert kinds == [("flag", 0), ("comment", 1), ("flag", 1)], "undo marks, never deletes"


async def test_the_critics_first_wrong_step_is_marked_in_the_gutter(db):
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_labels(app, pilot)
        assert screen.critic_step == 3
        assert "critic: ✗ here" in shown_prompt(screen, 2)
        assert "critic" not in shown_prompt(screen, 1)


async def test_labelling_keys_are_in_the_footer_and_help_and_escape_goes_back(db):
    app = make_app(db)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_labels(app, pilot)
        footer_keys = {binding.id for _, binding, enabled, _ in app.active_bindings.values() if binding.show and enabled}
        assert {"label_steps.good", "label_steps.bad", "label_steps.first_error", "label_steps.undo"} <= footer_keys
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        ids = [row[1] for row in app.screen.rows]
        assert {"label_steps.neutral", "label_steps.flag", "label_steps.comment", "label_steps.down"} <= set(ids)
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert {"label_steps", "rule_verdict", "rule_step"} <= {row[1] for row in app.screen.rows}


async def test_rulings_on_the_critics_verdict_and_step(db):
    app = make_app(db)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("v")  # agree with the verdict
        await pilot.press("w")  # agree with the step
        await pilot.press("w")  # ... no: disagree with the step
        await pilot.pause()
        body = str(app.screen.query_one(CriticPane).query_one("#critic-body", Static).render())
        assert "alice on the verdict: agree" in body
        assert "alice on the step: disagree" in body
        await pilot.press("u")  # the review screen's undo takes back the latest: the step ruling
        await pilot.pause()
        body = str(app.screen.query_one(CriticPane).query_one("#critic-body", Static).render())
        assert "alice on the step: agree" in body
    rows = table(db, "select critique_id, aspect, agrees, source, annotator from critic_rulings order by id")
    assert rows == [
        (1, "verdict", 1, "expert", "alice"),
        (1, "first_error_step", 1, "expert", "alice"),
        (1, "first_error_step", 0, "expert", "alice"),
    ]
    with Store(db) as store:
        assert labels.expert_ruling(store, 1, "first_error_step").agrees is True
        assert labels.expert_ruling(store, 1, "verdict").agrees is True
    assert table(db, "select kind, annotator, undone_at is not null from label_actions order by id") == [
        ("rule", "alice", 0), ("rule", "alice", 0), ("rule", "alice", 1)
    ]  # fmt: skip


async def test_the_answer_checks_disagreement_is_shown_in_the_critic_pane(db):
    app = make_app(db)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)  # the shown draft's answer check (56 against 50) runs and is stored
        with Store(db) as store:
            store.add_critique(Critique(attempt_id=1, verdict=Verdict.CORRECT, source=CritiqueSource.LLM, model="m"))
            labels.record_check_disagreement(store, 1)
        await pilot.press("n")  # no other item: the item is reloaded
        await settle(pilot)
        body = str(app.screen.query_one(CriticPane).query_one("#critic-body", Static).render())
        assert "answer check: disagrees with this verdict" in body


async def test_a_label_key_on_a_busy_database_gives_a_notice_and_loses_nothing(db):
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_labels(app, pilot)
        await pilot.press("plus")
        with database_held(db):
            before = len(busy_notices(app))
            await pilot.press("minus")  # step 2: refused
            await settle(pilot)
            assert app.is_running and isinstance(app.screen, LabelStepsScreen)
            assert any("rating of step 2 was not saved" in m for m in busy_notices(app)[before:])
            assert screen.current_step.number == 2, "the cursor stays on the step that was not saved"
            await pilot.press("m")
            await pilot.pause()
            await pilot.press(*"check 9*14", "enter")
            await settle(pilot)
            assert any("comment of step 2 was not saved" in m for m in busy_notices(app))
        assert ratings(db) == {1: 1}, "the refused key wrote nothing"
        await pilot.press("minus")  # the same key saves it now
        await pilot.press("k", "m")  # the refused comment is offered again
        await pilot.pause()
        assert app.screen.query_one(Input).value == "check 9*14"
        await pilot.press("enter")
        await settle(pilot)
    assert ratings(db) == {1: 1, 2: -1}
    assert standing(db).steps[2].comment == "check 9*14"


async def test_a_ruling_on_a_busy_database_gives_a_notice_and_v_saves_it(db):
    app = make_app(db)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        with database_held(db):
            await pilot.press("v")
            await settle(pilot)
            assert app.is_running
            assert any("ruling on the critic's verdict was not saved" in m for m in busy_notices(app))
        assert table(db, "select count(*) from critic_rulings") == [(0,)]
        await pilot.press("v")
        await pilot.pause()
    assert table(db, "select aspect, agrees, annotator from critic_rulings") == [("verdict", 1, "alice")]


# -- the screen at 80 columns ---------------------------------------------------------------------------


def test_labelling_screen_snapshot(db, snap_compare):
    """Gutter marks (✓ ○ ✗ ⚑ c), the critic's step and the footer at 80×24. No cursor blinks here:
    the screen has no text input, and its one timestamp-free summary line does not move."""

    async def label_some(pilot) -> None:
        await open_labels(pilot.app, pilot)
        await pilot.press("plus", "0", "exclamation_mark", "f", "k", "m")
        await pilot.pause()
        await pilot.press(*"recount", "enter")
        await settle(pilot)

    assert snap_compare(make_app(db), terminal_size=(80, 24), run_before=label_some)


async def test_step_text_and_comments_are_data_never_markup(tmp_path):
    hostile = "[bold]not bold[/bold] and \x1b[31mred?\n\nStep two [link=x]y[/link]"
    db = tmp_path / "rel.db"
    record = ImportRecord(
        problem=Problem(text="p", source="sample"),
        attempts=[Attempt(kind=AttemptKind.GENERATED, text=hostile, model="m")],
        critiques=[],
    )
    with Store(db) as store:
        store.import_records([record])
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_labels(app, pilot)
        assert screen.critic_step is None
        first = shown_prompt(screen, 0)
        assert "[bold]not bold[/bold]" in first and "\x1b" not in first and "␛[31m" in first
        await pilot.press("j", "m")
        await pilot.pause()
        await pilot.press(*"[red]x[/red]", "enter")
        await settle(pilot)
        assert "c: [red]x[/red]" in shown_prompt(screen, 1)
    assert standing(db).steps[2].comment == "[red]x[/red]"


async def test_l_with_no_attempt_says_so(tmp_path):
    db = tmp_path / "rel.db"
    with Store(db) as store:
        pending_problem(store)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("l", "v")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        messages = [n.message for n in app._notifications]
        assert any("no attempt to label" in m for m in messages)
        assert any("No LLM critique" in m for m in messages)
