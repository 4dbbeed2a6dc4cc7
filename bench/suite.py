"""Run the benchmarks on simulated data of one size; print a table, write results.json.

Sections (all by default):
  materialize  embedded log -> DuckDB against fastavro's raw decode; peak memory
  queries      who-held, trace, who-could latency against SQL over the raw CloudTrail
  cloudtrail   CloudTrail import against DuckDB read_json (at most 1M events' records),
               also on delivered-size files and with --jobs 1; CPU utilisation
  kafka        Kafka end to end against the embedded log, through each client
               (confluent-kafka, the default, and kafka-python; at most 200k events;
               starts a private broker)
  policy       policy evaluation decisions per second
  dashboard    a Replay slider step on a million synthetic sessions; how long a new
               finding takes to reach the dashboard in `rolecall serve` (at most 100k events)
  cli          `rolecall --help`, `--version` and a demo query, as whole processes
  compliance   a quarter's privileged-access report; an as-known-at log scan and rebuild
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    cli_startup,
    cloudtrail_import,
    compliance,
    dashboard_replay,
    findings_latency,
    kafka,
    materialize,
    policy_eval,
    queries,
)
from bench.results import Result, machine, table
from bench.workload import simulated_log

RESULTS = Path(__file__).resolve().parent / "results.json"
SECTIONS = (
    "materialize",
    "queries",
    "cloudtrail",
    "kafka",
    "policy",
    "dashboard",
    "cli",
    "compliance",
)
CLOUDTRAIL_EVENTS = 1_000_000
KAFKA_EVENTS = 200_000
FINDINGS_LATENCY_EVENTS = 100_000


def run_suite(
    *,
    events: int,
    scratch: Path | None = None,
    out: Path = RESULTS,
    sections: Sequence[str] = SECTIONS,
    say: Callable[[str], object] = print,
) -> list[Result]:
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    scratch = scratch or Path(tempfile.mkdtemp(prefix="rolecall-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: list[Result] = []

    def section(name: str, fn: Callable[[], list[Result]]) -> None:
        if name not in sections:
            return
        say(f"[{name}] ...")
        t0 = time.perf_counter()
        got = fn()
        results.extend(got)
        record(got, out)  # as each section ends: a long run stopped midway keeps its figures
        say(table(got))
        say(f"[{name}] {time.perf_counter() - t0:.0f} s")

    work = (
        simulated_log(scratch, events, say=say)
        if {"materialize", "queries"} & set(sections)
        else None
    )
    db = scratch / f"materialize-{events}.duckdb"
    if work is not None:
        section("materialize", lambda: materialize.run(work, db))
        if "queries" in sections and not db.exists():
            raise ValueError(f"no materialized store at {db}: run the materialize section first")
        raw_repeats = 3 if events <= 200_000 else 1  # a raw-JSON scan of 1M takes a minute
        section("queries", lambda: queries.run(work, db, raw_repeats=raw_repeats))
    section(
        "cloudtrail",
        lambda: cloudtrail_import.run(
            simulated_log(scratch, min(events, CLOUDTRAIL_EVENTS), say=say), scratch
        ),
    )
    section(
        "kafka",
        lambda: kafka.run(simulated_log(scratch, min(events, KAFKA_EVENTS), say=say), scratch),
    )
    section("policy", policy_eval.run)
    section(
        "dashboard",
        lambda: (
            dashboard_replay.run(scratch)
            + findings_latency.run(scratch, min(events, FINDINGS_LATENCY_EVENTS))
        ),
    )
    section("cli", lambda: cli_startup.run(scratch))
    section(
        "compliance",
        lambda: compliance.run(simulated_log(scratch, events, say=say), scratch),
    )
    merged = json.loads(out.read_text()) if out.exists() else []
    say("")
    say(table(results))
    say(f"({time.perf_counter() - started:.0f} s; {len(merged)} figures in {out})")
    return results


def record(results: list[Result], out: Path) -> list[dict[str, object]]:
    """Write `results` into `out`, replacing earlier figures of the same name only.

    Sections can be run apart (the 10-million-event runs take an hour), so the file keeps
    the latest figure of every benchmark, each with when and where it was measured.
    """
    earlier: list[dict[str, object]] = []
    if out.exists():
        earlier = json.loads(out.read_text())
    names = {r.name for r in results}
    stamp = {"measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "machine": machine()}
    merged = [e for e in earlier if e.get("name") not in names]
    merged += [{**r.as_json(), **stamp} for r in results]
    out.write_text(json.dumps(merged, indent=2) + "\n")
    return merged
