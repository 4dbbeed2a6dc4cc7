"""Point-in-time questions: rolecall's latency, and the same questions without rolecall.

rolecall answers `who-held` at a random moment, `trace` of a random key and `who-could`
for a random action through `Queries`. The reference is what a user without rolecall
would run: DuckDB SQL straight over the raw CloudTrail files of the same events. That SQL
sees only AssumeRole* records (no console switch-roles, exits or revocations), so it
does less than rolecall does, and is still the fairest cheap alternative.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import duckdb

from bench.results import Result
from bench.workload import Workload
from pipeline.queries import Queries

T = TypeVar("T")

FIRST_PAGE = 50  # the rows a screen shows first

ASSUMPTIONS = """
SELECT r->>'$.eventTime' AS event_time,
       r->>'$.responseElements.credentials.accessKeyId' AS access_key_id,
       r->>'$.responseElements.credentials.expiration' AS expiration,
       r->>'$.responseElements.assumedRoleUser.arn' AS session_arn,
       r->>'$.userIdentity.accessKeyId' AS caller_key,
       coalesce(r->>'$.userIdentity.arn', r->>'$.userIdentity.invokedBy') AS caller
FROM (
    SELECT unnest(Records) AS r
    FROM read_json(?, columns = {'Records': 'JSON[]'}, maximum_object_size = 1073741824)
)
WHERE r->>'$.eventName' IN ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity')
  AND r->>'$.errorCode' IS NULL
"""

RAW_WHO_HELD = f"""
SELECT session_arn, caller, access_key_id FROM ({ASSUMPTIONS})
WHERE event_time::TIMESTAMP <= ?::TIMESTAMP
  AND strptime(expiration, '%b %-d, %Y, %-I:%M:%S %p') > ?::TIMESTAMP
"""

RAW_TRACE = f"""
WITH RECURSIVE a AS MATERIALIZED ({ASSUMPTIONS}),
chain(access_key_id, caller_key, caller, depth) AS (
    SELECT access_key_id, caller_key, caller, 0 FROM a WHERE access_key_id = ?
    UNION ALL
    SELECT a.access_key_id, a.caller_key, a.caller, chain.depth + 1
    FROM a JOIN chain ON a.access_key_id = chain.caller_key
    WHERE chain.depth < 10
)
SELECT * FROM chain ORDER BY depth
"""


def _latencies(fn: Callable[[T], object], args: Sequence[T]) -> list[float]:
    times = []
    for a in args:
        started = time.perf_counter()
        fn(a)
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)


def _median_p95(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def _moments(q: Queries, rng: random.Random, n: int) -> list[datetime]:
    """`n` random moments within the store's data."""
    span = q.time_range()
    assert span is not None, "empty store"
    seconds = int((span[1] - span[0]).total_seconds())
    return [span[0] + timedelta(seconds=rng.randint(0, seconds)) for _ in range(n)]


def run(
    work: Workload, db: Path, *, repeats: int = 60, raw_repeats: int = 3, seed: int = 3
) -> list[Result]:
    rng = random.Random(seed)
    with Queries.open(db) as q:
        moments = _moments(q, rng, repeats)
        keys = [
            str(r[0])
            for r in q.con.execute(
                "SELECT access_key_id FROM credentials USING SAMPLE 500 ROWS"
            ).fetchall()
        ]
        actions = [
            str(r[0]) for r in q.con.execute("SELECT DISTINCT action FROM actions").fetchall()
        ]
        roles = [
            str(r[0])
            for r in q.con.execute(
                "SELECT DISTINCT role_arn FROM sessions WHERE role_arn IS NOT NULL ORDER BY 1"
            ).fetchall()
        ]
        trace_keys = rng.choices(keys, k=repeats)
        first = _median_p95(
            _latencies(lambda at: q.who_held_page(at=at, limit=FIRST_PAGE), moments)
        )
        who = _median_p95(_latencies(lambda at: q.who_held(at=at), moments))
        answered = statistics.median(len(q.who_held(at=at)) for at in moments[:5])
        role_args = [(rng.choice(roles), at) for at in moments]
        who_role = _median_p95(_latencies(lambda a: q.who_held(at=a[1], role_arn=a[0]), role_args))
        trace = _median_p95(_latencies(q.trace, trace_keys))
        could_args = [
            (rng.choice(actions), rng.choice(moments)) for _ in range(max(5, repeats // 3))
        ]
        could = _median_p95(_latencies(lambda a: q.who_could(a[0], "*", a[1]), could_args))
    size = f"{work.events:,} events"
    raw_who: float | None = None
    raw_trace: float | None = None
    raw_note = "the raw-JSON reference was not rerun at this size (raw_repeats=0)"
    if raw_repeats:  # 0 for a store whose raw scans take many minutes each (10M: ~10 min)
        raw_who, raw_trace = _raw(work, moments[:raw_repeats], trace_keys[:raw_repeats])
        raw_note = (
            f"reference: median of {raw_repeats} over {work.trail_records:,} CloudTrail records"
        )
    return [
        Result(
            name=f"who-held first page median ({size})",
            value=first[0],
            unit="ms",
            goal="value <= 20",
            notes=f"the first {FIRST_PAGE} sessions active at the moment, with their total",
        ),
        Result(name=f"who-held first page p95 ({size})", value=first[1], unit="ms"),
        Result(
            name=f"who-held median ({size})",
            value=who[0],
            unit="ms",
            reference=None if raw_who is None else "DuckDB SQL over the raw CloudTrail JSON",
            reference_value=raw_who,
            goal="value <= 200",
            notes=f"every session active at the moment (median {answered:,.0f}); {raw_note}",
        ),
        Result(name=f"who-held p95 ({size})", value=who[1], unit="ms"),
        Result(
            name=f"who-held of one role median ({size})",
            value=who_role[0],
            unit="ms",
            notes=f"a random role of {len(roles):,} at a random moment",
        ),
        Result(name=f"who-held of one role p95 ({size})", value=who_role[1], unit="ms"),
        Result(
            name=f"trace median ({size})",
            value=trace[0],
            unit="ms",
            reference=None
            if raw_trace is None
            else "DuckDB recursive SQL over the raw CloudTrail JSON",
            reference_value=raw_trace,
            goal="value <= 10",
            notes=raw_note,
        ),
        Result(name=f"trace p95 ({size})", value=trace[1], unit="ms"),
        Result(
            name=f"who-could median ({size})",
            value=could[0],
            unit="ms",
            goal="value <= 300",
            notes="no SQL equivalent: policy evaluation is not expressible over raw CloudTrail",
        ),
        Result(name=f"who-could p95 ({size})", value=could[1], unit="ms"),
    ]


def _raw(work: Workload, moments: list[datetime], keys: list[str]) -> tuple[float, float]:
    pattern = str(work.trail_dir / "AWSLogs" / "**" / "*.json.gz")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    try:

        def who(at: datetime) -> object:
            naive = at.replace(tzinfo=None)
            return con.execute(RAW_WHO_HELD, [pattern, naive, naive]).fetchall()

        def trace(key: str) -> object:
            return con.execute(RAW_TRACE, [pattern, key]).fetchall()

        return (
            statistics.median(_latencies(who, moments)),
            statistics.median(_latencies(trace, keys)),
        )
    finally:
        con.close()


def who_held_on(db: Path, *, repeats: int = 20, seed: int = 3) -> dict[str, float]:
    """who-held's full answer on an existing store (opened read-only): the medians, over
    `repeats` random moments in the data's range, of its wall and CPU time and its rows.

    For stores too large to build in a bench run (the 10M-event one, #16):
    `python -m bench.queries STORE [REPEATS]`. CPU time is printed beside wall time
    because the machine is shared: it moves less with the load than wall time.
    """
    rng = random.Random(seed)
    with Queries.open(db) as q:
        moments = _moments(q, rng, repeats)
        q.who_held(at=moments[0])  # the first answer also loads DuckDB's caches
        walls, cpus, rows = [], [], []
        for at in moments:
            wall, cpu = time.perf_counter(), time.process_time()
            rows.append(len(q.who_held(at=at)))  # the answer freed inside the timing
            cpus.append((time.process_time() - cpu) * 1000)
            walls.append((time.perf_counter() - wall) * 1000)
    return {
        "wall_ms": statistics.median(walls),
        "cpu_ms": statistics.median(cpus),
        "rows": statistics.median(rows),
    }


if __name__ == "__main__":
    import sys

    found = who_held_on(Path(sys.argv[1]), repeats=int(sys.argv[2]) if len(sys.argv) > 2 else 20)
    print(
        f"who-held full answer: median {found['rows']:,.0f} sessions, "
        f"{found['wall_ms']:.0f} ms wall, {found['cpu_ms']:.0f} ms CPU"
    )
