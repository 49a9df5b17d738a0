"""`rel-tui --auto`: the headless loop over the queue, with progress on stderr."""

from __future__ import annotations

import asyncio
import sys

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from rel_core.config import ConfigError, Settings, apply_cli_overrides
from rel_core.loop import LoopEngine
from rel_core.models import ProblemState
from rel_core.prompts import TemplateError, Templates
from rel_core.providers.base import ProviderError, split_spec
from rel_core.providers.pricing import Spend, price_for
from rel_core.runner import ProblemOutcome, Runner, RunObserver, RunStats, StopReason
from rel_core.store import Store
from rel_tui.cli import CliContext, load_bundled_if_empty

EXIT_OK = 0
EXIT_STOPPED = 1  # a fatal provider error (auth, quota, unknown model) or a systemic internal error stopped the run
EXIT_CONFIG = 2
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
    with obj.open_store() as store:
        return asyncio.run(_main(store, settings, limit, retry_errored))


def config_error(message: str) -> int:
    click.echo(f"Error: {message}", err=True)  # one line: never wrapped to the terminal's width
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
            client.provider_for(settings.generator)
            client.provider_for(settings.critic)
        except ProviderError as exc:
            return config_error(str(exc))
        load_bundled_if_empty(store)
        warn_unenforceable_budget(settings)
        stats = await _run(store, client, settings, limit, retry_errored)
    finally:
        await client.aclose()
    print_summary(stats)
    return exit_code(stats)


async def _run(store: Store, client, settings: Settings, limit: int | None, retry_errored: bool) -> RunStats:
    engine = LoopEngine(store, client, settings)
    engine.checker.warm()
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
            click.echo(
                f"Warning: the ${budget:g} budget cannot be enforced for {spec}: it has no known price, so its calls "
                f'count as $0; set one in rel.toml: [models."{spec}"] input_per_million = ..., output_per_million = ... (USD)',
                err=True,
            )


def exit_code(stats: RunStats) -> int:
    if stats.stop_reason in (StopReason.FATAL, StopReason.INTERNAL, StopReason.UNREACHABLE, StopReason.REPEATED_PROVIDER):
        click.echo(f"Error: run stopped: {stats.stop_detail}", err=True)
        return EXIT_STOPPED
    if stats.stop_reason == StopReason.INTERRUPTED:
        return EXIT_INTERRUPTED
    return EXIT_OK


# -- progress ------------------------------------------------------------------------------------


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

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]REL"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]✓{task.fields[verified]}[/] [yellow]✗{task.fields[failed]}[/] [red]!{task.fields[errored]}[/]"),
            TextColumn("{task.fields[tokens]} tok ${task.fields[spend]}"),
            TextColumn("{task.fields[rate]}/min ETA {task.fields[eta]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.task = None

    def on_start(self, stats: RunStats) -> None:
        self.progress.start()
        self.task = self.progress.add_task("loop", total=stats.total, **self._fields(stats))

    def on_problem_done(self, outcome: ProblemOutcome, stats: RunStats) -> None:
        if outcome.state == ProblemState.ERRORED:  # one line above the bar: why it errored
            line = f"problem {outcome.problem_id}: errored: {outcome.detail}"
            self.progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        self.on_progress(stats)

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
            "spend": f"{stats.cost_usd:.4f}",
            "rate": f"{_rate(stats):.1f}",
            "eta": _eta(stats),
        }


class LineObserver(RunObserver):
    """One plain line per finished problem, for logs and pipes."""

    def __init__(self) -> None:
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)

    def on_start(self, stats: RunStats) -> None:
        self.console.print(f"rel-tui --auto: {stats.total} problems to work", markup=False)

    def on_problem_done(self, outcome: ProblemOutcome, stats: RunStats) -> None:
        state = outcome.state.value if outcome.state else "abandoned"
        line = (
            f"[{stats.done}/{stats.total}] problem {outcome.problem_id}: {state} "
            f"({outcome.attempts} attempt{'' if outcome.attempts == 1 else 's'}, {outcome.seconds:.1f}s; "
            f"run: {stats.tokens} tokens, ${stats.cost_usd:.4f})"
        )
        if outcome.detail:
            line += f": {outcome.detail}"
        self.console.print(line, markup=False)


def print_summary(stats: RunStats) -> None:
    table = Table(title="rel-tui --auto", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("stopped because", stats.stop_reason + (f" ({stats.stop_detail})" if stats.stop_detail else "")),
        ("problems finished", f"{stats.done} of {stats.total}"),
        ("verified, awaiting review", str(stats.verified)),
        ("failed", str(stats.failed)),
        ("errored", str(stats.errored)),
        ("abandoned (resume later)", str(stats.abandoned)),
        ("LLM calls", f"{stats.calls + stats.failed_calls} ({stats.failed_calls} failed)"),
        ("tokens in / out", f"{stats.input_tokens:,} / {stats.output_tokens:,}"),
        ("spend", Spend(stats.cost_usd, unpriced=stats.unpriced_calls).describe()),
        ("time", f"{stats.elapsed:.1f}s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console(stderr=True).print(table)
