"""Faster, never silent decisions: the waiting line on r and c (loopback LLM server), decision keys
during a call, reject presets, skip marks, filters that keep the expert's place, and text search
over drafts and critiques (the m009 migration), on real SQLite."""

from __future__ import annotations

import asyncio

import sqlite_utils
from llm_server import Reply
from textual.widgets import DataTable, Input, Static
from tui_data import make_app, make_db, record, reviews, settle

from rel_core import migrations
from rel_core.models import (
    Attempt,
    AttemptKind,
    Critique,
    CritiqueSource,
    Decision,
    ImportRecord,
    Verdict,
)
from rel_core.store import Store
from rel_tui.messages import DraftStarted
from rel_tui.screens.queue import QueueScreen
from rel_tui.widgets.status_bar import CallStatus


async def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def messages(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


# -- never silent -------------------------------------------------------------------------------


def seconds_shown(app, waited_for: str = "the model") -> int | None:
    """N in "waiting for <waited_for>… N s", or None when the line says something else."""
    waiting = f"waiting for {waited_for}… "
    text = text_of(app, "#call-status")
    if waiting not in text:
        return None
    return int(text.split(waiting)[1].split(" s")[0])


async def test_regenerate_shows_waiting_with_ticking_seconds_until_the_first_token(tmp_path, llm_env):
    db = make_db(tmp_path / "rel.db", count=1)
    llm_env.enqueue(Reply(text="A new draft. The answer is $\\boxed{50}$.", delay=3))
    app = make_app(db)
    shown_when_started: list[bool] = []

    def hook(message) -> None:  # the line is up before the worker even starts (building the engine can take seconds)
        if isinstance(message, DraftStarted) and not shown_when_started:
            shown_when_started.append(app.screen.query_one(CallStatus).running)

    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        await pilot.press("r", "enter")
        status = app.screen.query_one(CallStatus)
        assert status.display and seconds_shown(app) is not None
        first = seconds_shown(app)
        await wait_until(lambda: (seconds_shown(app) or 0) >= first + 1)  # the seconds tick on the UI
        await wait_until(lambda: seconds_shown(app) is None)  # the first token came: no longer "waiting"
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not status.display  # gone once the call is over
    assert shown_when_started == [True]
    with Store(db) as store:
        assert store.history(1).attempts[-1].text.endswith("A new draft. The answer is $\\boxed{50}$.")


async def test_recritique_shows_waiting_for_the_critic(tmp_path, llm_env):
    db = make_db(tmp_path / "rel.db", count=1)
    llm_env.enqueue(Reply(text='{"correct": false, "error_step": "2", "error_description": "Twice."}', delay=2.5))
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        # The seconds shown depend on how loaded the machine is; what matters is that they tick.
        first = seconds_shown(app, "the critic")
        assert first is not None, text_of(app, "#call-status")
        await wait_until(lambda: (seconds_shown(app, "the critic") or 0) > first)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.screen.query_one(CallStatus).display
        assert "critic ✗ incorrect" in text_of(app, "#verdict-line")


async def test_a_decision_key_during_a_call_says_why_it_waits(tmp_path, llm_env):
    db = make_db(tmp_path / "rel.db", count=2)
    llm_env.enqueue(Reply(text='{"correct": true}', delay=3))
    app = make_app(db)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("c")
        for key in ("a", "x", "s", "e"):
            await pilot.press(key)
        await pilot.pause()
        waits = [m for m in messages(app) if "waits for the critic on #1" in m]
        assert [m.split()[0] for m in waits] == ["a", "x", "s", "e"]
        assert app.session.problem_id == 1 and app.screen is not None and reviews(db) == []
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.press("a")
    assert [r.decision for r in reviews(db)] == [Decision.ACCEPTED]


async def test_leaving_during_a_call_says_the_call_stopped(tmp_path, llm_env):
    db = make_db(tmp_path / "rel.db", count=2)
    llm_env.enqueue(Reply(text='{"correct": true}', delay=3))
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c", "n")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.session.problem_id == 2
        assert any("Stopped the model call on #1" in m for m in messages(app))
        assert not app.screen.query_one(CallStatus).display


# -- reject presets ---------------------------------------------------------------------------------


async def test_a_number_key_rejects_with_that_preset_and_the_reason_is_shown(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x")
        assert "2  wrong reasoning" in text_of(app, "#reject-presets")
        await pilot.press("2")
        await pilot.pause()
        assert app.session.problem_id == 2
        assert any(m == "#1 rejected: wrong reasoning" for m in messages(app))
        await pilot.press("p")  # back to the rejected item: its decision and reason are on screen
        await pilot.pause()
        assert "rejected by alice: wrong reasoning" in text_of(app, "#verdict-line")
    [review] = reviews(db)
    assert (review.decision, review.note) == (Decision.REJECTED, "wrong reasoning")


async def test_digits_after_typing_are_text_and_presets_come_from_the_config(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = make_app(db, reject_presets=["copied from the reference"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x", *"step 12", "enter")  # typed: the digits are part of the reason
        await pilot.press("x", "7")  # no seventh preset: the key is typed instead
        assert app.screen.query_one("#prompt-input", Input).value == "7"
        await pilot.press("backspace", "1")
        await pilot.pause()
    assert [r.note for r in reviews(db)] == ["step 12", "copied from the reference"]


# -- skips ------------------------------------------------------------------------------------------


async def test_skipped_items_are_marked_in_status_and_queue(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = make_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")
        assert app.session.problem_id == 2
        assert "skipped" not in text_of(app, "#status")
        await pilot.press("p")
        await pilot.pause()
        assert "skipped 1×" in text_of(app, "#status") and "skipped 1×" in text_of(app, "#verdict-line")
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, QueueScreen)
        table = app.screen.query_one(DataTable)
        assert "skipped 1×" in str(table.get_cell("1", "state"))
        assert "skipped" not in str(table.get_cell("2", "state"))
    assert [r.decision for r in reviews(db)] == [Decision.SKIPPED]


# -- filters --------------------------------------------------------------------------------------------


async def test_filter_keeps_the_place_when_the_item_still_matches(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        assert app.session.problem_id == 2
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press("0")  # one key: all states; item 2 still matches
        await pilot.pause()
        assert app.session.problem_id == 2 and app.session.filter.states == ()
        assert text_of(app, "#status").startswith("queue: all states")
        assert any("still on #2" in m for m in messages(app))


async def test_one_key_state_filters_and_an_explicit_no_matches(tmp_path):
    db = make_db(tmp_path / "rel.db", count=3)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press("2")  # accepted: none yet
        await pilot.pause()
        assert app.screen.has_class("-empty")
        assert "No matches for this filter (accepted)" in text_of(app, "#empty")
        assert "No matches: accepted" in messages(app)
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press("1")  # awaiting review again
        await pilot.pause()
        assert app.session.problem_id == 1
        await pilot.press("a", "slash")
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        assert app.session.problem_id == 1  # the accepted item, found with one key


def searchable_records() -> list[ImportRecord]:
    plain = record(1)
    in_draft = record(2, draft="We tile the path with zebracorn pieces.\n\nThe answer is $\\boxed{50}$.")
    in_critique = record(3)
    in_critique.critiques[0] = in_critique.critiques[0].model_copy(update={"error_description": "A quixotic count."})
    return [plain, in_draft, in_critique]


async def test_search_finds_words_only_in_a_draft_or_only_in_a_critique(tmp_path):
    db = tmp_path / "rel.db"
    with Store(db) as store:
        store.import_records(searchable_records())
        assert store.search("zebracorn") == [2]
        assert store.search("quixotic") == [3]
        assert store.search("garden") == [1, 2, 3]  # the problems' text, as before
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        for word, expected in (("zebracorn", 2), ("quixotic", 3)):
            await pilot.press("slash")
            await pilot.pause()
            app.screen.query_one("#filter-search", Input).value = word
            await pilot.press("enter")
            await settle(pilot)
            assert app.session.problem_id == expected, word


def test_m009_indexes_drafts_and_critiques_already_stored(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    db.execute("create table _migrations (name text primary key, applied_at text)")
    names = [fn.__name__ for fn in migrations.MIGRATIONS]
    for fn in migrations.MIGRATIONS[: names.index("m009_search_attempts_and_critiques")]:  # a database from before m009
        fn(db)
        db.execute("insert into _migrations (name, applied_at) values (?, '')", [fn.__name__])
    problem_id = db["problems"].insert({"hash": "h", "text": "Old problem", "state": "awaiting_review"}).last_pk
    attempt_id = db["attempts"].insert({"problem_id": problem_id, "kind": "generated", "text": "an old zebracorn draft"}).last_pk
    db["critiques"].insert({"attempt_id": attempt_id, "verdict": "incorrect", "source": "llm", "raw": "a quixotic reply"})
    db.conn.commit()
    db.close()
    with Store(path) as store:  # opening applies m009, which indexes the rows already there
        assert "m009_search_attempts_and_critiques" in migrations.applied(store.db)
        assert store.search("zebracorn") == [problem_id]
        assert store.search("quixotic") == [problem_id]
        # and what is written afterwards, through the triggers
        store.add_attempt(Attempt(problem_id=problem_id, kind=AttemptKind.REVISED, text="now a narwhal draft"))
        store.add_critique(
            Critique(attempt_id=attempt_id, verdict=Verdict.CORRECT, source=CritiqueSource.LLM, error_description="lucid")
        )
        assert store.search("narwhal") == [problem_id] and store.search("lucid") == [problem_id]
        assert store.search("zebracorn quixotic") == []  # every word in one text, as for problems


async def test_queue_says_no_matches(tmp_path):
    db = make_db(tmp_path / "rel.db", count=2)
    app = make_app(db)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("g", "slash")
        await pilot.pause()
        await pilot.press("3")  # rejected: none
        await pilot.pause()
        assert isinstance(app.screen, QueueScreen)
        assert text_of(app, "#queue-title").startswith("No matches: rejected")
