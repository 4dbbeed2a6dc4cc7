"""Point-in-time questions on a materialized history: median and 95th percentile latency."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from bench.results import Result
from pipeline.queries import Queries


def _latencies(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def run(db: Path, events: int, *, repeats: int = 60, seed: int = 3) -> list[Result]:
    rng = random.Random(seed)
    q = Queries.open(db)
    try:
        span = q.time_range()
        assert span is not None, "empty store"
        seconds = int((span[1] - span[0]).total_seconds())
        moments = [span[0] + timedelta(seconds=rng.randint(0, seconds)) for _ in range(repeats)]
        keys = [
            r[0]
            for r in q.con.execute(
                "SELECT access_key_id FROM credentials USING SAMPLE 200 ROWS"
            ).fetchall()
        ]
        it = iter(moments)
        who_med, who_p95 = _latencies(lambda: q.who_held(at=next(it)), repeats)
        key_it = iter(rng.choices(keys, k=repeats))
        trace_med, trace_p95 = _latencies(lambda: q.trace(next(key_it)), repeats)
    finally:
        q.close()
    size = f"{events:,} events"
    return [
        Result(
            name=f"who-held median ({size})",
            value=who_med,
            unit="ms",
            goal="value <= 20" if events >= 10_000_000 else None,
        ),
        Result(name=f"who-held p95 ({size})", value=who_p95, unit="ms"),
        Result(name=f"trace median ({size})", value=trace_med, unit="ms"),
        Result(name=f"trace p95 ({size})", value=trace_p95, unit="ms"),
    ]
