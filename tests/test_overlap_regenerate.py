"""`r` and `c` on overlap items: refused with the reason, before any model call; other items of the
same team project regenerate as before. The real app, LLMClient and loopback server."""

from __future__ import annotations

from llm_server import Reply
from tui_data import make_db, settle

from rel_core.config import Settings, TeamSettings
from rel_core.models import AttemptKind
from rel_core.store import Store
from rel_tui.app import ReviewApp

REVISED = "Revised draft.\n\nThe path is $176 - 126$.\n\nThe answer is $\\boxed{50}$."
CRITIQUE = '{"correct": false, "error_step": "2", "error_description": "The corners are counted twice."}'
# Problem 1 is the only overlap item: overlap is limited to its source.
TEAM = Settings(team=TeamSettings(overlap=1.0, overlap_k=2, overlap_sources=["olympiad"]))


def team_db(tmp_path):
    db = make_db(tmp_path / "team.db", count=2)
    with Store(db) as store, store.transaction():
        store.conn.execute("update problems set source = 'olympiad' where id = 1")
    return db


def messages(app) -> str:
    return " | ".join(str(n.message) for n in app._notifications)


def counts(db) -> tuple[int, int]:
    """Attempts, and LLM critiques (showing an item stores its answer check: the same for everyone)."""
    with Store(db) as store:
        return (
            store.conn.execute("select count(*) from attempts").fetchone()[0],
            store.conn.execute("select count(*) from critiques where source = 'llm'").fetchone()[0],
        )


async def test_r_and_c_on_an_overlap_item_are_refused_with_the_reason_and_call_no_model(tmp_path, llm_env):
    db = team_db(tmp_path)
    before = counts(db)
    llm_env.enqueue(REVISED)
    llm_env.enqueue(CRITIQUE)
    app = ReviewApp(db, TEAM, "alice")
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        assert app.session.problem_id == 1
        await pilot.press("r")
        await pilot.press("enter")  # would accept an empty hint if the dialog had opened
        await pilot.press("c")
        await settle(pilot)
        said = messages(app)
        assert said.count("#1 is an overlap item") == 2, said
        assert "claimed by another worker" not in said and "failed" not in said.lower()
        assert app.session.problem_id == 1  # enter did not decide or move anything
    assert llm_env.requests == []  # refused before any call: nothing spent, nothing stored
    assert counts(db) == before
    with Store(db) as store:
        assert store.history(1).reviews == []


async def test_r_and_c_on_an_item_that_does_not_overlap_still_call_the_model(tmp_path, llm_env):
    db = team_db(tmp_path)
    llm_env.enqueue(REVISED)
    llm_env.enqueue(CRITIQUE)  # the critic judges the new draft (the check alone cannot: critic_when_correct)
    llm_env.enqueue(CRITIQUE)
    app = ReviewApp(db, TEAM, "alice")
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert app.session.problem_id == 2
        await pilot.press("r", *"recount", "enter")
        await settle(pilot)
        assert app.screen.attempt.kind == AttemptKind.REVISED and app.screen.attempt.text.endswith(REVISED)
        await pilot.press("c")
        await settle(pilot)
        assert "overlap item" not in messages(app)
    assert llm_env.requests and "recount" in llm_env.requests[0].prompt
    with Store(db) as store:
        new = store.history(2).attempts[-1]
        assert new.hint == "recount"
        assert any(c.error_description == "The corners are counted twice." for c in store.history(2).critiques_for(new.id))


async def test_without_a_team_the_same_item_regenerates(tmp_path, llm_env):
    """The refusal is the overlap rule, not something about the item: with no [team], r on #1 runs."""
    db = team_db(tmp_path)
    llm_env.enqueue(Reply(text=REVISED))
    llm_env.enqueue(CRITIQUE)
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        assert app.session.problem_id == 1
        await pilot.press("r", "enter")
        await settle(pilot)
        assert "overlap item" not in messages(app)
    assert llm_env.requests
    with Store(db) as store:
        assert store.history(1).attempts[-1].text.endswith(REVISED)
