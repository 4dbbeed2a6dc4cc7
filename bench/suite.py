"""Run every benchmark on simulated data of one size; print a table, write results.json."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import materialize, memory, policy_eval, queries
from bench.results import Result, machine, table, write
from bench.workload import simulated_log

RESULTS = Path(__file__).resolve().parent / "results.json"


def run_suite(
    *,
    events: int,
    scratch: Path | None = None,
    out: Path = RESULTS,
    say: Callable[[str], object] = print,
) -> list[Result]:
    scratch = scratch or Path(tempfile.mkdtemp(prefix="rolecall-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    say(f"simulating {events:,} events in {scratch} ...")
    work = simulated_log(scratch, events)
    results: list[Result] = []
    say("memory: materializing in a child process ...")
    results += memory.run(work.log_dir, scratch / "memory.duckdb", events)
    say("materialize vs raw decode ...")
    results += materialize.run(work, scratch)
    say("point-in-time queries ...")
    results += queries.run(scratch / f"materialize-{events}.duckdb", events)
    say("policy evaluation ...")
    results += policy_eval.run()
    write(results, out)
    (out.with_suffix(".machine.json")).write_text(json.dumps(machine(), indent=2) + "\n")
    say(table(results))
    say(f"({time.perf_counter() - started:.0f} s; results in {out})")
    return results
