"""Query latency of the store on a 100,000-problem database.

Run: .venv/bin/python bench/bench_store.py [--problems 100000]
Reports medians over repeated runs; targets: queue page and counts under 20 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from rel_core.models import ProblemState, content_hash, utcnow
from rel_core.store import Store

STATES = [str(s) for s in ProblemState]


def populate(store: Store, count: int) -> None:
    """Bulk rows straight into SQLite: realistic shape, fast to build."""
    rng = random.Random(7)
    now = utcnow()
    with store.transaction():
        for start in range(0, count, 5000):
            problems = []
            for i in range(start, min(start + 5000, count)):
                text = f"Problem {i}: find the value of x when {rng.randint(1, 999)}x + {i} = {rng.randint(1, 10**6)}."
                state = "awaiting_review" if i % 3 else rng.choice(STATES)
                problems.append((content_hash(text), text, str(i % 97), "bench", state, now, now))
            store.conn.executemany(
                "insert into problems (hash, text, reference_answer, source, state, created_at, updated_at) "
                "values (?, ?, ?, ?, ?, ?, ?)",
                problems,
            )
        store.conn.execute(
            "insert into attempts (problem_id, kind, text, hash, iteration, created_at) "
            "select id, 'generated', 'draft of ' || text, hash, 0, created_at from problems"
        )
        store.conn.execute(
            "insert into critiques (attempt_id, verdict, source, created_at) "
            "select id, case id % 2 when 0 then 'correct' else 'incorrect' end, 'check', created_at from attempts"
        )


def median_ms(fn, repeats: int = 30) -> float:
    fn()  # warm the page cache once
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store = Store(path)
        start = time.perf_counter()
        populate(store, args.problems)
        print(f"built {args.problems:,} problems in {time.perf_counter() - start:.1f} s")
        store.close()
        store = Store(path)  # a fresh connection, as a new process would have
        middle = args.problems // 2
        results = {
            "counts per state": median_ms(store.counts),
            "review queue, first page (50)": median_ms(lambda: store.queue(limit=50)),
            "review queue, page in the middle": median_ms(lambda: store.queue(after_id=middle, limit=50)),
            "queue filtered by text search": median_ms(lambda: store.queue(states=None, search="value", limit=50)),
            "one problem's history": median_ms(lambda: store.history(middle)),
            "next item in queue": median_ms(lambda: store.next_in_queue(middle)),
        }
        for name, ms in results.items():
            print(f"{name:36s} {ms:8.2f} ms (median)")


if __name__ == "__main__":
    main()
