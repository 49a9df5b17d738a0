"""The review app: builds the session on the store and shows the review screen.

The CLI hands it a database path, settings and the annotator name; it never parses arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import os
import signal
import threading
from pathlib import Path

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.worker import Worker, WorkerState

from rel_core.adjudication import Adjudication
from rel_core.answers import AnswerChecker
from rel_core.config import Settings
from rel_core.overlap import OverlapPolicy
from rel_core.review_session import LEASE_RENEW_SECONDS, ReviewSession
from rel_core.store import BUSY_TIMEOUT_SECONDS, Store
from rel_core.terminal_text import one_line
from rel_tui.database_write import database_write, rescue_dir
from rel_tui.screens.adjudicate import AdjudicateScreen
from rel_tui.screens.edit import EditScreen
from rel_tui.screens.key_bursts import not_for_the_active_screen
from rel_tui.screens.review import ReviewScreen

SAVE_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
EXIT_GRACE_SECONDS = 2.0  # after a signal, time for a clean exit before a hard one
# Imported in a thread once the first item is drawn, so the first `r` or `c` does not freeze the
# screen for the seconds the SDKs take to import.
LOOP_MODULES = ("rel_core.loop", "rel_core.providers.client")
WARM_UP = "warm-up"
WARM_UP_DELAY = 2.0  # seconds after the start: the first frames and keys do not share the CPU with it
CLAIM_WAIT_SECONDS = 0.5  # how long the claim's heartbeat and release on leaving wait for another process's lock
SDK_MODULES = {"openai": "rel_core.providers.openai_provider", "anthropic": "rel_core.providers.anthropic_provider"}


class ReviewApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "rel-tui review"
    ENABLE_COMMAND_PALETTE = False

    def __init__(
        self,
        db_path: Path,
        settings: Settings,
        annotator: str,
        *,
        handle_signals: bool = False,
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
        adjudicate: bool = False,
    ):
        """`handle_signals`: save an edit in progress on SIGHUP/SIGTERM before exiting (the CLI sets it).
        `busy_timeout`: seconds a write waits for another process's lock before it is reported.
        `adjudicate`: open the adjudication screen instead (the annotator must be in team.adjudicators)."""
        super().__init__()
        self.db_path = Path(db_path)
        self.settings = settings
        self.annotator = annotator
        self.handle_signals = handle_signals
        self.busy_timeout = busy_timeout
        self.store = Store(self.db_path, busy_timeout=busy_timeout)
        self.session = ReviewSession(
            self.store,
            annotator,
            guidelines=settings.review.guidelines,
            overlap=OverlapPolicy.from_settings(settings.team),
        )
        self.adjudication = (
            Adjudication.for_settings(self.store, settings.team, annotator, settings.review.guidelines) if adjudicate else None
        )
        self._engine = None
        self._engine_build: asyncio.Future | None = None
        self._checker = None
        self._quit_refused = False
        self.rescued: list[Path | None] = []
        """Files holding edits the database would not take when the app left (see database_write.rescue_text)."""

    def on_mount(self) -> None:
        self.theme = "nord"
        self.set_keymap(self.settings.review.keymap)
        # On the app, not a screen: the claim must stay renewed while the editor or a dialog is on top.
        self.set_interval(LEASE_RENEW_SECONDS, self.renew_claim)
        if self.handle_signals:
            self._install_signal_handlers()
        if self.adjudication is not None:
            self.push_screen(AdjudicateScreen(self.adjudication, self.session.holder))
        else:
            self.push_screen(ReviewScreen(self.session, self.db_path.name, self.settings.review.autosave_seconds))
        self.call_after_refresh(gc.freeze)
        self.set_timer(WARM_UP_DELAY, self._warm_up)
        # Once the first item is drawn, what exists (modules, widgets, styles: ~100k objects) is out of
        # the cycle collector's reach; a full collection then scans only what later items create and
        # no longer stalls a key press by ~30 ms. Reference counting still frees those objects.

    async def on_unmount(self) -> None:
        gc.unfreeze()
        self.save_pending_work()
        build = self._engine_build
        if self._engine is None and build is not None and build.done() and not build.cancelled() and not build.exception():
            self._engine = build.result()  # built for a worker that was cancelled before it got it
        if self._engine is not None:
            self._engine.close()
            await self._engine.client.aclose()
        if self._checker is not None:
            self._checker.close()  # kills its workers, which also ends a check still waiting on one
        self.release_claim()
        self.store.close()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification as plain, safe text: messages carry database and server text
        (provider errors, names), which must neither drive the terminal nor be read as markup."""
        super().notify(one_line(message), title=one_line(title), severity=severity, timeout=timeout, markup=False)

    # -- never lose work ----------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in SAVE_SIGNALS:
            loop.add_signal_handler(signum, self._save_and_exit, signum)

    def _save_and_exit(self, signum: int) -> None:
        """A dropped SSH connection (SIGHUP) or a kill (SIGTERM): keep the edit, free the item, then leave."""
        self.save_pending_work(rescue=True)
        self.release_claim()
        if self.handle_signals:
            self._arm_exit_watchdog(128 + signum)
        self.exit(return_code=128 + signum)

    @staticmethod
    def _arm_exit_watchdog(code: int) -> None:
        """Leave for sure: restoring a terminal that hung up can block forever in Textual's writer."""
        watchdog = threading.Timer(EXIT_GRACE_SECONDS, os._exit, [code])
        watchdog.daemon = True
        watchdog.start()

    def renew_claim(self) -> None:
        # Briefly: the heartbeat must not freeze the screen while another process writes (the lease
        # outlasts two missed beats).
        not_renewed = f"The claim on this item was not renewed (tried again in {LEASE_RENEW_SECONDS:.0f} s)"
        with database_write(self, not_renewed), self.session.waiting_at_most(CLAIM_WAIT_SECONDS):
            self.session.renew_claim()

    def release_claim(self) -> None:
        """Leaving: free the open item, but never wait long for it (an unreleased claim lapses by itself)."""
        not_released = "The claim on the open item was not released (it lapses by itself)"
        with database_write(self, not_released), self.session.waiting_at_most(CLAIM_WAIT_SECONDS):
            self.session.close()

    def save_pending_work(self, rescue: bool = False) -> bool:
        """Autosave an edit in progress; False if the database refused it (the text is only on screen).
        With `rescue`, such text goes to a file of its own instead (the app is leaving regardless)."""
        saved = True
        for screen in self.screen_stack:
            if isinstance(screen, EditScreen):
                screen.autosave()
                if rescue and screen.has_unstored_text:
                    self.rescued.append(screen.rescue())
                saved = saved and not screen.has_unstored_text
        return saved

    async def action_quit(self) -> None:
        """Leave, unless an edit in progress could not be stored: then stay once, so it is not lost;
        quitting again keeps it in a file (rescue_dir) and leaves. A decision waiting for the database
        (rel_tui.patient_writes) also asks once."""
        if any(isinstance(s, ReviewScreen) and s.quit_loses_work() for s in self.screen_stack):
            return
        if self.save_pending_work(rescue=self._quit_refused) or self._quit_refused:
            self.exit()
            return
        self._quit_refused = True
        self.notify(
            "Not quitting: the edit is not saved (the database is busy). Try again in a moment; "
            f"quitting once more keeps it in a file under {rescue_dir()}.",
            title="Database busy",
            severity="error",
            timeout=15,
        )

    # -- keys ---------------------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if not_for_the_active_screen(self, event):
            return  # typed into a dialog that closed meanwhile, or before a one-key confirmation opened
        await super().on_event(event)

    def key_help(self, bindings: list[Binding]) -> list[tuple[str, str, str, str]]:
        """(keys, id, description, tooltip) per binding, with the user's keymap applied."""
        keymap = self.settings.review.keymap
        rows = []
        for binding in bindings:
            keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
            shown = " / ".join(self.get_key_display(Binding(key.strip(), "")) for key in keys.split(","))
            rows.append((shown, binding.id or "", binding.description, binding.tooltip))
        return rows

    # -- the loop, built on first use (importing the SDKs is slow and needs no key until then) -----

    @work(thread=True, exclusive=True, group=WARM_UP, exit_on_error=False)
    def _warm_up(self) -> None:
        """Import the loop and the SDKs the configured models use, off the UI thread."""
        for module in LOOP_MODULES:
            importlib.import_module(module)
        for spec in {self.settings.generator, self.settings.critic}:
            provider = spec.partition(":")[0]
            if provider in SDK_MODULES:
                importlib.import_module(SDK_MODULES[provider])

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == WARM_UP and event.state == WorkerState.SUCCESS:
            gc.freeze()  # what the imports made joins what the first frame made (see on_mount)

    async def loop_engine(self):
        """The app's one LoopEngine, built in a thread on first use (imports and SDK client creation
        take seconds); the provider clients for the generator and critic are made there too."""
        if self._engine is None:
            if self._engine_build is None:
                self._engine_build = asyncio.ensure_future(asyncio.to_thread(self._build_engine, self.answer_checker()))
            try:
                # Shielded: a worker cancelled meanwhile must not lose the engine being built for the next one.
                self._engine = await asyncio.shield(self._engine_build)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._engine_build = None  # e.g. a bad template: the next r or c tries again
                raise
        return self._engine

    def _build_engine(self, checker: AnswerChecker):
        from rel_core.loop import LoopEngine
        from rel_core.providers.base import ProviderError
        from rel_core.providers.client import LLMClient

        client = LLMClient(self.settings, self.store)
        for spec in (self.settings.generator, self.settings.critic):
            with contextlib.suppress(ProviderError):  # said when the call is made, where its worker reports it
                client.provider_for(spec)
        # The engine checks before each write that this expert's claim still holds.
        return LoopEngine(self.store, client, self.settings, checker=checker, lease_owner=self.session.owner)

    def answer_checker(self) -> AnswerChecker:
        """The app's one AnswerChecker (its math-verify worker processes start on first use).

        Safe to share between concurrent checks: each takes an idle worker process for itself."""
        if self._checker is None:
            self._checker = AnswerChecker()
        return self._checker
