"""`verify`: the chain, the bookkeeping, optionally the facts (deep), a digest kept by an
auditor, and the log the store was materialized from (deep: every offset reconciled)."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from pipeline.codec import EventCodec, default_codec
from pipeline.evidence.chain import ChainHead, Digest, verify_chain
from pipeline.evidence.findings import Verdict
from pipeline.evidence.ledger import check_against, check_ledger
from pipeline.evidence.logcheck import check_log, reconcile
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
        if deep and log_checked and not missing:
            findings.extend(reconcile(con, log, codec or default_codec()))
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
