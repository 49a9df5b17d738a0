"""`rel-tui --auto`: the headless loop over the queue, with progress on stderr."""

from __future__ import annotations

import asyncio
import gc
import os
import sqlite3
import sys
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import TYPE_CHECKING

import click

from rel_core.checking import PlainNumberChecker
from rel_core.claims import HeldClaims, local_time
from rel_core.config import ConfigError, Settings, apply_cli_overrides
from rel_core.loop import LoopEngine
from rel_core.models import ProblemState
from rel_core.prompts import TemplateError, Templates
from rel_core.providers.base import ProviderError, split_spec
from rel_core.providers.pricing import price_for
from rel_core.runner import (
    OUTPUT_CLOSED,
    ProblemOutcome,
    Runner,
    RunObserver,
    RunStats,
    StopReason,
    is_disk_full,
)
from rel_core.store import SEARCH_WAIT_SECONDS, Store
from rel_core.terminal_text import one_line
from rel_tui.context import CliContext, load_bundled_if_empty

if TYPE_CHECKING:  # Rich is imported where a bar or a table is drawn: plain lines need none of it
    from rich.console import Console

EXIT_OK = 0
EXIT_STOPPED = 1  # a fatal provider error, a systemic internal error, an unreachable server or a full disk stopped the run
EXIT_CONFIG = 2
EXIT_ERRORED = 3  # the run ended on its own (queue worked, limit, budget) but some problems errored in it
EXIT_INTERRUPTED = 130


def run_auto(
    obj: CliContext,
    *,
    limit: int | None = None,
    concurrency: int | None = None,
    max_iterations: int | None = None,
    generator: str | None = None,
    critic: str | None = None,
    budget: float | None = None,
    retry_errored: bool = False,
    batch: bool = False,
    no_wait: bool = False,
    poll_seconds: float = 30.0,
    workers: int = 1,
) -> int:
    try:
        settings = apply_cli_overrides(
            obj.settings(),
            concurrency=concurrency,
            max_iterations=max_iterations,
            generator=generator,
            critic=critic,
            budget=budget,
        )
    except ConfigError as exc:
        return config_error(str(exc))
    problem = config_problem(settings)
    if problem:
        return config_error(problem)
    if workers > 1:
        from rel_tui.commands.auto_workers import run_workers

        return run_workers(obj, settings, workers, limit=limit, retry_errored=retry_errored)
    with obj.open_store() as store:
        try:
            if batch:
                repeated = repeated_options(
                    obj, limit=limit, budget=budget, generator=generator, critic=critic, max_iterations=max_iterations
                )
                return asyncio.run(_main_batch(store, settings, limit, retry_errored, not no_wait, poll_seconds, repeated))
            return asyncio.run(_main(store, settings, limit, retry_errored))
        except BrokenPipeError:  # `| head`, a killed --workers parent: the run stopped as if interrupted
            return output_closed()
        except Exception as exc:  # the runner stops on a full disk itself; this is before or after it
            if not is_disk_full(exc):
                raise
            click.echo(f"Error: {one_line(store.path)}: {one_line(exc)}; free some space, then rerun", err=True)
            return EXIT_STOPPED
        finally:
            index_for_search(store)


def output_closed() -> int:
    """Nobody reads our output any more: stop writing to it (the interpreter's last flush included)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            os.dup2(devnull, stream.fileno())
    os.close(devnull)
    return EXIT_INTERRUPTED


def index_for_search(store: Store) -> None:
    """The run's drafts and critiques, indexed for the review screen's search in bulk, once (m013 says
    why not at every step). Nothing is lost if this fails or is interrupted: the next search does it."""
    with suppress(sqlite3.Error, KeyboardInterrupt):
        store.catch_up_search(wait_seconds=SEARCH_WAIT_SECONDS)


def config_error(message: str) -> int:
    click.echo(f"Error: {one_line(message)}", err=True)  # one line: never wrapped to the terminal's width
    return EXIT_CONFIG


def config_problem(settings: Settings) -> str | None:
    """What stops the run before it starts (bad model spec, unusable templates), in one line."""
    try:
        split_spec(settings.generator)
        split_spec(settings.critic)
        Templates(settings.loop.template_dir)
    except (ProviderError, TemplateError) as exc:
        return str(exc)
    return None


async def _main(store: Store, settings: Settings, limit: int | None, retry_errored: bool) -> int:
    from rel_core.providers.client import LLMClient

    client = LLMClient(settings, store)
    try:
        try:  # a missing API key is found now, not on every problem
            with importing_for_the_run():  # the provider's SDK, on first use
                client.provider_for(settings.generator)
                client.provider_for(settings.critic)
        except ProviderError as exc:
            return config_error(str(exc))
        load_bundled_if_empty(store)
        warn_unenforceable_budget(settings)
        stats = await _run(store, client, settings, limit, retry_errored)
    finally:
        await client.aclose()
    if stats.stop_detail == OUTPUT_CLOSED:  # a summary nobody can read would only fail again
        return output_closed()
    print_summary(stats)
    return exit_code(stats)


@contextmanager
def importing_for_the_run():
    """Imports (an SDK's hundreds of classes) make no garbage, so the cyclic collector is paused
    while they run and what they made is then frozen: the collections a long run makes never walk
    it again (gc.freeze). Measured: about a tenth of the start's CPU, and less per call."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


async def _run(store: Store, client, settings: Settings, limit: int | None, retry_errored: bool) -> RunStats:
    # math-verify's workers start when a check first needs them, not before the first call: plain
    # integers are checked in-process, so a numeric queue may never need them at all.
    engine = LoopEngine(store, client, settings, checker=PlainNumberChecker())
    observer = BarObserver() if sys.stderr.isatty() else LineObserver()
    runner = Runner(store, engine, settings, limit=limit, retry_errored=retry_errored, observer=observer)
    try:
        return await runner.run(handle_signals=True)
    finally:
        engine.close()


def warn_unenforceable_budget(settings: Settings) -> None:
    """A budget counts only priced calls: say so, once per model, when a model has no known price."""
    budget = settings.loop.budget_usd
    if budget is None:
        return
    for spec in dict.fromkeys([settings.generator, settings.critic]):
        if price_for(spec, settings) is None:
            spec = one_line(spec)
            click.echo(
                f"Warning: the ${budget:g} budget cannot be enforced for {spec}: it has no known price, so its calls "
                f'count as $0; set one in rel.toml: [models."{spec}"] input_per_million = ..., output_per_million = ... (USD)',
                err=True,
            )


STOPPED_WITH_ERROR = (
    StopReason.FATAL,
    StopReason.INTERNAL,
    StopReason.UNREACHABLE,
    StopReason.DISK_FULL,
    StopReason.REPEATED_PROVIDER,
)


def exit_code(stats: RunStats) -> int:
    """A stop for a reason of its own keeps its code (1, 130); otherwise a run in which any problem
    errored is not a success (3): an overnight script that checks $? must not take it for one."""
    if stats.stop_reason in STOPPED_WITH_ERROR:
        click.echo(f"Error: run stopped: {one_line(stats.stop_detail)}", err=True)
        return EXIT_STOPPED
    if stats.stop_reason == StopReason.INTERRUPTED:
        return EXIT_INTERRUPTED
    if stats.errored:
        problems = f"{stats.errored} problem{'' if stats.errored == 1 else 's'}"
        click.echo(
            f"Error: {problems} errored in this run (see rel-tui status); fix the cause, then rerun with --retry-errored",
            err=True,
        )
        return EXIT_ERRORED
    return EXIT_OK


# -- progress ------------------------------------------------------------------------------------
# Every line below that holds text from a server or the database (error details, holder names)
# passes it through `one_line`: data never drives the terminal, and each line stays one line.


def waiting_line(held: list[HeldClaims], give_up_at: datetime) -> str:
    """`waiting for 3 problems claimed by others: 2 by auto bob@box2 pid 41 (lease to 10:42:13), ...`"""
    total = sum(h.count for h in held)
    holders = ", ".join(f"{h.count} by {one_line(h.holder)} (lease to {local_time(h.until)})" for h in held)
    return (
        f"waiting for {total} problem{'' if total == 1 else 's'} claimed by others: {holders}; "
        f"waiting at most until {give_up_at.astimezone().strftime('%H:%M:%S')}"
    )


def reclaimed_line(freed: dict[str, int]) -> str:
    parts = ", ".join(f"{count} from {one_line(label)}" for label, count in freed.items())
    return f"took over claims left by holders no longer running: {parts}"


def requeued_note(stats: RunStats) -> str:
    """What --retry-errored put back in the queue: only what this run will take, under a --limit."""
    if not stats.requeued:
        return ""
    return f"; {stats.requeued} errored problem{'' if stats.requeued == 1 else 's'} put back in the queue"


def _rate(stats: RunStats) -> float:
    """Problems finished per minute."""
    return stats.done / stats.elapsed * 60 if stats.elapsed > 0 else 0.0


def _eta(stats: RunStats) -> str:
    rate = _rate(stats)
    if rate <= 0:
        return "-"
    seconds = int(max(0, stats.total - stats.done) / rate * 60)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class BarObserver(RunObserver):
    """A Rich progress bar on stderr, for a terminal."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]REL"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]✓{task.fields[verified]}[/] [yellow]✗{task.fields[failed]}[/] [red]!{task.fields[errored]}[/]"),
            TextColumn("{task.fields[tokens]} tok {task.fields[spend]}"),
            TextColumn("{task.fields[rate]}/min ETA {task.fields[eta]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self.task = None

    def on_start(self, stats: RunStats) -> None:
        self.progress.start()
        self.task = self.progress.add_task("loop", total=stats.total, **self._fields(stats))
        if stats.requeued:
            self._print(f"rel-tui --auto: {requeued_note(stats).removeprefix('; ')}")

    def on_problem_done(self, outcome: ProblemOutcome, stats: RunStats) -> None:
        if outcome.state == ProblemState.ERRORED:  # one line above the bar: why it errored
            self._print(f"problem {outcome.problem_id}: errored: {one_line(outcome.detail)}")
        self.on_progress(stats)

    def on_waiting(self, held: list[HeldClaims], give_up_at: datetime, stats: RunStats) -> None:
        self._print(waiting_line(held, give_up_at))

    def on_reclaimed(self, freed: dict[str, int], stats: RunStats) -> None:
        self._print(reclaimed_line(freed))

    def _print(self, line: str) -> None:
        """One line above the bar."""
        self.progress.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def on_progress(self, stats: RunStats) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=stats.done, **self._fields(stats))

    def on_finish(self, stats: RunStats) -> None:
        self.on_progress(stats)
        self.progress.stop()

    @staticmethod
    def _fields(stats: RunStats) -> dict[str, str | int]:
        return {
            "verified": stats.verified,
            "failed": stats.failed,
            "errored": stats.errored,
            "tokens": f"{stats.tokens:,}",
            "spend": stats.spend().describe(),
            "rate": f"{_rate(stats):.1f}",
            "eta": _eta(stats),
        }


class LineObserver(RunObserver):
    """One plain line per finished problem, for logs and pipes."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console  # None: plain lines on stderr

    def on_start(self, stats: RunStats) -> None:
        others = f" ({stats.held_by_others} more claimed by others)" if stats.held_by_others else ""
        self._print(f"rel-tui --auto: {stats.total} problems to work{others}{requeued_note(stats)}")

    def on_problem_done(self, outcome: ProblemOutcome, stats: RunStats) -> None:
        state = outcome.state.value if outcome.state else "abandoned"
        line = (
            f"[{stats.done}/{stats.total}] problem {outcome.problem_id}: {state} "
            f"({outcome.attempts} attempt{'' if outcome.attempts == 1 else 's'}, {outcome.seconds:.1f}s; "
            f"run: {stats.tokens} tokens, spend {stats.spend().describe()})"
        )
        if outcome.detail:
            line += f": {one_line(outcome.detail)}"
        self._print(line)

    def on_waiting(self, held: list[HeldClaims], give_up_at: datetime, stats: RunStats) -> None:
        self._print(waiting_line(held, give_up_at))

    def on_reclaimed(self, freed: dict[str, int], stats: RunStats) -> None:
        self._print(reclaimed_line(freed))

    def _print(self, line: str) -> None:
        """`line` is already safe for a terminal (every piece of data in it went through one_line)."""
        if self.console is None:  # a plain write: Rich's rendering of a line cost more than the rest of a problem's bookkeeping
            sys.stderr.write(f"{line}\n")
        else:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)


def print_summary(stats: RunStats) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="rel-tui --auto", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("stopped because", stats.stop_reason + (f" ({one_line(stats.stop_detail)})" if stats.stop_detail else "")),
        ("problems finished", f"{stats.done} of {stats.total}"),
        ("verified, awaiting review", str(stats.verified)),
        ("failed", str(stats.failed)),
        ("errored", str(stats.errored)),
        ("abandoned (resume later)", str(stats.abandoned)),
        *([("still claimed by others", str(stats.held_by_others))] if stats.held_by_others else []),
        ("LLM calls", f"{stats.calls + stats.failed_calls} ({stats.failed_calls} failed)"),
        ("tokens in / out", f"{stats.input_tokens:,} / {stats.output_tokens:,}"),
        ("spend", stats.spend().describe()),
        ("time", f"{stats.elapsed:.1f}s"),
    ]
    for name, value in rows:
        table.add_row(name, Text(value))  # Text, not markup: a detail from a server may hold [brackets]
    Console(stderr=True).print(table)


# -- --batch: rounds of steps as provider batches (rel_core/batch.py) ----------------------------------


def repeated_options(obj: CliContext, **options: object) -> list[str]:
    """The options a run that collects this one's batches must repeat to go on with the same problems
    (--limit), the same spend limit and the same models: `--limit 4 --budget 5`."""
    repeated = ["--config", obj.config_path] if obj.config_path else []
    for name, value in options.items():
        if value is not None:
            repeated += [f"--{name.replace('_', '-')}", f"{value:g}" if isinstance(value, float) else str(value)]
    return repeated


async def _main_batch(
    store: Store,
    settings: Settings,
    limit: int | None,
    retry_errored: bool,
    wait: bool,
    poll_seconds: float,
    repeated: list[str] | None = None,
) -> int:
    from rel_core.batch import BatchRunner
    from rel_core.providers.client import LLMClient

    client = LLMClient(settings, store)
    engine = LoopEngine(store, client, settings)
    observer = BatchBarObserver() if sys.stderr.isatty() else BatchLineObserver()
    runner = BatchRunner(
        store,
        client,
        engine,
        settings,
        wait=wait,
        poll_seconds=poll_seconds,
        limit=limit,
        retry_errored=retry_errored,
        observer=observer,
    )
    try:
        try:  # a missing key, or a server with no batch API, is found now: one line, exit 2
            client.provider_for(settings.generator)
            client.provider_for(settings.critic)
            await runner.check_batch_api()
        except ProviderError as exc:
            if not exc.fatal:  # e.g. the server cannot be reached: nothing was sent
                click.echo(f"Error: {one_line(exc)}", err=True)
                return EXIT_STOPPED
            return config_error(str(exc))
        load_bundled_if_empty(store)
        stats = await _run_batches(runner)
    finally:
        engine.close()
        await client.aclose()
    print_summary(stats)
    return batch_exit_code(stats, store, repeated)


async def _run_batches(runner):
    import signal

    from rel_core.runner import SIGNALS

    loop = asyncio.get_running_loop()
    for sig in SIGNALS:  # stop polling; batches stay live and recorded, a later run collects them
        loop.add_signal_handler(sig, runner.stop, StopReason.INTERRUPTED, signal.Signals(sig).name)
    try:
        return await runner.run()
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)


def batch_exit_code(stats, store: Store, repeated: list[str] | None = None) -> int:
    from rel_core.batch import BatchStopReason

    collect = f"collect with: {collect_command(store, repeated or [])}"
    if stats.stop_reason == BatchStopReason.SUBMITTED:
        requests = sum(b.requests for b in stats.batches)
        click.echo(
            f"{_count(len(stats.batches), 'batch', 'batches')} in flight ({_count(requests, 'request')}); {collect}", err=True
        )
        return EXIT_OK
    if stats.stop_reason == BatchStopReason.REFUSED:
        click.echo(f"Error: run stopped: {one_line(stats.stop_detail)}", err=True)
        return EXIT_STOPPED
    if stats.stop_reason == StopReason.INTERRUPTED and stats.batches:
        click.echo(f"interrupted: {_count(len(stats.batches), 'batch', 'batches')} still in flight; {collect}", err=True)
    return exit_code(stats)


def collect_command(store: Store, repeated: list[str]) -> str:
    """The command to paste, quoted for a shell: it collects, then goes on as this run would have
    (without --limit, a collecting run goes on to the rest of the queue)."""
    import shlex

    words = ["rel-tui", "--db", str(store.path), "--auto", "--batch", *repeated]
    return one_line(shlex.join(words))


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def batch_line(view) -> str:
    """`batch #3 openai:gpt-4o-mini batch_abc: in_progress, 12/40 requests done`"""
    where = one_line(view.provider_batch_id or "(submitting)")
    return f"batch {one_line(view.label)} {where}: {one_line(view.provider_status or view.state)}, {view.done}/{view.requests} requests done"


class BatchLineObserver(LineObserver):
    """Plain lines: each batch's state after every poll, when it changed."""

    def __init__(self, console: Console | None = None) -> None:
        super().__init__(console)
        self._last: dict[int, str] = {}

    def on_start(self, stats: RunStats) -> None:
        self._print(f"rel-tui --auto --batch: {stats.total} problems to work")

    def on_batches(self, batches, stats) -> None:
        for view in batches:
            line = batch_line(view)
            if self._last.get(view.id) != line:
                self._last[view.id] = line
                self._print(line)

    def on_line(self, line: str) -> None:
        self._print(line)

    def on_problem_done(self, outcome: ProblemOutcome, stats: RunStats) -> None: ...


class BatchBarObserver(BatchLineObserver):
    """Rich bars on a terminal: the problems settled, and one bar per batch in flight (state, requests done)."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        super().__init__(console or Console(stderr=True, highlight=False, soft_wrap=True))
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._problems = None
        self._tasks: dict[int, object] = {}

    def on_start(self, stats: RunStats) -> None:
        self.progress.start()
        self._problems = self.progress.add_task("REL", total=stats.total, info=self._info(stats))

    def on_batches(self, batches, stats) -> None:
        from rich.text import Text

        shown = {view.id for view in batches}
        for batch_id in [b for b in self._tasks if b not in shown]:
            self.progress.remove_task(self._tasks.pop(batch_id))
        for view in batches:
            info = Text(f"{view.provider_status or view.state} {view.provider_batch_id or ''}")
            if view.id not in self._tasks:
                self._tasks[view.id] = self.progress.add_task(Text(view.label), total=view.requests, info=info)
            self.progress.update(self._tasks[view.id], completed=view.done, info=info)
        self.on_progress(stats)

    def on_progress(self, stats: RunStats) -> None:
        if self._problems is not None:
            self.progress.update(self._problems, completed=stats.done, total=max(stats.total, stats.done), info=self._info(stats))

    def on_finish(self, stats: RunStats) -> None:
        self.on_progress(stats)
        self.progress.stop()

    def _print(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    @staticmethod
    def _info(stats: RunStats) -> str:
        from rich.markup import escape

        return (
            f"[green]✓{stats.verified}[/] [yellow]✗{stats.failed}[/] [red]!{stats.errored}[/] "
            f"{stats.tokens:,} tok {escape(stats.spend().describe())}"
        )
