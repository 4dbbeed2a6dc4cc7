"""Hostile CloudTrail at volume: generate, import, materialize, and look for what went wrong.

    python -m tests.reliability.fuzz_import --records 100000 --seed 1     (`make fuzz`)

Records are mutations of real shapes: the samples in tests/fixtures/cloudtrail and the
simulator's CloudTrail rendering of a simulated day. Each gets one to four mutations:
wrong types anywhere, huge strings, deep nesting (within the reader's limit), unicode,
planted secrets, bad times, missing fields, whole sections replaced. They are written as
every input shape the importer reads (CloudTrail files, gzipped or not, JSON arrays, JSON
Lines with some broken lines), imported through the real importer onto a real embedded
log, and materialized into a real DuckDB file. Figures:

- crashes: exceptions escaping the importer or the materializer;
- hangs: a batch of files whose import, or a materialization, takes longer than
  `--bound` seconds (the run stops there);
- secrets: planted secret values found by a byte scan of the log's files, the DuckDB file
  and every value of every table (every planted value carries one marker, so one search
  finds them all);
- unaccounted: records read that were neither mapped nor skipped with a reason.

The exit status is 1 when any of crashes, hangs or secrets is not zero.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import os
import random
import re
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pipeline.cloudtrail import import_cloudtrail
from pipeline.cloudtrail.reader import read_records, sources
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.producer import Producer
from pipeline.simulator import SimulationConfig, simulate
from pipeline.simulator.cloudtrail import write_cloudtrail
from pipeline.store import Store
from pipeline.timeutil import parse_time
from tests.reliability.test_no_secrets import stored_values

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cloudtrail"
# Every planted secret value contains this, and nothing else does: finding it stored is a leak.
MARKER = "PLANTEDzSECRETq"
RECORDS_PER_FILE = 500
FILES_PER_BATCH = 10

T = TypeVar("T")


@dataclass
class Figures:
    records: int = 0
    files: int = 0
    read: int = 0
    mapped: int = 0
    skipped: int = 0
    corrupt_files: int = 0
    events: int = 0
    stored_events: int = 0
    dead_letters: int = 0
    planted: int = 0
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    unaccounted: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.crashes or self.hangs or self.secrets)

    def report(self) -> str:
        lines = [
            f"records generated  {self.records:>9,}  in {self.files:,} files",
            f"records read       {self.read:>9,}  mapped {self.mapped:,}, skipped with a "
            f"reason {self.skipped:,}, corrupt files {self.corrupt_files:,}",
            f"events             {self.events:>9,}  stored {self.stored_events:,}, "
            f"dead letters {self.dead_letters:,}",
            f"secrets planted    {self.planted:>9,}",
            f"crashes            {len(self.crashes):>9,}",
            f"hangs              {len(self.hangs):>9,}",
            f"secrets found      {len(self.secrets):>9,}",
            f"unaccounted        {self.unaccounted:>9,}",
            f"time               {self.seconds:>9.1f} s",
        ]
        for kind, items in (("crash", self.crashes), ("hang", self.hangs)):
            lines += [f"{kind}: {item}" for item in items[:5]]
        lines += [f"secret: {item}" for item in self.secrets[:5]]
        return "\n".join(lines)


# -- seeds ---------------------------------------------------------------------------------


def seed_records(scratch: Path) -> list[dict[str, Any]]:
    """Real samples, and the simulator's rendering of a simulated day."""
    found = [r for s in sources([str(FIXTURES)]) for r in read_records(s)]
    rendered = scratch / "rendered"
    write_cloudtrail(simulate(SimulationConfig(start=parse_time("2026-01-05"), days=1)), rendered)
    found += [r for s in sources([str(rendered)]) for r in read_records(s)]
    return [r for r in found if isinstance(r, dict)]


# -- mutations -----------------------------------------------------------------------------

_LABELS = [
    "sessionToken",
    "SessionToken",
    "X-Amz-Security-Token",
    "x-amz-security-token",
    "X-Amz-Signature",
    "secretAccessKey",
    "SecretAccessKey",
    "aws_secret_access_key",
    "aws_session_token",
    "password",
    "Signature",
]
_FORMS = [
    "?{k}={v}",
    "&{k}={v}&X-Amz-Expires=900",
    '"{k}": "{v}"',
    '{{\\"{k}\\":\\"{v}\\"}}',
    "{k}: {v}",
    " {k}={v} ",
    "%26{k}%3D{v}%26x%3D1",
]
_BAD_TIMES: list[Any] = [
    "",
    "yesterday",
    "2026-02-30T10:00:00Z",
    "9999-12-31T23:59:59Z",
    "1900-01-01T00:00:00Z",
    "2026-01-05T25:61:61Z",
    "2026-01-05T10:00:00+99:00",
    "20260105T100000Z",
    "Jan 5, 2026, 4:00:03 PM",
    1e300,
    -1,
    0,
    True,
    None,
    [],
    {"$date": "2026-01-05"},
]
_TEXT_POOL = [
    "ASIA",
    "ASIA" + "Ω" * 30,
    "arn:aws:iam::111122223333:role/ロール",
    "arn:aws:sts::111122223333:assumed-role/",
    "arn:aws:sts::111122223333:assumed-role/R/S/T/U",
    "\u202eevil\u202c",
    "🙂" * 50,
    "\x00\x01\x1f",
    "' OR 1=1 --",
    "${jndi:ldap://x}",
    "%00%0d%0a",
    "\\u0000",
    "  ",
    "null",
]


class Mutator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.planted = 0

    def secret(self) -> str:
        self.planted += 1
        value = MARKER + "".join(
            self.rng.choices(
                "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789+/",
                k=self.rng.randint(8, 60),
            )
        )
        if self.rng.random() < 0.3:  # shaped as an STS session token
            value = self.rng.choice(["IQoJb3JpZ2lu", "FwoGZXIvYXdzE", "AQoDYXdzE"]) + value
        return value

    def text(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            return rng.choice(_TEXT_POOL)
        if roll < 0.55:
            return "".join(chr(rng.randint(0x20, 0x2FFF)) for _ in range(rng.randint(0, 40)))
        if roll < 0.58:
            # Huge: mostly tens of kilobytes, now and then megabytes.
            size = rng.choice([10_000, 50_000, 200_000]) if rng.random() < 0.97 else 2_000_000
            return rng.choice("xA9/") * size
        if roll < 0.6:  # lone surrogates and other code points JSON can carry
            return "".join(chr(rng.randint(0xD800, 0xDFFF)) for _ in range(rng.randint(1, 4)))
        return "".join(
            rng.choices("abcdefghijklmnopqrstuvwxyz0123456789:/-_.", k=rng.randint(1, 30))
        )

    def value(self, depth: int = 0) -> Any:
        rng = self.rng
        roll = rng.random()
        if roll < 0.12:
            return rng.choice([None, True, False, 0, -1, 2**63, 1e308, -0.0, 3.5])
        if roll < 0.45:
            return self.text()
        if roll < 0.55 and depth < 3:
            return [self.value(depth + 1) for _ in range(rng.randint(0, 4))]
        if roll < 0.65 and depth < 3:
            return {self.text()[:40]: self.value(depth + 1) for _ in range(rng.randint(0, 4))}
        if roll < 0.7:
            deep: Any = self.text()[:10]
            for _ in range(rng.randint(50, 400)):  # deep, yet under the reader's limit
                deep = {"a": deep} if rng.random() < 0.5 else [deep]
            return deep
        return self.text()

    def mutate(self, record: dict[str, Any], event_id: str) -> Any:
        """A mutated copy of `record`, under a new event id (unless a mutation picks one):
        the materializer sees as many distinct events as there are records."""
        rng = self.rng
        record = json.loads(json.dumps(record))  # a private deep copy
        record["eventID"] = event_id
        for _ in range(rng.randint(1, 4)):
            kind = rng.random()
            if kind < 0.25:
                self._set(record, self.value())
            elif kind < 0.45:
                self._plant(record)
            elif kind < 0.55:
                record["eventTime"] = rng.choice(_BAD_TIMES)
            elif kind < 0.7:
                self._delete(record)
            elif kind < 0.8:
                section = rng.choice(
                    [
                        "userIdentity",
                        "requestParameters",
                        "responseElements",
                        "resources",
                        "additionalEventData",
                        "sessionContext",
                        "eventID",
                        "eventName",
                    ]
                )
                record[section] = self.value()
            elif kind < 0.85:
                record["eventID"] = rng.choice(["dup-1", "dup-2", self.text()[:80]])
            elif kind < 0.9:
                return self.value()  # not a record at all
            else:
                self._set(record, self.text())
        return record

    def _plant(self, record: dict[str, Any]) -> None:
        rng = self.rng
        secret = self.secret()
        where = rng.random()
        if where < 0.5:
            text = rng.choice(_FORMS).format(k=rng.choice(_LABELS), v=secret)
            if secret.startswith(("IQoJ", "FwoG", "AQoD")) and rng.random() < 0.5:
                text = f" {secret} "  # a bare session token, no label
            paths = _paths(record, strings_only=True)
            if paths:
                parent, key = self._walk(record, rng.choice(paths))
                parent[key] = parent[key][: rng.randint(0, 80)] + text
            else:
                record["errorMessage"] = text
        elif where < 0.8:
            params = record.get("requestParameters")
            if not isinstance(params, dict):
                params = record["requestParameters"] = {}
            holder: Any = params
            for _ in range(rng.randint(0, 3)):
                holder = holder.setdefault(rng.choice(["a", "b", "nested"]), {})
                if not isinstance(holder, dict):
                    return
            holder[rng.choice(_LABELS)] = secret
        else:
            record["errorMessage"] = (
                "User: arn:aws:sts::111122223333:assumed-role/R/s is not authorized to perform: "
                "s3:GetObject on resource: arn:aws:s3:::bucket/key"
                + rng.choice(_FORMS).format(k=rng.choice(_LABELS), v=secret)
            )
            record["errorCode"] = "AccessDenied"

    def _set(self, record: dict[str, Any], value: Any) -> None:
        paths = _paths(record)
        if paths:
            parent, key = self._walk(record, self.rng.choice(paths))
            parent[key] = value

    def _delete(self, record: dict[str, Any]) -> None:
        paths = [p for p in _paths(record) if isinstance(p[-1], str)]
        if paths:
            parent, key = self._walk(record, self.rng.choice(paths))
            del parent[key]

    @staticmethod
    def _walk(record: Any, path: tuple[Any, ...]) -> tuple[Any, Any]:
        target = record
        for step in path[:-1]:
            target = target[step]
        return target, path[-1]


def _paths(
    value: Any, prefix: tuple[Any, ...] = (), *, strings_only: bool = False
) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    if len(prefix) > 12:
        return out
    items: Any = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, inner in items:
        path = (*prefix, key)
        if not strings_only or isinstance(inner, str):
            out.append(path)
        if isinstance(inner, dict | list):
            out.extend(_paths(inner, path, strings_only=strings_only))
    return out


# -- files ---------------------------------------------------------------------------------


def write_files(records: list[Any], directory: Path, rng: random.Random) -> list[Path]:
    """The records in every shape the importer reads, `RECORDS_PER_FILE` a file."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for n in range(0, len(records), RECORDS_PER_FILE):
        chunk = records[n : n + RECORDS_PER_FILE]
        shape = rng.choice(["trail", "trail.gz", "array", "lines", "lines.gz"])
        name = f"{n // RECORDS_PER_FILE:06d}"
        if shape.startswith("trail"):
            data = json.dumps({"Records": chunk}).encode()
            path = directory / f"{name}.json"
        elif shape == "array":
            data = json.dumps(chunk).encode()
            path = directory / f"{name}.json"
        else:
            lines = [json.dumps(r) for r in chunk]
            if rng.random() < 0.3:  # a few broken lines among them
                for _ in range(rng.randint(1, 3)):
                    lines.insert(rng.randint(0, len(lines)), '{"eventID": "broken", ')
            data = ("\n".join(lines) + "\n").encode()
            path = directory / f"{name}.jsonl"
        if shape.endswith(".gz"):
            data = gzip.compress(data, compresslevel=1)
            path = path.with_name(path.name + ".gz")
        path.write_bytes(data)
        files.append(path)
    return files


# -- the run -------------------------------------------------------------------------------


def _bounded(what: str, seconds: float, fn: Callable[[], T]) -> tuple[T | None, str | None, bool]:
    """fn() on a worker thread: (result, crash traceback, hung)."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = fn()
        except BaseException:
            box["crash"] = f"{what}: " + traceback.format_exc(limit=-6)

    worker = threading.Thread(target=work, name=what, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        return None, None, True
    return box.get("result"), box.get("crash"), False


def run(
    records: int,
    seed: int,
    workdir: Path,
    *,
    bound: float = 300.0,
    log: Callable[[str], None] = lambda _m: None,
) -> Figures:
    started = time.perf_counter()
    figures = Figures()
    rng = random.Random(seed)
    seeds = seed_records(workdir)
    mutator = Mutator(rng)
    generated = [mutator.mutate(rng.choice(seeds), f"fuzz-{seed}-{n}") for n in range(records)]
    figures.records = len(generated)
    figures.planted = mutator.planted
    files = write_files(generated, workdir / "input", rng)
    del generated
    figures.files = len(files)
    log(
        f"generated {figures.records:,} records ({figures.planted:,} secrets) "
        f"in {figures.files} files"
    )

    log_dir, db = workdir / "log", workdir / "fuzz.duckdb"
    event_log = FileLog(log_dir, partitions=4, fsync=False)
    try:
        for n in range(0, len(files), FILES_PER_BATCH):
            batch = [str(p) for p in files[n : n + FILES_PER_BATCH]]
            summary, crash, hung = _bounded(
                "import", bound, functools.partial(import_cloudtrail, batch, Producer(event_log))
            )
            if hung:
                figures.hangs.append(f"import of {batch[0]}..{batch[-1]} over {bound:.0f} s")
                return _finish(figures, started)
            if crash:
                figures.crashes.append(crash)
                continue
            assert summary is not None
            figures.read += summary.records_read
            figures.mapped += summary.records_mapped
            figures.skipped += summary.records_skipped
            figures.corrupt_files += len(summary.corrupt_files)
            figures.events += sum(summary.events_emitted.values())
            figures.unaccounted += (
                summary.records_read - summary.records_mapped - summary.records_skipped
            )
            log(f"imported {min(n + FILES_PER_BATCH, len(files))}/{len(files)} files")
    finally:
        event_log.close()

    def materialized() -> tuple[int, int]:
        reopened = FileLog(log_dir, create=False)
        try:
            with Store(db) as store:
                materialize(reopened, store)
                events = store.con.execute("SELECT count(*) FROM events").fetchone()
                dead = store.con.execute("SELECT count(*) FROM dead_letters").fetchone()
                return (events[0] if events else 0), (dead[0] if dead else 0)
        finally:
            reopened.close()

    counts, crash, hung = _bounded("materialize", bound, materialized)
    if hung:
        figures.hangs.append(f"materialize over {bound:.0f} s")
        return _finish(figures, started)
    if crash:
        figures.crashes.append(crash)
    elif counts is not None:
        figures.stored_events, figures.dead_letters = counts
    log("materialized; scanning the stored bytes")
    figures.secrets = scan(log_dir, db)
    return _finish(figures, started)


def _finish(figures: Figures, started: float) -> Figures:
    figures.seconds = time.perf_counter() - started
    return figures


_LEAK = re.compile(re.escape(MARKER).encode() + rb"[A-Za-z0-9+/]*")


def scan(log_dir: Path, db: Path) -> list[str]:
    """Every planted value found in the stored bytes, and where."""
    found: dict[bytes, str] = {}

    def look(data: bytes, where: str) -> None:
        for match in _LEAK.finditer(data):
            found.setdefault(match.group(0), where)

    for path in sorted(log_dir.rglob("*")):
        if path.is_file():
            look(path.read_bytes(), str(path))
    for path in db.parent.glob(db.name + "*"):
        look(path.read_bytes(), str(path))
    if db.exists():
        look(stored_values(db), "a table value")
    return [f"{value.decode(errors='replace')[:80]} in {where}" for value, where in found.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.fuzz_import", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--bound",
        type=float,
        default=600.0,
        help="seconds one import batch or the materialization may take",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="work in this directory and keep it"
    )
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        figures = run(args.records, args.seed, args.keep, bound=args.bound, log=say)
    else:
        with tempfile.TemporaryDirectory(prefix="rolecall-fuzz-") as scratch:
            figures = run(args.records, args.seed, Path(scratch), bound=args.bound, log=say)
    print(figures.report())
    if figures.hangs:
        sys.stdout.flush()
        os._exit(1)  # a hung worker thread would keep the process alive
    return 1 if figures.failed else 0


if __name__ == "__main__":
    sys.exit(main())
