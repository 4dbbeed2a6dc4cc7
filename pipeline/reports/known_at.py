"""As known at K: the store rebuilt from the log prefix ingested up to K.

Every log record carries when it reached the log (`LogRecord.ingested_at`). A partition
is append-only, so the records known at K are a prefix of each partition: up to the
first record ingested after K. The answer as known at K is the store materialized from
those prefixes alone, into a file of its own (`PrefixLog` bounds what the materializer
reads; the materializer itself is unchanged), then asked the same question.

Why rebuild and not filter the store: `sessions`, chains, origins and ends are merged
from every fact, so a late event changes rows derived from earlier ones (an inferred
session replaced by its issuing event, an end moved by a late exit). Filtering stored
facts by an ingest-time column would still have to derive those rows again from the
filtered facts, i.e. the same rebuild, plus a column and a schema migration on the
materializer's hot path. Measured in BENCHMARKS.md (issue 17).

Records written before the log kept ingest times have none: they precede every timed
record of their partition, so they are counted as known (the answer says how many).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.log.base import (
    DamagedSpan,
    EventLog,
    LogConsumer,
    LogItem,
    LogRecord,
    PartitionsReleased,
    PositionsProvider,
)
from pipeline.log.filelog import FileLog
from pipeline.reports.model import KnownAt
from pipeline.timeutil import iso_z, to_utc

if TYPE_CHECKING:
    from pipeline.queries import Queries

_SCAN = 20_000


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Per partition, the next offset not known at `at`; and how many records before it
    have no ingest time."""

    at: datetime
    log_name: str
    positions: dict[int, int]
    unknown_ingest_time: int

    def known_at(self) -> KnownAt:
        note = (
            f"answered from the {sum(self.positions.values()):,} log records ingested up to "
            f"{iso_z(self.at)}"
        )
        if self.unknown_ingest_time:
            note += (
                f"; {self.unknown_ingest_time:,} of them have no ingest time (written before "
                "the log kept it) and are counted as known"
            )
        return KnownAt(
            at=self.at,
            log_name=self.log_name,
            positions={str(p): o for p, o in sorted(self.positions.items())},
            unknown_ingest_time=self.unknown_ingest_time,
            note=note,
        )


def cutoffs(event_log: EventLog, at: datetime) -> Cutoffs:
    """The log positions known at `at`: one read of the log's record headers (the file
    log's own, when every record reads cleanly), else of its records through a consumer."""
    at = to_utc(at)
    if isinstance(event_log, FileLog):
        found = [event_log.known_prefix(p, at) for p in range(event_log.partition_count())]
        if all(f is not None for f in found):
            positions = {p: f[0] for p, f in enumerate(found) if f is not None}
            unknown = sum(f[1] for f in found if f is not None)
            return Cutoffs(at, event_log.name, positions, unknown)
    return cutoffs_by_consumer(event_log, at)


def cutoffs_by_consumer(event_log: EventLog, at: datetime) -> Cutoffs:
    """`cutoffs` for any log: its records read through a consumer."""
    at = to_utc(at)
    ends = event_log.end_offsets()
    limit = dict.fromkeys(ends, 0)
    done = {p for p, end in ends.items() if end == 0}
    unknown = 0
    consumer = event_log.consumer(group="rolecall-known-at")
    consumer.start(lambda parts: dict.fromkeys(parts, 0))
    try:
        while len(done) < len(ends):
            items = consumer.poll(_SCAN, timeout=0.0)
            if not items:
                if consumer.caught_up():
                    break
                continue
            for item in items:
                p = item.partition
                if p in done:
                    continue
                if isinstance(item, DamagedSpan):
                    limit[p] = item.end  # damage is known as damage (a dead letter)
                elif item.ingested_at is not None and item.ingested_at > at:
                    done.add(p)
                else:
                    unknown += item.ingested_at is None
                    limit[p] = item.offset + 1
                if limit[p] >= ends.get(p, 0):
                    done.add(p)
    finally:
        consumer.close()
    return Cutoffs(at, event_log.name, limit, unknown)


class PrefixLog(EventLog):
    """A read-only view of a log cut at given positions (what was known at a moment)."""

    def __init__(self, inner: EventLog, limits: Mapping[int, int]) -> None:
        super().__init__(inner.codec)
        self.inner = inner
        self.name = inner.name
        self.limits = dict(limits)

    def append_encoded(self, messages: Sequence[tuple[bytes | None, bytes, str]]) -> None:
        raise NotImplementedError("a log prefix is read-only")

    def partition_count(self) -> int:
        return self.inner.partition_count()

    def end_offsets(self) -> dict[int, int]:
        return dict(self.limits)

    def consumer(self, *, group: str = "rolecall-known-at") -> LogConsumer:
        return _PrefixConsumer(self.inner.consumer(group=group), self.limits)

    def close(self) -> None:
        pass  # the inner log belongs to the caller


class _PrefixConsumer(LogConsumer):
    def __init__(self, inner: LogConsumer, limits: Mapping[int, int]) -> None:
        self.inner = inner
        self.limits = limits
        self.reached: dict[int, int] = {}

    def start(
        self, positions: PositionsProvider, released: PartitionsReleased | None = None
    ) -> None:
        def resume(parts: Sequence[int]) -> Mapping[int, int]:
            found = positions(parts)
            self.reached.update({p: int(found.get(p, 0)) for p in parts})
            return found

        self.inner.start(resume, released)

    def poll(self, max_records: int, timeout: float = 1.0) -> list[LogItem]:
        out: list[LogItem] = []
        for item in self.inner.poll(max_records, timeout):
            limit = self.limits.get(item.partition, 0)
            if isinstance(item, LogRecord):
                if item.offset < limit:
                    out.append(item)
                    self.reached[item.partition] = item.offset + 1
            elif item.start < limit:
                end = min(item.end, limit)
                out.append(DamagedSpan(item.partition, item.start, end, item.reason))
                self.reached[item.partition] = end
        return out

    def caught_up(self) -> bool:
        at_limits = all(self.reached.get(p, 0) >= lim for p, lim in self.limits.items())
        return at_limits or self.inner.caught_up()

    def close(self) -> None:
        self.inner.close()


def _cache_name(c: Cutoffs) -> str:
    text = c.log_name + "|" + ",".join(f"{p}:{o}" for p, o in sorted(c.positions.items()))
    return "known-" + hashlib.sha256(text.encode()).hexdigest()[:24] + ".duckdb"


def build_prefix_store(
    event_log: EventLog, limits: Mapping[int, int], path: Path, *, extend: bool = False
) -> None:
    """Materialize the log up to `limits` into a new store file at `path` (with `extend`,
    into the store already there, which resumes from its own positions)."""
    from pipeline.materializer import materialize
    from pipeline.store import Store

    if not extend:
        path.unlink(missing_ok=True)
    with Store(path) as store:
        materialize(PrefixLog(event_log, limits), store, poll_timeout=0.0)


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _nearest_below(folder: Path, c: Cutoffs) -> Path | None:
    """The cached prefix of the same log that `c` extends the most (all its positions at
    or below `c`'s): materializing only the records in between gives the same store, as
    the state does not depend on batching or order."""
    best, most = None, -1
    for meta in folder.glob("known-*.json"):
        try:
            doc = json.loads(meta.read_text())
            positions = {int(p): int(o) for p, o in doc["positions"].items()}
            name = str(doc["log_name"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # not one of ours, or half written: ignored
        store = meta.with_suffix(".duckdb")
        if name != c.log_name or not store.exists():
            continue
        if all(o <= c.positions.get(p, 0) for p, o in positions.items()):
            size = sum(positions.values())
            if size > most:
                best, most = store, size
    return best


@contextmanager
def prefix_store(
    event_log: EventLog, c: Cutoffs, *, cache_dir: str | os.PathLike[str] | None = None
) -> Iterator[Path]:
    """The path of a store holding the log prefix `c` (rebuilt, or found in `cache_dir`:
    the same prefix of the same log always derives the same store)."""
    if cache_dir is not None:
        folder = Path(cache_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / _cache_name(c)
        if not path.exists():
            partial = path.with_suffix(".partial")
            base = _nearest_below(folder, c)
            if base is not None:
                shutil.copyfile(base, partial)
            build_prefix_store(event_log, c.positions, partial, extend=base is not None)
            _sidecar(path).write_text(
                json.dumps({"log_name": c.log_name, "positions": c.positions})
            )
            os.replace(partial, path)
        yield path
        return
    scratch = Path(tempfile.mkdtemp(prefix="rolecall-known-at-"))
    try:
        path = scratch / "known.duckdb"
        build_prefix_store(event_log, c.positions, path)
        yield path
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def known_queries(
    event_log: EventLog,
    at: datetime,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    current: str | os.PathLike[str] | None = None,
) -> Iterator[tuple[Queries, KnownAt]]:
    """The query API over what was known at `at`, and what that selected.

    With `current` (the store materialized from this log): when it holds exactly the
    prefix known at `at` and nothing else, it is the answer, and nothing is rebuilt.
    """
    from pipeline.queries import Queries

    c = cutoffs(event_log, at)
    if current is not None:
        with Queries.open(Path(current)) as q:
            rows = q.con.execute(
                "SELECT log_name, partition, next_offset FROM positions"
            ).fetchall()
            held = {(str(n), int(p)): int(o) for n, p, o in rows if int(o) > 0}
            wanted = {(c.log_name, p): o for p, o in c.positions.items() if o > 0}
            if held == wanted:
                yield q, c.known_at()
                return
    with prefix_store(event_log, c, cache_dir=cache_dir) as path, Queries.open(path) as q:
        yield q, c.known_at()
