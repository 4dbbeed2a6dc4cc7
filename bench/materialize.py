"""Materialize the embedded log into DuckDB: rate, against fastavro's raw decode, and memory.

The materializer runs in a child process (`python -m bench.materialize LOG DB`), as a
user would run it; the parent samples its resident memory from /proc while it runs (with
its decoding process's), so the peak and its growth over the run are measured from
outside, not estimated. Its CPU utilisation (both processes' CPU seconds over the wall
seconds) is recorded beside the rate.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import fastavro

from bench.results import Result
from bench.workload import Workload, log_records
from pipeline.codec import HEADER_SIZE, default_codec
from pipeline.log import FileLog
from pipeline.materializer import DEFAULT_BATCH_SIZE, materialize
from pipeline.store import Store

BATCH_SIZE = DEFAULT_BATCH_SIZE  # what a user gets
# The raw decode rate per message does not depend on the log's size: a sample suffices.
DECODE_SAMPLE = 200_000
MIB = 1024 * 1024


def raw_decode_rate(messages: list[bytes]) -> float:
    """Messages per second fastavro alone decodes (schema looked up by fingerprint)."""
    codec = default_codec()
    writers = {fp: codec._writers[fp].parsed for fp in codec.known_fingerprints()}
    started = time.perf_counter()
    for m in messages:
        fastavro.schemaless_reader(io.BytesIO(m[HEADER_SIZE:]), writers[m[2:HEADER_SIZE]], None)
    return len(messages) / (time.perf_counter() - started)


def _rss(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            # The parent's pid is the second field after the command, which is in parentheses.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _tree_rss(pid: int) -> int | None:
    """The resident memory of `pid` and of its children (the decoding process)."""
    own = _rss(pid)
    if own is None:
        return None
    return own + sum(_rss(c) or 0 for c in _children(pid))


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run_child(log_dir: Path, db: Path) -> tuple[dict[str, float], list[tuple[float, int]]]:
    """Materialize in a child process: its stats (with `cpu`, its CPU utilisation and its
    decoding process's), and (seconds, RSS bytes) samples."""
    db.unlink(missing_ok=True)
    Path(f"{db}.wal").unlink(missing_ok=True)
    cpu_before = _children_cpu()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.materialize", str(log_dir), str(db)],
        stdout=subprocess.PIPE,
        text=True,
    )
    samples: list[tuple[float, int]] = []
    started = time.perf_counter()
    while child.poll() is None:
        rss = _tree_rss(child.pid)
        if rss is not None:
            samples.append((time.perf_counter() - started, rss))
        time.sleep(0.2)
    out, _ = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"the materializer failed (exit {child.returncode})")
    stats: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    # The child waited for its decoding process, so its CPU is counted in the child's.
    stats["cpu"] = (_children_cpu() - cpu_before) / (time.perf_counter() - started)
    return stats, samples


def run(work: Workload, db: Path) -> list[Result]:
    messages = [r.value for r in log_records(work.log_dir, limit=DECODE_SAMPLE)]
    decode = raw_decode_rate(messages)
    del messages
    stats, samples = run_child(work.log_dir, db)
    half = stats["seconds"] / 2
    first = max((rss for t, rss in samples if t <= half), default=0) / MIB
    peak = max((rss for _, rss in samples), default=0) / MIB
    size = f"{work.events:,} events"
    big = work.events >= 10_000_000
    return [
        Result(
            name=f"materialize, embedded log -> DuckDB ({size})",
            value=stats["read"] / stats["seconds"],
            unit="events/s",
            reference="fastavro raw decode of the same messages",
            reference_value=decode,
            goal="ratio >= 0.5",
            notes=f"batch {BATCH_SIZE:,}; decode rate over the first "
            f"{min(DECODE_SAMPLE, work.events):,} messages; "
            f"{db.stat().st_size / 1e6:,.0f} MB database; CPU utilisation {stats['cpu']:.2f}",
            cpu=round(stats["cpu"], 2),
        ),
        Result(
            name=f"materialize peak memory ({size})",
            value=peak,
            unit="MiB",
            goal="value <= 2048" if big else None,
            notes="peak RSS of the materializer and its decoding process, sampled every 0.2 s",
        ),
        Result(
            name=f"materialize memory growth ({size})",
            value=peak,
            unit="MiB",
            reference="peak over the first half of the run",
            reference_value=first or None,
            goal="ratio <= 1.25" if work.events >= 1_000_000 else None,
            notes="flat means the second half of the input adds little to the peak",
        ),
        *findings_results(stats, size),
    ]


def findings_results(stats: dict[str, float], size: str) -> list[Result]:
    """The findings projection's own time (measured inside the writer, per batch), its
    share of materialize time, and the events it keeps up with per second."""
    spent = stats.get("findings_seconds", 0.0)
    if not spent:
        return []
    return [
        Result(
            name=f"findings projection share of materialize ({size})",
            value=100 * spent / stats["seconds"],
            unit="%",
            notes=f"{spent:,.1f} s of {stats['seconds']:,.1f} s, inside each batch's transaction",
        ),
        Result(
            name=f"findings projection rate ({size})",
            value=stats["applied"] / spent,
            unit="events/s",
            notes="stored events over the projection's own time (batch "
            f"{BATCH_SIZE:,}); the rest of materialize excluded",
        ),
    ]


def _child(log_dir: str, db: str) -> None:
    log = FileLog(Path(log_dir), create=False)
    with Store(Path(db)) as store:
        stats = materialize(log, store, batch_size=BATCH_SIZE)
        findings = store.writer.findings_seconds
    log.close()
    print(
        json.dumps(
            {
                "read": stats.read,
                "applied": stats.applied,
                "seconds": stats.seconds,
                "findings_seconds": findings,
            }
        )
    )


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
