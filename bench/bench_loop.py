"""Benchmark: the headless loop against the loopback server.

    .venv/bin/python bench/bench_loop.py [--problems 500] [--database-size 100000] [--latency-ms 100] [--concurrency 32]

Builds a database of `--database-size` problems, starts the loopback LLM server (tests/llm_server.py)
in its own process with a fixed latency, and runs the real LoopEngine + Runner over the first
`--problems` of them in a third process, so that process's peak memory (ru_maxrss) is the
runner's alone. One problem in four is answered wrong first (generate, critic, revise: 3 calls);
the rest are right first time (1 call).

Ideal time = total calls x latency / concurrency. Target: within 15% of it, peak RSS < 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

WRONG_EVERY = 4
_MARKER = re.compile(r"\[B(\d+)\]")


# -- the database ------------------------------------------------------------------------------


def bench_problem(i: int):
    from rel_core.models import Problem

    return Problem(text=f"[B{i}] What is {i} + {i}?", reference_answer=str(2 * i), reference_solution=f"{i} + {i} = {2 * i}")


def build_database(path: Path, size: int) -> None:
    from rel_core.models import ImportRecord
    from rel_core.store import Store

    with Store(path) as store:
        batch = 10_000
        for start in range(0, size, batch):
            records = [ImportRecord(problem=bench_problem(i)) for i in range(start, min(size, start + batch))]
            store.import_records(records)


# -- the server --------------------------------------------------------------------------------


def answer_for(request) -> str:
    """Right first time, except every fourth problem: wrong, then right after the critic's hint."""
    from loop_helpers import critic_json, solution, step_of

    number = int(_MARKER.search(request.prompt).group(1))
    step = step_of(request)
    if step == "critic":
        return critic_json("incorrect", 1, "Recheck the addition.")
    if step == "generate" and number % WRONG_EVERY == 0:
        return solution(str(2 * number + 1))
    return solution(str(2 * number))


def serve(latency_ms: float) -> None:
    from llm_server import LLMServer

    server = LLMServer(latency=latency_ms / 1000, keep_log=False)
    server.respond_with(answer_for)
    server.start()
    print(server.openai_base_url, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
    server.stop()


# -- the run -----------------------------------------------------------------------------------


async def run_loop(db: Path, base_url: str, problems: int, concurrency: int) -> dict:
    import os

    from rel_core.config import LoopSettings, ModelSettings, ProviderSettings, Settings
    from rel_core.loop import LoopEngine
    from rel_core.providers.client import LLMClient
    from rel_core.runner import Runner
    from rel_core.store import Store

    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    price = ModelSettings(input_per_million=0.15, output_per_million=0.6)
    settings = Settings(
        generator="openai:bench-gen",
        critic="openai:bench-critic",
        openai=ProviderSettings(base_url=base_url, concurrency=concurrency * 2, max_retries=2),
        models={"openai:bench-gen": price, "openai:bench-critic": price},
        loop=LoopSettings(concurrency=concurrency),
    )
    with Store(db) as store:
        client = LLMClient(settings, store)
        engine = LoopEngine(store, client, settings)
        # Start-up is not loop throughput: SDKs imported and math-verify workers up before the clock starts.
        client.provider_for(settings.generator)
        await engine.checker.check("<ANSWER>1</ANSWER>", "2")
        runner = Runner(store, engine, settings, limit=problems)
        started, cpu_started = time.perf_counter(), time.process_time()
        stats = await runner.run()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        engine.close()
        await client.aclose()
        calls = stats.calls
    baseline = await provider_floor(settings, store_path=db.parent / "floor.db", calls=stats.calls, concurrency=concurrency)
    return {
        "floor": baseline,
        "elapsed": elapsed,
        "cpu": cpu,
        "calls": calls,
        "done": stats.done,
        "verified": stats.verified,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def provider_floor(settings, store_path: Path, calls: int, concurrency: int) -> float:
    """Wall time of the same number of bare LLMClient calls at the same concurrency: the loop's floor."""
    from rel_core.providers.base import ChatMessage, CompletionRequest
    from rel_core.providers.client import LLMClient
    from rel_core.store import Store

    prompt = [ChatMessage(role="user", content="[B1] Solve the problem below")]
    request = CompletionRequest(model=settings.generator, messages=prompt)
    with Store(store_path) as store:
        client = LLMClient(settings, store)
        await client.complete(request)
        slots = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with slots:
                await client.complete(request)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(calls)))
        elapsed = time.perf_counter() - started
        await client.aclose()
    return elapsed


# -- orchestration -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=500)
    parser.add_argument("--database-size", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="runs over fresh problems; the median is reported")
    parser.add_argument("--db", type=Path, help="reuse this database (built if missing)")
    parser.add_argument("--role", choices=["serve", "run"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role == "serve":
        return serve(args.latency_ms)
    if args.role == "run":
        print(json.dumps(asyncio.run(run_loop(args.db, args.url, args.problems, args.concurrency))))
        return

    if args.db is None:
        with tempfile.TemporaryDirectory(prefix="rel-bench-") as scratch:
            args.db = Path(scratch) / "bench.db"
            return main_with_database(args)
    main_with_database(args)


def main_with_database(args: argparse.Namespace) -> None:
    db = args.db
    if not db.exists():
        started = time.perf_counter()
        build_database(db, args.database_size)
        print(f"built {args.database_size:,} problems in {time.perf_counter() - started:.1f}s: {db}", file=sys.stderr)
    server = subprocess.Popen(
        [sys.executable, __file__, "--role", "serve", "--latency-ms", str(args.latency_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().strip()
        results = [run_once(db, url, args) for _ in range(args.repeats)]  # each run takes the next problems
    finally:
        server.stdin.close()
        server.wait(10)
    report(results, args)


def run_once(db: Path, url: str, args: argparse.Namespace) -> dict:
    """One run in a fresh process, so its ru_maxrss is the runner's alone."""
    finished = subprocess.run(
        [
            sys.executable,
            __file__,
            "--role",
            "run",
            "--db",
            str(db),
            "--url",
            url,
            "--problems",
            str(args.problems),
            "--concurrency",
            str(args.concurrency),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(finished.stdout.strip().splitlines()[-1])


def report(results: list[dict], args: argparse.Namespace) -> None:
    median = statistics.median
    elapsed, floor = median(r["elapsed"] for r in results), median(r["floor"] for r in results)
    calls = results[0]["calls"]
    ideal = calls * args.latency_ms / 1000 / args.concurrency
    print(f"problems worked     {results[0]['done']} per run ({results[0]['verified']} verified), {len(results)} runs")
    print(f"LLM calls           {calls} per run")
    runs = ", ".join(f"{r['elapsed']:.2f}" for r in results)
    print(f"elapsed             {elapsed:.2f}s median  (runs: {runs})")
    print(f"ideal               {ideal:.2f}s  (calls x {args.latency_ms:.0f} ms / {args.concurrency})")
    print(f"over ideal          {elapsed / ideal - 1:+.1%}  (target < +15%)")
    print(f"provider floor      {floor:.2f}s = {floor / ideal - 1:+.1%} over ideal  (the same calls through LLMClient alone)")
    print(f"runner CPU          {median(r['cpu'] for r in results) / calls * 1000:.2f} ms per call")
    peak = max(r["maxrss_mb"] for r in results)
    print(f"peak RSS (runner)   {peak:.0f} MB with {args.database_size:,} problems in the database  (target < 150 MB)")


if __name__ == "__main__":
    main()
