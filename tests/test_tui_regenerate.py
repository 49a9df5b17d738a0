"""Regenerate with a hint against the loopback LLM server: the real LLMClient and LoopEngine, streaming."""

from __future__ import annotations

import asyncio

from llm_server import Reply
from textual.widgets import TextArea
from tui_data import make_db

from rel_core.config import Settings
from rel_core.models import AttemptKind, ProblemState
from rel_core.store import Store
from rel_tui.app import ReviewApp
from rel_tui.messages import DraftChunk, DraftFinished, DraftStarted
from rel_tui.widgets.draft_pane import DraftPane

REVISED = "Revised draft.\n\nThe path adds a 16 by 11 rectangle minus the garden.\n\nThe answer is $\\boxed{50}$."


async def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def raw_text(app) -> str:
    return app.screen.query_one("#draft-raw", TextArea).text


SLOW_DRAFT = Reply(text=" ".join(["slow"] * 200), chunk_delay=0.05)  # streams for about 10 s


async def start_slow_regeneration(app, pilot) -> DraftPane:
    """Press r, accept the empty hint, and wait until the new draft is streaming into the pane."""
    await pilot.press("r", "enter")
    pane = app.screen.query_one(DraftPane)
    await wait_until(lambda: pane.streaming and "slow" in raw_text(app))
    return pane


async def test_regenerate_streams_into_the_pane_and_stores_the_attempt(tmp_path, llm_env):
    db = make_db(tmp_path / "rel.db", count=2)
    words = REVISED.split(" ")
    # 0.2 s between words: "The answer is" comes seconds after the first words, so a loaded
    # machine still shows the draft part-way and in several updates.
    llm_env.enqueue(Reply(text=REVISED, chunks=[w + " " for w in words[:-1]] + [words[-1]], chunk_delay=0.2))
    app = ReviewApp(db, Settings(), "alice")
    messages: list = []

    def hook(message) -> None:  # each message is seen once per node it bubbles through
        if isinstance(message, (DraftStarted, DraftChunk, DraftFinished)) and message not in messages:
            messages.append(message)

    async with app.run_test(size=(160, 48), message_hook=hook) as pilot:
        await pilot.press("r", *"count the corners once", "enter")
        pane = app.screen.query_one(DraftPane)
        # Still streaming, the UI shows partial text.
        await wait_until(lambda: pane.streaming and "Revised draft." in raw_text(app) and "The answer is" not in raw_text(app))
        await pilot.press("t", "t")  # keys still work while it streams
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not pane.streaming
        shown = app.screen.attempt
        # A revision continues the earlier trace: the stored attempt ends with the streamed text.
        assert shown.kind == AttemptKind.REVISED and shown.text.endswith(REVISED)
    kinds = [type(m).__name__ for m in messages]
    assert kinds[0] == "DraftStarted" and kinds[-1] == "DraftFinished"
    assert set(kinds[1:-1]) == {"DraftChunk"} and len(kinds) > 3  # streamed in several updates
    request = llm_env.requests[0]
    assert "count the corners once" in request.prompt
    with Store(db) as store:
        history = store.history(1)
        assert history.attempts[-1].text.endswith(REVISED)
        assert history.attempts[-1].hint == "count the corners once"
        assert history.attempts[-1].parent_id == history.attempts[-2].id
        assert history.problem.state == ProblemState.AWAITING_REVIEW
        assert history.critiques_for(history.attempts[-1].id)  # the answer check ran


async def test_escape_cancels_regeneration(tmp_path, llm_env):
    db = make_db(tmp_path / "rel.db", count=2)
    llm_env.enqueue(SLOW_DRAFT)
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        original = app.screen.attempt
        pane = await start_slow_regeneration(app, pilot)
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not pane.streaming
        assert app.screen.attempt.id == original.id
        await pilot.press("a")  # still responsive: the decision goes through
    with Store(db) as store:
        history = store.history(1)
        assert len(history.attempts) == 2  # the cancelled draft was never stored
        assert history.problem.state == ProblemState.ACCEPTED


async def test_leaving_the_item_stops_its_regeneration(tmp_path, llm_env):
    db = make_db(tmp_path / "rel.db", count=2)
    llm_env.enqueue(SLOW_DRAFT)
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        pane = await start_slow_regeneration(app, pilot)
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert app.session.problem_id == 2
        assert not pane.streaming
    with Store(db) as store:
        assert len(store.history(1).attempts) == 2


async def test_recritique_runs_the_llm_critic(tmp_path, llm_env):
    db = make_db(tmp_path / "rel.db", count=1)
    llm_env.enqueue('{"correct": false, "error_step": "2", "error_description": "The corners are counted twice."}')
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        shown = app.screen.attempt
        before = len(app.session.current.critiques_for(shown.id))
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        critic_text = str(app.screen.query_one("#critic-body").render())
        assert "The corners are counted twice." in critic_text
    with Store(db) as store:
        critiques = store.history(1).critiques_for(shown.id)
        assert len(critiques) > before
        assert critiques[-1].error_description == "The corners are counted twice."


async def test_no_decision_on_a_draft_that_is_being_replaced(tmp_path, llm_env):
    db = make_db(tmp_path / "rel.db", count=2)
    llm_env.enqueue(SLOW_DRAFT)
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        pane = await start_slow_regeneration(app, pilot)
        await pilot.press("a", "s", "x")  # ignored while the new draft streams in
        assert app.session.problem_id == 1 and pane.streaming
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.press("a")  # the stream is gone: the decision goes through
    with Store(db) as store:
        history = store.history(1)
        assert [r.decision for r in history.reviews] == ["accepted"]
        assert history.reviews[0].attempt_id == history.attempts[-1].id
