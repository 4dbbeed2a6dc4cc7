"""How long a new finding takes to reach the dashboard in `rolecall serve`.

`rolecall serve` runs as a child process, as an operator runs it: the materializer
following the log and the dashboard in one process, over a simulated organization's log
and store (built once per size, then copied for each run, since the run appends to it).
Then, `trials` times, the evidence of one new finding is appended to the log from this
process (a root console sign-in in an account of its own: one event, the `root-used`
rule), and the Findings page's data callback (the request an open page sends, filtered to
that rule and account) is polled every 20 ms until it lists the finding. The clock
starts when the append returns (the evidence is on the log) and stops when the page's
answer lists it: materializer poll, batch, findings projection, commit, and the query.

An open Findings page asks again every `REFRESH_MS` (it redraws only when the store
grew), so a user looking at it sees the finding at most that much later still.

    python -m bench.findings_latency --events 100000 --trials 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.results import Result
from dashboards.views.findings import FILTERS, REFRESH_MS
from pipeline.events import AssumeVia, EventSource, RoleAssumed
from pipeline.log import FileLog, open_log
from pipeline.materializer import materialize
from pipeline.producer import Producer
from pipeline.simulator import SimulationConfig, simulate
from pipeline.store import Store
from pipeline.timeutil import parse_time

ROOT = Path(__file__).resolve().parents[1]
START = parse_time("2026-01-05")
DAYS = 7
SEED = 13
RULE = "root-used"
POLL_SECONDS = 0.02
GIVE_UP_SECONDS = 120.0


def base_store(scratch: Path, events: int) -> tuple[Path, Path]:
    """A simulated organization's log and its materialized store (built once per size)."""
    base = scratch / f"findings-latency-{events}"
    log_dir, db, marker = base / "log", base / "store.duckdb", base / "complete"
    if not marker.exists():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        log = FileLog(log_dir, fsync=False)
        config = SimulationConfig(start=START, days=DAYS, seed=SEED, events=events)
        with Producer(log, batch_size=20_000) as producer:
            producer.emit_many(simulate(config))
        log.close()
        with open_log(f"file:{log_dir}", create=False) as event_log, Store(db) as store:
            materialize(event_log, store)
        marker.write_text("complete\n")
    return log_dir, db


def root_sign_in(account: str, when: datetime) -> RoleAssumed:
    """A root console sign-in: on its own, the evidence of a `root-used` finding."""
    arn = f"arn:aws:iam::{account}:root"
    return RoleAssumed(
        event_id=f"bench-findings-latency-{uuid.uuid4()}",
        event_time=when,
        account_id=account,
        source=EventSource.SIMULATOR,
        session_id=f"{arn}|console@{when.isoformat()}",
        session_arn=arn,
        via=AssumeVia.CONSOLE_SIGN_IN,
        caller_arn=arn,
        caller_type="Root",
        mfa_authenticated=True,
        source_ip="198.51.100.231",
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0",
        lifecycle_key=f"{arn}|console",
    )


def findings_answer(url: str, account: str) -> str:
    """The Findings page's data callback for `RULE` in `account`: its summary line."""
    values = {"findings-rule": RULE, "findings-account": account}
    body = {
        "output": "..findings-summary.children...findings-table.children...findings-version.data..",
        "outputs": [
            {"id": "findings-summary", "property": "children"},
            {"id": "findings-table", "property": "children"},
            {"id": "findings-version", "property": "data"},
        ],
        "inputs": [
            *({"id": f, "property": "value", "value": values.get(f)} for f in FILTERS),
            {"id": "findings-refresh", "property": "n_intervals", "value": None},
        ],
        "state": [{"id": "findings-version", "property": "data", "value": None}],
        "changedPropIds": [],
    }
    request = urllib.request.Request(
        url + "_dash-update-component",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return str(answer["response"]["findings-summary"]["children"])


def _serve(log_dir: Path, db: Path) -> tuple[subprocess.Popen[str], str]:
    serve = ["serve", "--log", f"file:{log_dir}", "--db", str(db), "--port", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *serve],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("dashboard at "):
        proc.kill()
        _out, err = proc.communicate(timeout=30)
        raise RuntimeError(f"rolecall serve did not start: {line.strip()} {err.strip()[-500:]}")
    return proc, line.split()[2].rstrip(";")


def measure(scratch: Path, events: int, trials: int) -> dict[str, object]:
    log_dir, db = base_store(scratch, events)
    work = Path(tempfile.mkdtemp(dir=scratch, prefix="findings-latency-run-"))
    shutil.copytree(log_dir, work / "log")
    shutil.copyfile(db, work / "store.duckdb")
    proc, url = _serve(work / "log", work / "store.duckdb")
    latencies: list[float] = []
    try:
        findings_answer(url, "000000000000")  # the page's first answer: warm
        log = FileLog(work / "log", create=False)  # a writer of its own, as an import is
        try:
            with Producer(log, batch_size=1_000) as producer:
                for k in range(trials):
                    account = f"{900_000_000_000 + k}"
                    when = START + timedelta(days=DAYS, minutes=10 * k)
                    producer.emit(root_sign_in(account, when))
                    producer.flush()
                    appended = time.perf_counter()
                    while not findings_answer(url, account).startswith("1 finding(s)"):
                        if time.perf_counter() - appended > GIVE_UP_SECONDS:
                            raise RuntimeError(f"no finding after {GIVE_UP_SECONDS:.0f} s")
                        time.sleep(POLL_SECONDS)
                    latencies.append(time.perf_counter() - appended)
        finally:
            log.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        shutil.rmtree(work, ignore_errors=True)
    return {
        "events": events,
        "trials": trials,
        "median_s": round(statistics.median(latencies), 3),
        "max_s": round(max(latencies), 3),
        "all_s": [round(t, 3) for t in latencies],
    }


def run(scratch: Path, events: int = 100_000, trials: int = 5) -> list[Result]:
    out = measure(scratch, events, trials)
    median, worst = out["median_s"], out["max_s"]
    assert isinstance(median, float) and isinstance(worst, float)
    refresh = REFRESH_MS / 1000
    where = f"rolecall serve over {events:,} simulated events, {trials} findings"
    return [
        Result(
            name="new finding on the dashboard in serve, median (evidence on the log -> listed)",
            value=median,
            unit="s",
            goal="value <= 5",
            notes=f"{where}; each: {out['all_s']} s",
        ),
        Result(
            name="new finding on an open Findings page in serve, worst case",
            value=round(worst + refresh, 3),
            unit="s",
            goal="value <= 5",
            notes=f"the slowest of {trials} ({worst} s) plus the page's {refresh:g} s refresh",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--scratch", type=Path, help="reuse (or keep) the base store here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = args.scratch or Path(tmp)
        scratch.mkdir(parents=True, exist_ok=True)
        print(json.dumps(measure(scratch, args.events, args.trials)))


if __name__ == "__main__":
    main()
