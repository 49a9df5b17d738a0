"""`rel-tui --auto --workers N`: N runner processes that share one queue through the claims.

One Python process cannot keep a fast server busy at high concurrency (each call costs it a few
milliseconds of CPU), so the work is spread over N `rel-tui --auto` processes with the same
settings and a share each of the concurrency, the provider limits, the budget and the limit. Each
claims problems with its own lease (rel_core/claims.py), so no problem is worked twice. Their
lines are merged here, each prefixed with its worker's number; a signal to this process
(Ctrl-C, SIGTERM, SIGHUP) is passed on to every worker, which stops as a single run does.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading

import click

from rel_core.config import Settings
from rel_core.runner import SIGNALS
from rel_tui.context import CliContext, load_bundled_if_empty

EXIT_OK, EXIT_STOPPED, EXIT_CONFIG, EXIT_ERRORED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def run_workers(obj: CliContext, settings: Settings, workers: int, *, limit: int | None, retry_errored: bool) -> int:
    if limit is not None:
        workers = max(1, min(workers, limit))  # a share of 0 problems is no worker: the shares sum to --limit
    with obj.open_store() as store:
        load_bundled_if_empty(store)  # once, here: N workers finding an empty database would each load it
        if retry_errored:  # once, so a problem that errors again stays errored this run; with a limit,
            requeued = store.requeue_errored(first=limit)  # only those the run will take
            click.echo(
                f"rel-tui --auto: {requeued} errored problem{'' if requeued == 1 else 's'} put back in the queue", err=True
            )
    env = worker_environment(settings, workers)
    processes = [
        subprocess.Popen(
            worker_command(obj, settings, index, workers, limit),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            process_group=0,  # signals reach a worker once, through this process, not twice from the terminal
        )
        for index in range(workers)
    ]
    interrupted = _forward_signals(processes)
    printer = threading.Lock()
    readers = [threading.Thread(target=_relay, args=(p, i + 1, printer), daemon=True) for i, p in enumerate(processes)]
    for reader in readers:
        reader.start()
    codes = [process.wait() for process in processes]
    for reader in readers:
        reader.join(5)
    click.echo(f"rel-tui --auto: {workers} workers finished (exit {', '.join(str(c) for c in codes)})", err=True)
    return combined_exit_code(codes, interrupted.is_set())


def shares(total: int, workers: int) -> list[int]:
    """`total` split over the workers as evenly as whole numbers allow (the first ones get the rest)."""
    return [total // workers + (1 if index < total % workers else 0) for index in range(workers)]


def worker_command(obj: CliContext, settings: Settings, index: int, workers: int, limit: int | None) -> list[str]:
    """The same run as this one, with worker `index`'s share of the concurrency, limit and budget."""
    concurrency = max(1, shares(settings.loop.concurrency, workers)[index])
    command = [sys.executable, "-m", "rel_tui", "--db", str(obj.db_path)]
    if obj.config_path:
        command += ["--config", str(obj.config_path)]
    command += [
        "--auto",
        "--concurrency", str(concurrency),
        "--generator", settings.generator,
        "--critic", settings.critic,
        "--max-iterations", str(settings.loop.max_iterations),
    ]  # fmt: skip
    if limit is not None:
        command += ["--limit", str(shares(limit, workers)[index])]
    if settings.loop.budget_usd is not None:
        command += ["--budget", repr(settings.loop.budget_usd / workers)]
    return command


def worker_environment(settings: Settings, workers: int) -> dict[str, str]:
    """Each worker's share of the provider limits, as environment overrides (REL_OPENAI__CONCURRENCY...)."""
    env = dict(os.environ)
    for provider in ("openai", "anthropic"):
        limits = getattr(settings, provider)
        env[f"REL_{provider.upper()}__CONCURRENCY"] = str(max(1, math.ceil(limits.concurrency / workers)))
        if limits.requests_per_minute:
            env[f"REL_{provider.upper()}__REQUESTS_PER_MINUTE"] = repr(limits.requests_per_minute / workers)
    return env


def combined_exit_code(codes: list[int], interrupted: bool) -> int:
    """The most serious worker outcome: a config error, then a stopped run, an interruption, errored problems."""
    if interrupted:
        return EXIT_INTERRUPTED
    normal = [code if code >= 0 else EXIT_STOPPED for code in codes]  # killed by a signal: stopped
    for code in (EXIT_CONFIG, EXIT_STOPPED, EXIT_INTERRUPTED, EXIT_ERRORED):
        if code in normal:
            return code
    return max(normal, default=EXIT_OK)


def _forward_signals(processes: list[subprocess.Popen]) -> threading.Event:
    interrupted = threading.Event()

    def forward(signum: int, _frame: object) -> None:
        interrupted.set()
        for process in processes:
            if process.poll() is None:
                process.send_signal(signum)

    for sig in SIGNALS:
        signal.signal(sig, forward)
    return interrupted


def _relay(process: subprocess.Popen, number: int, printer: threading.Lock) -> None:
    """The worker's lines, each prefixed with its number (they passed one_line in the worker)."""
    assert process.stdout is not None
    for line in process.stdout:
        with printer:
            sys.stderr.write(f"[worker {number}] {line}")
            sys.stderr.flush()
