"""The review screen checks the answer of a shown attempt that has no answer check: real app, real
SQLite, real AnswerChecker; the worker is awaited, never slept on."""

from __future__ import annotations

from rel_core.answers import AnswerChecker
from rel_core.config import Settings
from rel_core.models import Attempt, AttemptKind, CritiqueSource, ImportRecord, Problem
from rel_core.store import Store
from rel_tui.app import ReviewApp
from rel_tui.messages import AnswerChecked


def imported_db(path, draft: str, reference_answer: str | None = "8"):
    """One problem awaiting review with one imported draft, as the importers store it."""
    problem = Problem(text="What is $3 + 5$?", reference_answer=reference_answer)
    with Store(path) as store:
        store.import_records([ImportRecord(problem=problem, attempts=[Attempt(kind=AttemptKind.IMPORTED, text=draft)])])
    return path


def check_critiques(db) -> list:
    with Store(db) as store:
        return [c for c in store.history(1).critiques if c.source == CritiqueSource.CHECK]


def critic_text(app: ReviewApp) -> str:
    return str(app.screen.query_one("#critic-body").render())


def recorder(seen: list):
    def hook(message) -> None:  # a message is seen once per node it bubbles through
        if isinstance(message, AnswerChecked) and message not in seen:
            seen.append(message)

    return hook


async def test_a_correct_imported_draft_shows_a_correct_answer_check(tmp_path):
    db = imported_db(tmp_path / "rel.db", "Three and five make $\\boxed{8}$.")
    seen: list = []
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 48), message_hook=recorder(seen)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        text = critic_text(app)
        assert "Answer check\n✓ correct" in text, text
        assert "'8' matches the reference exactly" in text
    [message] = seen
    [stored] = check_critiques(db)
    assert message.critique == stored


async def test_math_verify_runs_in_the_checker_processes_and_keys_still_work(tmp_path):
    db = imported_db(tmp_path / "rel.db", "Counting on from 3 gives $\\boxed{7.0}$.")
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("t", "t")  # the draft view toggles while math-verify starts up
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert "Answer check\n✗ incorrect" in critic_text(app)
        assert "is not equivalent to the reference" in critic_text(app)
        checker = app.answer_checker()
    assert all(worker.process is None for worker in checker._workers)  # closed with the app
    assert [c.verdict for c in check_critiques(db)] == ["incorrect"]


async def test_a_checked_attempt_is_not_checked_again(tmp_path):
    db = imported_db(tmp_path / "rel.db", "Three and five make $\\boxed{8}$.")
    for _ in range(2):
        seen: list = []
        app = ReviewApp(db, Settings(), "alice")
        async with app.run_test(message_hook=recorder(seen)) as pilot:
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            assert "✓ correct" in critic_text(app)
    assert seen == []  # the second app found the check stored and started none
    assert len(check_critiques(db)) == 1


async def test_no_reference_answer_leaves_the_check_not_run(tmp_path):
    db = imported_db(tmp_path / "rel.db", "It is $\\boxed{8}$.", reference_answer=None)
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test() as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert "Answer check\nnot checkable (no reference answer)" in critic_text(app)
        assert app._checker is None  # nothing to check: no worker processes started
    assert check_critiques(db) == []


async def test_a_failing_check_is_reported_and_the_app_goes_on(tmp_path, monkeypatch):
    class UnstartableChecker(AnswerChecker):
        async def check(self, text, reference):
            raise OSError("cannot start the answer worker")

    monkeypatch.setattr("rel_tui.app.AnswerChecker", UnstartableChecker)
    db = imported_db(tmp_path / "rel.db", "Counting on from 3 gives $\\boxed{7}$.")
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test() as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert "Answer check\nnot run" in critic_text(app)
        assert any("cannot start the answer worker" in str(n.message) for n in app._notifications)
        await pilot.press("a")  # still reviewing: the accept is recorded
    with Store(db) as store:
        assert [r.decision for r in store.history(1).reviews] == ["accepted"]
    assert check_critiques(db) == []


async def test_a_check_that_times_out_shows_unknown(tmp_path, monkeypatch):
    class Impatient(AnswerChecker):
        def __init__(self) -> None:
            super().__init__(workers=1, timeout=0.001)
            self.warm()
            self._workers[0].answered = 1  # no start-up allowance, so the tiny deadline bites

    monkeypatch.setattr("rel_tui.app.AnswerChecker", Impatient)
    db = imported_db(tmp_path / "rel.db", "So it is $\\boxed{(x+1)^2 - 2x}$.", reference_answer="x^2+1")
    app = ReviewApp(db, Settings(), "alice")
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert "Answer check\n? unknown" in critic_text(app)
        assert "did not finish in time" in critic_text(app)
