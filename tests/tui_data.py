"""Databases for the TUI tests and benchmark: a few problems with drafts and critiques."""

from __future__ import annotations

import contextlib
from pathlib import Path

from rel_core.config import ReviewSettings, Settings
from rel_core.models import (
    Attempt,
    AttemptKind,
    Critique,
    CritiqueSource,
    ImportRecord,
    Problem,
    ProblemState,
    Review,
    Verdict,
)
from rel_core.store import BUSY_TIMEOUT_SECONDS, Store
from rel_tui.app import ReviewApp
from rel_tui.database_write import BUSY_TITLE

BUSY_TIMEOUT = 0.2  # seconds a write waits for another connection's lock in the busy-database tests

DRAFT = """## First thoughts

The garden with the path is $(14+2)$ by $(9+2)$ metres, so its area is $16 \\cdot 11 = 176$.

## Check

The garden alone is $14 \\cdot 9 = 126$, so the path is $176 - 126 = 50$ m$^2$.

**Answer:** $\\boxed{50}$
"""


def record(number: int, text: str | None = None, draft: str = DRAFT, verdict: Verdict = Verdict.CORRECT) -> ImportRecord:
    problem = Problem(
        text=text or f"Problem {number}: a garden is 14 m by 9 m with a 1 m path around it. Area of the path?",
        reference_answer="50",
        reference_solution="$16\\cdot 11-14\\cdot 9=50$",
        source="sample",
        subject="prealgebra",
        level="1",
    )
    attempts = [
        Attempt(
            kind=AttemptKind.GENERATED,
            text=f"First draft of {number}.\n\nThe answer is $48$.",
            model="openai:gpt-4o-mini",
            final_answer="48",
        ),
        Attempt(kind=AttemptKind.REVISED, text=draft, model="openai:gpt-4o-mini", final_answer="50", hint="recount the corners"),
    ]
    critiques = [
        Critique(
            verdict=Verdict.INCORRECT,
            source=CritiqueSource.LLM,
            model="openai:gpt-4o-mini",
            first_error_step="Step 2",
            error_description="The corners were counted twice.",
        ),
        Critique(
            verdict=verdict, source=CritiqueSource.LLM, model="openai:gpt-4o-mini", first_error_step=None, error_description=None
        ),
    ]
    return ImportRecord(problem=problem, attempts=attempts, critiques=critiques)


def make_db(path: Path, count: int = 3, **kwargs) -> Path:
    with Store(path) as store:
        store.import_records(record(n, **kwargs) for n in range(1, count + 1))
    return path


def make_app(db: Path, annotator: str = "alice", *, busy_timeout: float = BUSY_TIMEOUT_SECONDS, **review) -> ReviewApp:
    """The review app on `db`; `review`: its [review] settings (keymap, autosave_seconds, ...)."""
    return ReviewApp(db, Settings(review=ReviewSettings(**review)), annotator, busy_timeout=busy_timeout)


def busy_app(db: Path, annotator: str = "alice") -> ReviewApp:
    """The review app with the short busy timeout that the busy-database tests wait out."""
    return make_app(db, annotator, busy_timeout=BUSY_TIMEOUT)


def busy_notices(app) -> list[str]:
    """The messages of the app's busy-database notifications, oldest first."""
    return [n.message for n in app._notifications if n.title == BUSY_TITLE]


def reviews(db: Path) -> list[Review]:
    """Every review in `db`, problem by problem."""
    with Store(db) as store:
        return [r for pid in store.iter_problem_ids() for r in store.history(pid).reviews]


def pending_problem(store: Store, text: str = "A problem nobody has drafted yet.") -> int:
    problem_id, _ = store.add_problem(Problem(text=text, state=ProblemState.AWAITING_REVIEW))
    return problem_id


async def settle(pilot) -> None:
    """Wait until no worker runs and no draft render is still due (a superseded render may end
    cancelled), then for the screen to update."""
    import asyncio

    while True:
        while running := [w for w in pilot.app.workers if w.is_running]:
            await asyncio.wait([asyncio.ensure_future(_quiet_wait(w)) for w in running])
        await pilot.pause()
        if not _render_due(pilot.app):
            return
        await asyncio.sleep(0.05)  # the full render starts from a short timer: let it fire


def _render_due(app) -> bool:
    from rel_tui.widgets.draft_pane import DraftPane

    return any(pane.full_render_pending for pane in app.screen.query(DraftPane))


async def _quiet_wait(worker) -> None:
    with contextlib.suppress(Exception):  # cancelled or failed: either way it no longer runs
        await worker.wait()
