"""The store's bookkeeping as evidence: positions, dead letters, conflicts, store metadata.

The hash chain covers stored events only, yet deleting a dead letter hides that evidence
was damaged, deleting a conflict hides a forged duplicate, and moving a position skips
events. So:

- `check_ledger` checks what the store can say about itself: every partition with stored
  events has a position past its last event; dead letters and conflicts lie below their
  partition's position; the schema version is there.
- A digest also keeps, per (log, partition), the position and a SHA-256 over the dead
  letters and conflicts below it (a `Ledger`), and the store metadata.
  `check_against` proves them unchanged: rows past the kept position are newer and fine,
  a position may only grow, and a log the digest did not cover is named (its events were
  not in the store when the digest was taken, e.g. back-dated sessions under a new name).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from pipeline.evidence.findings import Finding


@dataclass(frozen=True, slots=True)
class Ledger:
    """A partition's bookkeeping at digest time: its position, and what lies below it."""

    log_name: str
    partition: int
    next_offset: int
    dead_letters: int
    conflicts: int
    dead_letters_sha256: str  # of the dead letters below next_offset, in order
    conflicts_sha256: str  # of the conflicts below next_offset, in order

    @property
    def key(self) -> tuple[str, int]:
        return (self.log_name, self.partition)


def _positions(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, int], int]:
    rows = con.execute("SELECT log_name, partition, next_offset FROM positions").fetchall()
    return {(str(n), int(p)): int(o) for n, p, o in rows}


def _below(con: duckdb.DuckDBPyConnection, log_name: str, partition: int, upto: int) -> Ledger:
    """The ledger of one partition's dead letters and conflicts below `upto`."""
    dead_hash, conflict_hash = hashlib.sha256(), hashlib.sha256()
    dead = con.execute(
        'SELECT "offset", end_offset, reason, body FROM dead_letters '
        'WHERE log_name = ? AND partition = ? AND "offset" < ? '
        'ORDER BY "offset", end_offset, reason, body',
        [log_name, partition, upto],
    ).fetchall()
    for offset, end, reason, body in dead:
        dead_hash.update(f"{offset}\x00{end}\x00{reason}\x00".encode())
        dead_hash.update(b"-" if body is None else bytes(body).hex().encode())
        dead_hash.update(b"\n")
    conflicts = con.execute(
        'SELECT "offset", event_id, reason FROM conflicts '
        'WHERE log_name = ? AND partition = ? AND "offset" < ? '
        'ORDER BY "offset", event_id, reason',
        [log_name, partition, upto],
    ).fetchall()
    for offset, event_id, reason in conflicts:
        conflict_hash.update(f"{offset}\x00{event_id}\x00{reason}\n".encode())
    return Ledger(
        log_name,
        partition,
        upto,
        len(dead),
        len(conflicts),
        dead_hash.hexdigest(),
        conflict_hash.hexdigest(),
    )


def ledgers(con: duckdb.DuckDBPyConnection) -> list[Ledger]:
    """Every partition's current ledger (what a digest keeps)."""
    return [_below(con, n, p, o) for (n, p), o in sorted(_positions(con).items())]


def store_meta(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = con.execute("SELECT key, value FROM store_meta ORDER BY key").fetchall()
    return {str(k): str(v) for k, v in rows}


def check_ledger(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """What the store's bookkeeping says about itself, without a digest."""
    findings: list[Finding] = []
    positions = _positions(con)
    heads = con.execute("SELECT log_name, partition, last_offset FROM chain_heads").fetchall()
    for log_name, partition, last in heads:
        at = positions.get((str(log_name), int(partition)))
        if at is None or at <= int(last):
            what = (
                "no position for a partition with stored events"
                if at is None
                else f"position {at} is not past the last stored event at offset {last}"
            )
            findings.append(
                Finding(what, str(log_name), int(partition), int(last), table="positions")
            )
    for table, end in (("dead_letters", "end_offset"), ("conflicts", '"offset" + 1')):
        rows = con.execute(
            f'SELECT log_name, partition, min("offset"), max({end}) FROM {table} '  # noqa: S608 - constants
            "GROUP BY log_name, partition ORDER BY log_name, partition"
        ).fetchall()
        for log_name, partition, first, last in rows:
            at = positions.get((str(log_name), int(partition)))
            if at is None or int(last) > at:
                findings.append(
                    Finding(
                        f"a row past the partition's position ({at}): never consumed from the log",
                        str(log_name),
                        int(partition),
                        int(first),
                        table=table,
                    )
                )
    meta = store_meta(con)
    if not meta.get("schema_version", "").isdigit():
        findings.append(Finding("no valid schema_version", table="store_meta"))
    return findings


def check_against(
    con: duckdb.DuckDBPyConnection,
    kept: Sequence[Ledger],
    kept_meta: Mapping[str, str],
    covered_logs: set[str],
) -> list[Finding]:
    """Findings where the bookkeeping below a digest's positions, or its metadata, changed."""
    findings: list[Finding] = []
    positions = _positions(con)
    for k in kept:
        where: dict[str, Any] = {"log_name": k.log_name, "partition": k.partition}
        at = positions.get(k.key)
        if at is None or at < k.next_offset:
            findings.append(
                Finding(
                    f"position {at} is behind the digest's {k.next_offset} (moved back or deleted)",
                    offset=k.next_offset,
                    table="positions",
                    **where,
                )
            )
        now = _below(con, k.log_name, k.partition, k.next_offset)
        for table, count, kept_count, digest_now, digest_kept in (
            ("dead_letters", now.dead_letters, k.dead_letters, now.dead_letters_sha256,
             k.dead_letters_sha256),
            ("conflicts", now.conflicts, k.conflicts, now.conflicts_sha256, k.conflicts_sha256),
        ):  # fmt: skip
            if digest_now != digest_kept:
                findings.append(
                    Finding(
                        f"rows below offset {k.next_offset} differ from the digest "
                        f"({count} now, {kept_count} in the digest): deleted, edited or inserted",
                        table=table,
                        **where,
                    )
                )
    meta = store_meta(con)
    for key, value in sorted(kept_meta.items()):
        now_value = meta.get(key)
        grew = key == "schema_version" and _int(now_value) >= _int(value) >= 0  # an upgrade
        if now_value != value and not grew:
            findings.append(
                Finding(f"{key} is {now_value!r}, the digest says {value!r}", table="store_meta")
            )
    rows = con.execute(
        "SELECT log_name, count(*), min(event_time) FROM events GROUP BY log_name ORDER BY 1"
    ).fetchall()
    for log_name, count, earliest in rows:
        if str(log_name) not in covered_logs:
            findings.append(
                Finding(
                    f"a log the digest does not cover: {count} events (the earliest at "
                    f"{earliest}) were not in the store when the digest was taken",
                    str(log_name),
                    table="events",
                )
            )
    return findings


def _int(value: str | None) -> int:
    return int(value) if value is not None and value.isdigit() else -1
