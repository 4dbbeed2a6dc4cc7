"""Recompute each partition's SHA-256 chain from the stored events, and the chain heads.

The writer links every stored event into its partition's chain:
`head = sha256(previous head, log name, partition, offset, Avro body)`, from 32 zero
bytes (`GENESIS`), in offset order. Recomputing it from the `events` rows catches a body,
a position or a row that was changed, deleted or inserted, unless the chain was forged
from that point on; a digest kept elsewhere catches that too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from pipeline.codec import EventCodec, default_codec
from pipeline.errors import CodecError, InputError
from pipeline.evidence.findings import Finding
from pipeline.evidence.ledger import Ledger
from pipeline.store.rows import naive_utc
from pipeline.store.writer import GENESIS, chain_link

DIGEST_FORMAT = "rolecall-digest/2"
# Version 1 kept the chain heads only; it is still read (its bookkeeping is not checked).
_READABLE_FORMATS = ("rolecall-digest/1", DIGEST_FORMAT)
# A digest holds a few hundred bytes per partition: anything far larger is not one.
MAX_DIGEST_BYTES = 64 * 1024 * 1024
_FETCH = 10_000


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where a partition's chain stood: its last offset, how many events, the head hash."""

    log_name: str
    partition: int
    last_offset: int
    events: int
    head: str  # hex

    @property
    def key(self) -> tuple[str, int]:
        return (self.log_name, self.partition)


def digest(con: duckdb.DuckDBPyConnection) -> list[ChainHead]:
    """The current chain heads, one per (log, partition)."""
    rows = con.execute(
        "SELECT log_name, partition, last_offset, events, head FROM chain_heads "
        "ORDER BY log_name, partition"
    ).fetchall()
    return [ChainHead(str(n), int(p), int(o), int(c), bytes(h).hex()) for n, p, o, c, h in rows]


@dataclass(frozen=True)
class Digest:
    """What an auditor kept: chain heads, and (format 2) the bookkeeping and metadata."""

    heads: list[ChainHead]
    ledgers: list[Ledger] | None = None
    store_meta: dict[str, str] | None = None

    @property
    def logs(self) -> set[str]:
        """The logs the digest covers."""
        return {h.log_name for h in self.heads} | {k.log_name for k in self.ledgers or ()}


def digest_document(
    heads: Sequence[ChainHead],
    taken_at: datetime,
    *,
    ledgers: Sequence[Ledger] = (),
    store_meta: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON an auditor keeps (what `rolecall digest --json` prints)."""
    return {
        "format": DIGEST_FORMAT,
        "taken_at": taken_at.isoformat().replace("+00:00", "Z"),
        "heads": [asdict(h) for h in heads],
        "ledgers": [asdict(k) for k in ledgers],
        "store_meta": dict(store_meta or {}),
    }


def load_digest(path: str | Path) -> Digest:
    """A digest from a file written by `rolecall digest --json`."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_DIGEST_BYTES + 1)
        if len(raw) > MAX_DIGEST_BYTES:
            raise InputError(f"{path} is over {MAX_DIGEST_BYTES // 2**20} MiB: not a digest")
        doc = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read digest {path}: {exc}") from exc
    except RecursionError as exc:  # hostile nesting: json recurses per level
        raise InputError(f"cannot read digest {path}: nested too deeply") from exc
    if not isinstance(doc, dict) or doc.get("format") not in _READABLE_FORMATS:
        raise InputError(f"{path} is not a rolecall digest (want format {DIGEST_FORMAT!r})")
    try:
        heads = [
            ChainHead(
                str(h["log_name"]),
                int(h["partition"]),
                int(h["last_offset"]),
                int(h["events"]),
                bytes.fromhex(str(h["head"])).hex(),
            )
            for h in doc["heads"]
        ]
        if doc["format"] != DIGEST_FORMAT:
            return Digest(heads)
        ledgers = [
            Ledger(
                str(k["log_name"]),
                int(k["partition"]),
                int(k["next_offset"]),
                int(k["dead_letters"]),
                int(k["conflicts"]),
                bytes.fromhex(str(k["dead_letters_sha256"])).hex(),
                bytes.fromhex(str(k["conflicts_sha256"])).hex(),
            )
            for k in doc["ledgers"]
        ]
        meta = doc["store_meta"]
        if not isinstance(meta, dict):
            raise TypeError("store_meta is not an object")
        return Digest(heads, ledgers, {str(k): str(v) for k, v in meta.items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: malformed digest: {exc}") from exc


@dataclass
class _Partition:
    """The walk through one partition's stored events."""

    log_name: str
    partition: int
    head: bytes = GENESIS
    events: int = 0
    last_offset: int = -1
    broken: bool = False
    digest_seen: bool = False


def _rows(con: duckdb.DuckDBPyConnection) -> Iterator[tuple[Any, ...]]:
    cur = con.execute(
        'SELECT log_name, partition, "offset", event_id, event_type, event_time, account_id, '
        'body, chain_hash FROM events ORDER BY log_name, partition, "offset", event_id'
    )
    while chunk := cur.fetchmany(_FETCH):
        yield from chunk


def _envelope_mismatch(codec: EventCodec, row: tuple[Any, ...]) -> str | None:
    """Why the indexed columns of a stored event disagree with its body, if they do."""
    _log, _p, _o, event_id, event_type, event_time, account_id, body, _h = row
    try:
        decoded_type, record = codec.decode_record(bytes(body))
    except CodecError as exc:
        return f"stored body does not decode ({exc})"
    stored = {
        "event_id": event_id,
        "event_type": event_type,
        "event_time": event_time,
        "account_id": account_id,
    }
    from_body = {
        "event_id": record.get("event_id"),
        "event_type": decoded_type,
        "event_time": naive_utc(record.get("event_time")),
        "account_id": record.get("account_id"),
    }
    for column, value in stored.items():
        if value != from_body[column]:
            return f"column {column} is {value!r} but the stored body says {from_body[column]!r}"
    return None


def verify_chain(
    con: duckdb.DuckDBPyConnection,
    *,
    against: Sequence[ChainHead] | None = None,
    codec: EventCodec | None = None,
) -> tuple[int, int, list[Finding]]:
    """(events, partitions, findings): the first disagreement of each partition's chain."""
    codec = codec or default_codec()
    kept = {h.key: h for h in (against or ())}
    stored_heads = {h.key: h for h in digest(con)}
    findings: list[Finding] = []
    walks: dict[tuple[str, int], _Partition] = {}
    total = 0

    def check_digest(w: _Partition, offset: int, event_id: str | None) -> None:
        h = kept.get((w.log_name, w.partition))
        if h is None or w.digest_seen or w.broken:
            return
        if offset > h.last_offset:  # walked past the kept head without meeting it
            w.digest_seen, w.broken = True, True
            findings.append(
                Finding(
                    f"the event at the digest's head offset {h.last_offset} is gone",
                    w.log_name,
                    w.partition,
                    h.last_offset,
                )
            )
        elif offset == h.last_offset:
            w.digest_seen = True
            if w.head.hex() != h.head or w.events != h.events:
                w.broken = True
                findings.append(
                    Finding(
                        f"history up to the digest's head differs: chain {w.head.hex()[:16]}… "
                        f"over {w.events} events, digest {h.head[:16]}… over {h.events}",
                        w.log_name,
                        w.partition,
                        offset,
                        event_id,
                    )
                )

    for row in _rows(con):
        log_name, partition, offset, event_id = str(row[0]), int(row[1]), int(row[2]), str(row[3])
        total += 1
        w = walks.setdefault((log_name, partition), _Partition(log_name, partition))
        if w.broken:
            continue
        at = (log_name, partition, offset, event_id)
        if offset <= w.last_offset:
            w.broken = True
            findings.append(Finding(f"a second event at offset {offset}", *at))
            continue
        why = _envelope_mismatch(codec, row)
        expected = chain_link(w.head, log_name, partition, offset, bytes(row[7]))
        if why is None and bytes(row[8]) != expected:
            why = (
                "chain_hash does not match the chain recomputed from the stored events "
                "(this event was altered, or one before it deleted or inserted)"
            )
        if why is not None:
            w.broken = True
            findings.append(Finding(why, *at))
            continue
        w.head, w.events, w.last_offset = expected, w.events + 1, offset
        check_digest(w, offset, event_id)

    for key in sorted(set(walks) | set(stored_heads)):
        w = walks.get(key) or _Partition(*key)
        if not w.broken:
            _check_head(w, stored_heads.get(key), findings)
            check_digest(w, 2**63, None)
    for key in kept:
        if key not in walks and key not in stored_heads:
            findings.append(Finding("the digest's partition has no events in the store", *key))
    findings.sort(key=Finding.sort_key)
    return total, len(set(walks) | set(stored_heads)), findings


def _check_head(w: _Partition, stored: ChainHead | None, findings: list[Finding]) -> None:
    """Compare the recomputed end of a partition's chain with the stored `chain_heads` row."""
    where = (w.log_name, w.partition)
    if stored is None:
        findings.append(Finding("stored events but no chain head", *where, w.last_offset))
    elif stored.last_offset != w.last_offset:
        gone = stored.last_offset > w.last_offset
        findings.append(
            Finding(
                f"the chain head names offset {stored.last_offset} but the last stored event is "
                f"at {w.last_offset}" + (" (events after it were deleted)" if gone else ""),
                *where,
                stored.last_offset if gone else w.last_offset,
            )
        )
    elif stored.events != w.events or stored.head != w.head.hex():
        findings.append(
            Finding(
                f"the chain head ({stored.events} events, {stored.head[:16]}…) does not match "
                f"the recomputed chain ({w.events} events, {w.head.hex()[:16]}…)",
                *where,
                w.last_offset,
            )
        )
