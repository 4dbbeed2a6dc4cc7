"""Crash harness: SIGKILL `rolecall materialize` at random moments; nothing may be lost.

Simulates events onto a log (any backend: the log is a URL), materializes it once
cleanly, then materializes it again into a second database while killing the
materializer process with SIGKILL at random moments and restarting it each time until it
finishes. Both databases must hold the same state: every state table compared as sorted
rows, the same positions, every event stored once, and an intact hash chain.

    python -m tests.reliability.crash_harness --events 200000 --kills 20 --seed 1
    python -m tests.reliability.crash_harness --log kafka://127.0.0.1:9092/crash-1 --kills 20

Kill moments adapt to progress (read from the stored positions between runs) so that
all the kills land before the run completes; a kill may hit start-up, a batch being
decoded, or a transaction being committed.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.cli.produce import write_simulation
from pipeline.evidence import verify
from pipeline.simulator import SimulationConfig
from pipeline.store import STATE_TABLES, connect
from pipeline.timeutil import parse_time

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CrashReport:
    events: int
    kills_requested: int
    kills: int
    restarts: int
    clean_seconds: float
    crash_seconds: float
    differences: list[str]

    @property
    def equal(self) -> bool:
        return not self.differences

    def lines(self) -> list[str]:
        return [
            f"events: {self.events:,}",
            f"kills survived: {self.kills} of {self.kills_requested} requested "
            f"({self.restarts} runs in all)",
            f"clean run: {self.clean_seconds:.1f} s; crashing run: {self.crash_seconds:.1f} s",
            "final state: " + ("equal to the clean run's" if self.equal else "DIFFERENT"),
            *(f"  {d}" for d in self.differences),
        ]


def _materialize_cmd(log_url: str, db: Path, batch_size: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pipeline",
        "materialize",
        "--log",
        log_url,
        "--db",
        str(db),
        "--batch-size",
        str(batch_size),
    ]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _run_to_end(cmd: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=_env(), cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"materialize failed ({done.returncode}): {done.stderr.strip()}")
    return time.perf_counter() - started


def _consumed(db: Path) -> int:
    """Records consumed so far, as the store's positions say (0 before the first commit)."""
    if not db.exists():
        return 0
    con = connect(db, read_only=True)
    try:
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        if "positions" not in tables:
            return 0
        row = con.execute("SELECT coalesce(sum(next_offset), 0) FROM positions").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def state_rows(db: Path) -> dict[str, Any]:
    """Everything two equal stores share: state tables, positions, events, chain heads."""
    con = connect(db, read_only=True)
    try:
        out: dict[str, Any] = {}
        for table in STATE_TABLES:
            rows = con.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608 - constant
            out[table] = sorted(rows, key=repr)
        out["positions"] = sorted(
            con.execute("SELECT partition, next_offset FROM positions").fetchall()
        )
        out["events"] = sorted(
            con.execute('SELECT partition, "offset", event_id, chain_hash FROM events').fetchall()
        )
        out["chain_heads"] = sorted(
            con.execute("SELECT partition, last_offset, events, head FROM chain_heads").fetchall()
        )
        out["dead_letters"] = con.execute("SELECT count(*) FROM dead_letters").fetchall()
        out["conflicts"] = con.execute("SELECT count(*) FROM conflicts").fetchall()
        verdict = verify(con)
        out["verify"] = verdict.summary() if not verdict.intact else "intact"
        return out
    finally:
        con.close()


def compare(clean: dict[str, Any], crashed: dict[str, Any]) -> list[str]:
    diffs = []
    for name, rows in clean.items():
        other = crashed.get(name)
        if other != rows:
            if isinstance(rows, list) and isinstance(other, list):
                diffs.append(f"{name}: {len(rows)} rows clean, {len(other)} after crashes")
            else:
                diffs.append(f"{name}: {rows!r} clean, {other!r} after crashes")
    return diffs


def run_harness(
    *,
    log_url: str,
    workdir: Path,
    events: int,
    kills: int,
    seed: int,
    batch_size: int = 2000,
    say: Any = print,
) -> CrashReport:
    rng = random.Random(seed)
    config = SimulationConfig(start=parse_time("2026-01-05"), days=3, seed=seed, events=events)
    emitted = write_simulation(config, log_url)
    say(f"simulated {emitted:,} events onto {log_url}")

    clean_db, crash_db = workdir / "clean.duckdb", workdir / "crashed.duckdb"
    clean_seconds = _run_to_end(_materialize_cmd(log_url, clean_db, batch_size))
    # start-up cost: the quicker of two runs with nothing new to do
    startup = min(_run_to_end(_materialize_cmd(log_url, clean_db, batch_size)) for _ in range(2))
    rate = emitted / max(clean_seconds - startup, 0.1)
    say(f"clean run: {clean_seconds:.1f} s (start-up {startup:.1f} s)")

    started = time.perf_counter()
    cmd = _materialize_cmd(log_url, crash_db, batch_size)
    done_kills = runs = 0
    finished = False
    while done_kills < kills and not finished:
        remaining = max(emitted - _consumed(crash_db), 0)
        work = remaining / rate
        # on average less than 1/(kills left + 1) of the remaining work per run, so that
        # all the kills land before the end (the load on the machine varies)
        delay = rng.uniform(0.05, 0.8 * startup + 1.5 * work / (kills - done_kills + 1))
        proc = subprocess.Popen(
            cmd, env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        runs += 1
        try:
            proc.wait(timeout=delay)
            finished = proc.returncode == 0
            if not finished:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"materialize failed ({proc.returncode}): {err.strip()}")
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            done_kills += 1
            say(
                f"kill {done_kills}: after {delay:.2f} s, "
                f"{_consumed(crash_db):,}/{emitted:,} consumed"
            )
        finally:
            if proc.stderr:
                proc.stderr.close()
    if not finished:
        _run_to_end(cmd)
        runs += 1
    crash_seconds = time.perf_counter() - started
    differences = compare(state_rows(clean_db), state_rows(crash_db))
    return CrashReport(emitted, kills, done_kills, runs, clean_seconds, crash_seconds, differences)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--log", dest="log_url", help="a fresh log URL (default: a temp dir)")
    parser.add_argument("--workdir", type=Path, help="where the databases go (default: temp)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rolecall-crash-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        log_url = args.log_url or f"file:{workdir / 'log'}"
        report = run_harness(
            log_url=log_url,
            workdir=workdir,
            events=args.events,
            kills=args.kills,
            seed=args.seed,
            batch_size=args.batch_size,
        )
    for line in report.lines():
        print(line)
    return 0 if report.equal and report.kills == report.kills_requested else 1


if __name__ == "__main__":
    sys.exit(main())
