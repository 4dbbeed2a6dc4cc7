"""`verify`: the chain, the bookkeeping, optionally the facts (deep), a digest kept by an
auditor, and the log the store was materialized from."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from pipeline.codec import EventCodec
from pipeline.evidence.chain import ChainHead, Digest, verify_chain
from pipeline.evidence.findings import Finding, Verdict
from pipeline.evidence.ledger import check_against, check_ledger
from pipeline.evidence.rederive import verify_facts
from pipeline.log.base import EventLog


def verify(
    con: duckdb.DuckDBPyConnection,
    *,
    deep: bool = False,
    against: Digest | Sequence[ChainHead] | None = None,
    codec: EventCodec | None = None,
    log: EventLog | None = None,
) -> Verdict:
    """Check the store's evidence; `Verdict.first` names the first bad position."""
    kept = against if isinstance(against, Digest) or against is None else Digest(list(against))
    events, partitions, findings = verify_chain(
        con, against=None if kept is None else kept.heads, codec=codec
    )
    findings.extend(check_ledger(con))
    if kept is not None:
        findings.extend(check_against(con, kept.ledgers or (), kept.store_meta or {}, kept.logs))
    log_checked = False
    if log is not None:
        missing = check_log(con, log)
        log_checked = missing is not None
        findings.extend(missing or ())
    if deep:
        findings.extend(verify_facts(con, codec))
    return Verdict(
        events=events,
        partitions=partitions,
        deep=deep,
        against=kept is not None,
        findings=findings,
        log_checked=log_checked,
    )


def check_log(con: duckdb.DuckDBPyConnection, log: EventLog) -> list[Finding] | None:
    """Offsets the store consumed that its log no longer holds; None when the store holds
    nothing from that log (another log: nothing to compare)."""
    rows = con.execute(
        "SELECT partition, next_offset FROM positions WHERE log_name = ?", [log.name]
    ).fetchall()
    if not rows:
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
        for gap in log.behind({int(p): int(o) for p, o in rows})
    ]
