"""The store against the log it was materialized from.

`check_log` (every `verify` given a log): the log must still hold every offset the store
consumed; a deleted or truncated newest segment leaves it behind.

`reconcile` (`verify --deep` given a file log): every offset below the store's position
must be accounted for by the store: the event stored at that offset with the log's exact
bytes, a dead letter covering it, a conflict recorded at it, or a duplicate (its event id
stored with the same bytes elsewhere). This catches what no table inside the store can
show alone: deleted dead letters or conflicts, and stored events rewritten (even with the
whole chain recomputed). Both sides are read in offset order, one partition at a time,
so memory does not grow with the store.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterator
from typing import Any

import duckdb

from pipeline.codec import EventCodec
from pipeline.errors import CodecError
from pipeline.evidence.findings import Finding
from pipeline.log.base import DamagedSpan, EventLog, LogRecord
from pipeline.log.filelog import FileLog, FileLogConsumer

_FETCH = 10_000


def check_log(con: duckdb.DuckDBPyConnection, log: EventLog) -> list[Finding] | None:
    """Offsets the store consumed that its log no longer holds; None when the store holds
    nothing from that log (another log: nothing to compare)."""
    positions = _positions(con, log.name)
    if not positions:
        return None
    return [
        Finding(
            f"offsets {gap.start}-{gap.end - 1} consumed by the store are missing from the "
            "log (a deleted or truncated segment?)",
            log.name,
            gap.partition,
            gap.start,
            table="positions",
        )
        for gap in log.behind(positions)
    ]


def _positions(con: duckdb.DuckDBPyConnection, log_name: str) -> dict[int, int]:
    rows = con.execute(
        "SELECT partition, next_offset FROM positions WHERE log_name = ?", [log_name]
    ).fetchall()
    return {int(p): int(o) for p, o in rows}


class _Covered:
    """Offsets of one partition covered by dead letters (merged intervals) or conflicts."""

    def __init__(self, con: duckdb.DuckDBPyConnection, log_name: str, partition: int) -> None:
        spans = con.execute(
            'SELECT "offset", end_offset FROM dead_letters WHERE log_name = ? AND partition = ? '
            'ORDER BY "offset"',
            [log_name, partition],
        ).fetchall()
        merged: list[list[int]] = []
        for start, end in spans:
            if merged and int(start) <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], int(end))
            else:
                merged.append([int(start), int(end)])
        self.starts = [s for s, _ in merged]
        self.spans = merged
        self.conflicts = {
            int(o)
            for (o,) in con.execute(
                'SELECT "offset" FROM conflicts WHERE log_name = ? AND partition = ?',
                [log_name, partition],
            ).fetchall()
        }

    def dead(self, start: int, end: int) -> bool:
        """Whether dead letters cover every offset of `[start, end)`."""
        i = bisect.bisect_right(self.starts, start) - 1
        return i >= 0 and self.spans[i][1] >= end


def _stored(
    con: duckdb.DuckDBPyConnection, log_name: str, partition: int, upto: int
) -> Iterator[tuple[int, str]]:
    cur = con.execute(
        'SELECT "offset", sha256(body) FROM events WHERE log_name = ? AND partition = ? '
        'AND "offset" < ? ORDER BY "offset"',
        [log_name, partition, upto],
    )
    while chunk := cur.fetchmany(_FETCH):
        for offset, digest in chunk:
            yield int(offset), str(digest)


def _log_items(log: FileLog, partition: int, upto: int) -> Iterator[LogRecord | DamagedSpan]:
    consumer = FileLogConsumer(log, partitions=[partition])
    consumer.start(lambda parts: dict.fromkeys(parts, 0))
    try:
        while True:
            items = consumer.poll(_FETCH)
            if not items:
                return
            for item in items:
                if (item.offset if isinstance(item, LogRecord) else item.start) >= upto:
                    return
                yield item
    finally:
        consumer.close()


def reconcile(con: duckdb.DuckDBPyConnection, log: EventLog, codec: EventCodec) -> list[Finding]:
    """The first offset of each partition that the store does not account for."""
    if not isinstance(log, FileLog):
        return []
    findings: list[Finding] = []
    for partition, upto in sorted(_positions(con, log.name).items()):
        found = _reconcile_partition(con, log, codec, partition, upto)
        if found is not None:
            findings.append(found)
    return findings


def _reconcile_partition(
    con: duckdb.DuckDBPyConnection, log: FileLog, codec: EventCodec, partition: int, upto: int
) -> Finding | None:
    covered = _Covered(con, log.name, partition)
    stored = _stored(con, log.name, partition, upto)
    pending = next(stored, None)
    maybe_duplicates: list[tuple[int, str, str]] = []  # offset, event id, sha256

    def finding(what: str, offset: int, event_id: str | None = None, table: str = "") -> Finding:
        return Finding(what, log.name, partition, offset, event_id, table or None)

    for item in _log_items(log, partition, upto):
        start = item.offset if isinstance(item, LogRecord) else item.start
        end = start + 1 if isinstance(item, LogRecord) else min(item.end, upto)
        if pending is not None and pending[0] < start:
            return finding("a stored event at this offset has no record on the log", pending[0])
        matched: dict[int, str] = {}
        while pending is not None and pending[0] < end:
            matched[pending[0]] = pending[1]
            pending = next(stored, None)
        if isinstance(item, LogRecord):
            digest = hashlib.sha256(item.value).hexdigest()
            if start in matched:
                if matched[start] != digest:
                    return finding(
                        "the stored event differs from the log's record (rewritten?)",
                        start,
                        table="events",
                    )
                continue
            if covered.dead(start, end) or start in covered.conflicts:
                continue
            try:
                _type, record = codec.decode_record(item.value)
            except CodecError:
                return finding(
                    "the log's record does not decode, and the store has no dead letter "
                    "for it (deleted?)",
                    start,
                    table="dead_letters",
                )
            maybe_duplicates.append((start, str(record.get("event_id")), digest))
            continue
        gaps = [o for o in range(start, end) if o not in matched] if matched else None
        if gaps is None and not covered.dead(start, end):
            gaps = [start]
        for o in gaps or ():
            if not covered.dead(o, o + 1):
                return finding(
                    f"offsets {start}-{end - 1} are damaged or missing on the log and the "
                    "store has no dead letter for this one (deleted, or the log was damaged "
                    "after it was read)",
                    o,
                    table="dead_letters",
                )
    return _not_duplicates(con, maybe_duplicates, finding)


def _not_duplicates(
    con: duckdb.DuckDBPyConnection, candidates: list[tuple[int, str, str]], finding: Any
) -> Finding | None:
    """The first record that is not a duplicate of a stored event (same id, same bytes)."""
    for i in range(0, len(candidates), _FETCH):
        chunk = candidates[i : i + _FETCH]
        ids = sorted({event_id for _, event_id, _ in chunk})
        stored: dict[str, set[str]] = {}
        for e, d in con.execute(
            "SELECT event_id, sha256(body) FROM events WHERE event_id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [ids],
        ).fetchall():
            stored.setdefault(str(e), set()).add(str(d))
        for offset, event_id, digest in chunk:
            if event_id in stored and digest not in stored[event_id]:
                conflict: Finding = finding(
                    "the log's record conflicts with the stored event of the same id, and "
                    "the store has no conflict for it (deleted?)",
                    offset,
                    event_id,
                    "conflicts",
                )
                return conflict
            if event_id not in stored:
                missing: Finding = finding(
                    "the log's record is not in the store, nor a dead letter, a conflict or "
                    "a duplicate (deleted?)",
                    offset,
                    event_id,
                    "events",
                )
                return missing
    return None
