"""Deep verification: re-derive every fact row and session from the stored event bodies.

The stored bodies are decoded with the codec and applied, in log order, by the same
`StoreWriter` into an in-memory DuckDB; every state table must then equal the stored one
row for row. A fact row that was edited, deleted or inserted without its event (or a
`sessions` row that no longer follows from the facts) is named with its table and key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import duckdb

from pipeline.codec import EventCodec, default_codec
from pipeline.errors import CodecError, EventValidationError
from pipeline.evidence.findings import Finding
from pipeline.store.batch import Accepted, Batch
from pipeline.store.schema import DDL, STATE_TABLES
from pipeline.store.writer import StoreWriter

_BATCH = 5000


def _batches(
    con: duckdb.DuckDBPyConnection, codec: EventCodec, findings: list[Finding]
) -> Iterator[Batch]:
    cur = con.execute(
        'SELECT log_name, partition, "offset", event_id, body FROM events '
        'ORDER BY log_name, partition, "offset", event_id'
    )
    while chunk := cur.fetchmany(_BATCH):
        by_log: dict[str, Batch] = {}
        for log_name, partition, offset, event_id, body in chunk:
            try:
                event = codec.decode(bytes(body))
            except (CodecError, EventValidationError) as exc:
                findings.append(
                    Finding(
                        f"stored body does not decode ({exc})",
                        str(log_name),
                        int(partition),
                        int(offset),
                        str(event_id),
                        "events",
                    )
                )
                continue
            batch = by_log.setdefault(str(log_name), Batch(str(log_name)))
            batch.accepted.append(
                Accepted.of_event(int(partition), int(offset), event, bytes(body))
            )
        yield from by_log.values()


def rederive(
    con: duckdb.DuckDBPyConnection, codec: EventCodec | None = None
) -> tuple[duckdb.DuckDBPyConnection, list[Finding]]:
    """An in-memory store rebuilt from `con`'s stored events alone."""
    codec = codec or default_codec()
    findings: list[Finding] = []
    rebuilt = duckdb.connect(":memory:")
    rebuilt.execute("SET TimeZone = 'UTC'")
    rebuilt.execute(DDL)
    writer = StoreWriter(rebuilt)
    for batch in _batches(con, codec, findings):
        writer.apply(batch)
    return rebuilt, findings


def _key_column(table: str) -> str:
    return "session_id" if table == "sessions" else "event_id"


def _table(con: duckdb.DuckDBPyConnection, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    cur = con.execute(f"SELECT * FROM {table}")  # noqa: S608 - table names are constants
    names = [d[0] for d in cur.description or []]
    return names, cur.fetchall()


def compare_table(
    stored_con: duckdb.DuckDBPyConnection, rebuilt: duckdb.DuckDBPyConnection, table: str
) -> Finding | None:
    """The first row (by key) where the stored table and the re-derived one differ."""
    names, stored = _table(stored_con, table)
    _, derived = _table(rebuilt, table)
    key = names.index(_key_column(table))
    extra = Counter(map(repr, stored))
    extra.subtract(map(repr, derived))
    if not +extra and not -extra:
        return None
    stored_only = [r for r in stored if extra[repr(r)] > 0]
    derived_only = [r for r in derived if extra[repr(r)] < 0]
    candidates = sorted(
        [(str(r[key]), "stored", r) for r in stored_only]
        + [(str(r[key]), "derived", r) for r in derived_only]
    )
    first_key = candidates[0][0]
    kinds = {kind for k, kind, _ in candidates if k == first_key}
    if kinds == {"stored", "derived"}:
        s = next(r for k, kind, r in candidates if k == first_key and kind == "stored")
        d = next(r for k, kind, r in candidates if k == first_key and kind == "derived")
        cols = [n for n, a, b in zip(names, s, d, strict=True) if a != b]
        what = (
            f"row differs from the one derived from the stored events in "
            f"{', '.join(cols) or 'duplicates'}"
        )
    elif kinds == {"stored"}:
        what = "row has no stored event it derives from (inserted, or its event deleted)"
    else:
        what = "row derived from the stored events is missing (deleted)"
    if table == "sessions":
        return Finding(f"session {first_key!r}: {what}", table=table)
    return Finding(what, event_id=first_key, table=table)


def verify_facts(con: duckdb.DuckDBPyConnection, codec: EventCodec | None = None) -> list[Finding]:
    """Findings where the stored state tables differ from the ones the events derive."""
    rebuilt, findings = rederive(con, codec)
    try:
        for table in STATE_TABLES:
            found = compare_table(con, rebuilt, table)
            if found is not None:
                findings.append(found)
    finally:
        rebuilt.close()
    return findings
