"""`verify`: the chain, optionally the facts (deep) and a digest kept by an auditor."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from pipeline.codec import EventCodec
from pipeline.evidence.chain import ChainHead, verify_chain
from pipeline.evidence.findings import Verdict
from pipeline.evidence.rederive import verify_facts


def verify(
    con: duckdb.DuckDBPyConnection,
    *,
    deep: bool = False,
    against: Sequence[ChainHead] | None = None,
    codec: EventCodec | None = None,
) -> Verdict:
    """Check the store's evidence; `Verdict.first` names the first bad position."""
    events, partitions, findings = verify_chain(con, against=against, codec=codec)
    if deep:
        findings.extend(verify_facts(con, codec))
    return Verdict(
        events=events,
        partitions=partitions,
        deep=deep,
        against=against is not None,
        findings=findings,
    )
