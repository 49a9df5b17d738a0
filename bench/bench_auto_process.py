"""Benchmark: the whole `rel-tui --auto` process against the loopback server.

    .venv/bin/python bench/bench_auto_process.py [--problems 300] [--latency-ms 100] [--concurrency 32]
                                                 [--repeats 3] [--workers 1]

Each run builds a fresh database of `--problems` problems (one in four answered wrong first:
generate, critic, revise = 3 calls; the rest right first time = 1 call), starts the loopback LLM
server (tests/llm_server.py) in its own process with a fixed latency, then times
`python -m rel_tui --db ... --auto` from process start to exit, as a user would run it.

Reported (medians over the repeats):
- wall ÷ ideal, where ideal = calls × latency ÷ concurrency (the time the calls alone need);
- fixed start: from the process's start to the server receiving its first request;
- CPU per call: the process's CPU (user + system, its answer-check workers included) ÷ calls.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]


def serve(latency_ms: float) -> None:
    """The server's own process: prints its URL, serves until stdin closes, then prints what it saw."""
    from bench_loop import answer_for
    from llm_server import LLMServer

    seen = {"first": None, "last": None, "requests": 0}
    lock = threading.Lock()

    def responder(request):
        with lock:
            seen["requests"] += 1
            seen["first"] = seen["first"] or request.received_at
            seen["last"] = request.received_at
        return answer_for(request)

    server = LLMServer(latency=latency_ms / 1000, keep_log=False)
    server.respond_with(responder)
    server.start()
    print(server.openai_base_url, flush=True)
    sys.stdin.read()
    server.stop()
    print(json.dumps(seen), flush=True)


def build_database(directory: Path, problems: int, concurrency: int, url: str, env: dict) -> Path:
    """The database, made by the code under test (its own schema), and rel.toml beside it."""
    db = directory / "rel.db"
    code = "import sys; from bench_loop import build_database; build_database(__import__('pathlib').Path(sys.argv[1]), int(sys.argv[2]))"
    root = Path(env.get("PYTHONPATH") or ROOT)  # bench_loop puts its own tree first on sys.path
    path = os.pathsep.join([str(root / "bench"), str(root / "tests")])
    subprocess.run([sys.executable, "-c", code, str(db), str(problems)], env={**env, "PYTHONPATH": path}, check=True)
    (directory / "rel.toml").write_text(
        'generator = "openai:bench-gen"\ncritic = "openai:bench-critic"\n'
        f'[openai]\nbase_url = "{url}"\nconcurrency = {concurrency * 2}\nmax_retries = 2\n'
        f"[loop]\nconcurrency = {concurrency}\n"
        '[models."openai:bench-gen"]\ninput_per_million = 0.15\noutput_per_million = 0.6\n'
        '[models."openai:bench-critic"]\ninput_per_million = 0.15\noutput_per_million = 0.6\n'
    )
    return db


def count_calls(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("select count(*) from llm_calls").fetchone()[0])
    finally:
        conn.close()


def run_once(args: argparse.Namespace) -> dict:
    server = subprocess.Popen(
        [sys.executable, __file__, "--role", "serve", "--latency-ms", str(args.latency_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "HOME": tmp, "PYTHONUNBUFFERED": "1"}
            if args.code:  # another checkout's rel_core / rel_tui (e.g. `git archive main`), for before/after
                env["PYTHONPATH"] = str(args.code)
            db = build_database(Path(tmp), args.problems, args.concurrency, url, env)
            command = [sys.executable, "-m", "rel_tui", "--db", str(db), "--auto"]
            if args.workers > 1:
                command += ["--workers", str(args.workers)]
            started = time.time()
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp)
            stderr = process.stderr.read()
            _, status, usage = os.wait4(process.pid, 0)
            ended = time.time()
            process.returncode = os.waitstatus_to_exitcode(status)
            if process.returncode != 0:
                raise SystemExit(f"rel-tui --auto exited {process.returncode}: {stderr[-2000:]}")
            calls = count_calls(db)
    finally:
        server.stdin.close()
        seen = json.loads(server.stdout.readlines()[-1])
        server.wait(10)
    wall = ended - started
    ideal = calls * args.latency_ms / 1000 / args.concurrency
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "wall": wall,
        "ideal": ideal,
        "ratio": wall / ideal,
        "start": (seen["first"] - started) if seen["first"] else float("nan"),
        "cpu_ms_per_call": cpu / calls * 1000,
        "cpu": cpu,
        "calls": calls,
        "maxrss_mb": usage.ru_maxrss / 1024,
    }


def idle_once(args: argparse.Namespace) -> dict:
    """The whole process on a queue with nothing to do: its start-up and shut-down alone, in wall
    time and CPU (CPU is the figure a loaded machine distorts least)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "HOME": tmp}
        if args.code:
            env["PYTHONPATH"] = str(args.code)
        db = build_database(Path(tmp), 1, args.concurrency, "http://127.0.0.1:9", env)
        settle = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"update problems set state = 'accepted'\"); c.commit()"
        subprocess.run([sys.executable, "-c", settle, str(db)], check=True)
        started = time.time()
        process = subprocess.Popen(
            [sys.executable, "-m", "rel_tui", "--db", str(db), "--auto"],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, _, usage = os.wait4(process.pid, 0)
        return {"wall": time.time() - started, "cpu": usage.ru_utime + usage.ru_stime}


def report(results: list[dict], args: argparse.Namespace) -> None:
    def median(key: str) -> float:
        return statistics.median(r[key] for r in results)

    print(
        f"rel-tui --auto, whole process: {args.problems} problems, {args.latency_ms:g} ms a call, "
        f"{args.concurrency} in flight, {args.workers} worker(s), median of {len(results)}"
    )
    print(f"  calls            {median('calls'):.0f}")
    print(f"  wall             {median('wall'):.2f} s (ideal {median('ideal'):.2f} s)")
    runs = ", ".join(f"{r['ratio']:.2f}" for r in results)
    print(f"  wall / ideal     {median('ratio'):.2f}   (runs: {runs})")
    print(f"  fixed start      {median('start'):.2f} s (process start to first request)")
    print(f"  CPU per call     {median('cpu_ms_per_call'):.2f} ms ({median('cpu'):.2f} s in all)")
    if "idle_wall" in results[0]:
        print(f"  nothing to do    {median('idle_wall'):.2f} s wall, {median('idle_cpu'):.2f} s CPU (whole process)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="rel-tui --auto --workers N (N > 1 only)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--code", type=Path, help="run rel-tui from this source tree instead (before/after figures)")
    parser.add_argument("--json", action="store_true", help="print each run's figures as JSON too")
    parser.add_argument("--role", choices=["serve"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "serve":
        serve(args.latency_ms)
        return
    results = []
    for _ in range(args.repeats):
        idle = idle_once(args)
        results.append({**run_once(args), "idle_wall": idle["wall"], "idle_cpu": idle["cpu"]})
    if args.json:
        print(json.dumps(results))
    report(results, args)


if __name__ == "__main__":
    main()
