"""Tamper evidence: prove that the stored history is the history that was materialized.

`verify(con)` recomputes every partition's SHA-256 chain from the stored `events` rows and
names the first position where store and chain disagree; `verify(con, deep=True)` also
re-derives every fact row and session from the stored event bodies. `digest(con)` returns
the chain heads an auditor keeps elsewhere; `verify(con, against=heads)` later proves the
history up to those heads unchanged (newer events are fine), with the dead letters,
conflicts, positions and metadata below them (`ledger`), and names a log it did not cover.
"""

from pipeline.evidence.chain import ChainHead, Digest, digest, load_digest, verify_chain
from pipeline.evidence.findings import Finding, Verdict
from pipeline.evidence.ledger import Ledger, ledgers, store_meta
from pipeline.evidence.rederive import verify_facts
from pipeline.evidence.verify import verify

__all__ = [
    "ChainHead",
    "Digest",
    "Finding",
    "Ledger",
    "Verdict",
    "digest",
    "ledgers",
    "load_digest",
    "store_meta",
    "verify",
    "verify_chain",
    "verify_facts",
]
