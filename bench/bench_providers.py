"""Overhead of the provider layer: many calls through LLMClient against a loopback server.

Run: .venv/bin/python bench/bench_providers.py [--calls 2000] [--concurrency 64] [--latency-ms 50]

The server runs in its own process (its CPU is not the client's) and answers every request after
`latency`. The ideal wall time is calls x latency / concurrency; the ratio to it is the layer's
overhead. Every call goes through the real SDK over a real socket and is metered into SQLite.
Reports the median of several repeats, and the client process's CPU time per call.
Target: ratio <= 1.10.

`--baseline` also times the bare SDK call (same SDK client, a plain semaphore, no metering), so the
layer's own share of the CPU per call can be told apart from the SDK's.

`--floor` also times the same POSTs made with aiohttp alone (no SDK, no metering, same server, same
concurrency): what this harness and server allow at all, whatever the client costs.
Each line also gives the server process's CPU per call (it shares the machine's cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rel_core.config import ProviderSettings, Settings
from rel_core.providers import ChatMessage, CompletionRequest, LLMClient
from rel_core.store import Store

SERVER = Path(__file__).resolve().parent.parent / "tests" / "llm_server.py"


def start_server(latency_ms: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", "0", "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise SystemExit(f"loopback server did not start: {line!r}")
    return process, line.split()[-1]


async def run_batch(client: LLMClient, spec: str, calls: int) -> None:
    """All calls at once: the provider's concurrency limit is what keeps `concurrency` in flight."""
    request = CompletionRequest(
        model=spec,
        system="You write worked solutions.",
        messages=[ChatMessage(role="user", content="What is 6 x 7? Show your work.")],
        max_tokens=256,
        purpose="bench",
    )
    await asyncio.gather(*(client.complete(request) for _ in range(calls)))


async def run_bare_batch(client: LLMClient, spec: str, calls: int) -> None:
    """The same calls straight through the SDK client the provider built: no routing, gate or metering."""
    provider = client.provider_for(spec)
    model = spec.split(":", 1)[1]
    slots = asyncio.Semaphore(client.settings.openai.concurrency)
    messages = [{"role": "user", "content": "What is 6 x 7? Show your work."}]

    async def one() -> None:
        async with slots:
            if provider.name == "openai":
                system = [{"role": "system", "content": "You write worked solutions."}]
                await provider.client.chat.completions.create(model=model, messages=system + messages, max_tokens=256)
            else:
                await provider.client.messages.create(
                    model=model, system="You write worked solutions.", messages=messages, max_tokens=256
                )

    await asyncio.gather(*(one() for _ in range(calls)))


async def run_raw_batch(session, spec: str, calls: int, concurrency: int, url: str) -> None:
    """The same requests with aiohttp alone: no SDK, no routing, no metering."""
    import json

    provider, model = spec.split(":", 1)
    system, prompt = "You write worked solutions.", [{"role": "user", "content": "What is 6 x 7? Show your work."}]
    if provider == "openai":
        target, headers = f"{url}/v1/chat/completions", {"authorization": "Bearer sk-bench"}
        body = {"model": model, "messages": [{"role": "system", "content": system}, *prompt], "max_tokens": 256}
    else:
        target, headers = f"{url}/v1/messages", {"x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01"}
        body = {"model": model, "system": system, "messages": prompt, "max_tokens": 256}
    data, headers = json.dumps(body).encode(), {**headers, "content-type": "application/json"}
    slots = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with slots, session.post(target, data=data, headers=headers) as response:
            response.raise_for_status()
            await response.json()

    await asyncio.gather(*(one() for _ in range(calls)))


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    spec: str, settings: Settings, store: Store, calls: int, repeats: int, server_pid: int, mode: str = "layer", url: str = ""
) -> list[tuple[float, float, float]]:
    """(wall seconds, client CPU seconds, server CPU seconds) per repeat, after a warm-up batch opens the connections."""
    concurrency = settings.openai.concurrency
    if mode == "raw":
        import aiohttp

        session = aiohttp.ClientSession()

        async def batch(_client: object, spec: str, n: int) -> None:
            await run_raw_batch(session, spec, n, concurrency, url)
    else:
        batch = run_bare_batch if mode == "bare" else run_batch
    results = []
    async with LLMClient(settings, store) as client:
        await batch(client, spec, concurrency)
        for _ in range(repeats):
            server, cpu, wall = process_cpu(server_pid), time.process_time(), time.perf_counter()
            await batch(client, spec, calls)
            results.append((time.perf_counter() - wall, time.process_time() - cpu, process_cpu(server_pid) - server))
    if mode == "raw":
        await session.close()
    return results


def report(label: str, runs: list[tuple[float, float, float]], ideal: float, calls: int) -> None:
    wall = statistics.median(r[0] for r in runs)
    cpu_ms = statistics.median(r[1] for r in runs) / calls * 1000
    server_ms = statistics.median(r[2] for r in runs) / calls * 1000
    # One Python process can never beat its own CPU time: calls x CPU per call is a floor on wall time.
    floor = calls * cpu_ms / 1000 / ideal
    print(
        f"{label:24s} wall {wall:.3f} s (median of {len(runs)}), ratio to ideal {wall / ideal:.3f}, "
        f"client CPU {cpu_ms:.3f} ms/call (CPU floor ratio {floor:.2f}), server CPU {server_ms:.3f} ms/call; "
        f"runs: {', '.join(f'{r[0]:.2f}' for r in runs)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--providers", default="openai,anthropic")
    parser.add_argument("--baseline", action="store_true", help="also time the bare SDK calls")
    parser.add_argument("--floor", action="store_true", help="also time the same requests made with aiohttp alone")
    args = parser.parse_args()

    process, url = start_server(args.latency_ms)
    os.environ.update(OPENAI_API_KEY="sk-bench", ANTHROPIC_API_KEY="sk-ant-bench")
    limits = ProviderSettings(base_url=None, concurrency=args.concurrency, max_retries=0, timeout=30)
    settings = Settings(
        openai=limits.model_copy(update={"base_url": f"{url}/v1"}),
        anthropic=limits.model_copy(update={"base_url": url}),
    )
    ideal = args.calls * args.latency_ms / 1000 / args.concurrency
    specs = {"openai": "openai:gpt-4o-mini", "anthropic": "anthropic:claude-haiku-4-5"}
    print(f"{args.calls} calls, concurrency {args.concurrency}, server latency {args.latency_ms:g} ms: ideal {ideal:.3f} s")
    try:
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
            modes = ["layer", *(["bare"] if args.baseline else []), *(["raw"] if args.floor else [])]
            labels = {"layer": "", "bare": " (bare SDK)", "raw": " (aiohttp only)"}
            for name in args.providers.split(","):
                for mode in modes:
                    runs = asyncio.run(measure(specs[name], settings, store, args.calls, args.repeats, process.pid, mode, url))
                    report(name + labels[mode], runs, ideal, args.calls)
            logged = store.conn.execute("select count(*), sum(error is not null) from llm_calls").fetchone()
            print(f"llm_calls rows: {logged[0]} ({logged[1] or 0} errors)")
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()
