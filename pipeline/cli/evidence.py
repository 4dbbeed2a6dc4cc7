"""`rolecall verify` and `rolecall digest`: prove the stored history unchanged."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import click

from pipeline.cli.common import db_option, emit_json, json_option, stdout
from pipeline.evidence import ChainHead, Verdict, digest, load_digest, verify, verify_facts
from pipeline.evidence.chain import digest_document
from pipeline.store import connect
from pipeline.store.partitioned import partition_files
from pipeline.store.reading import open_read_only


@click.command("verify")
@db_option
@click.option(
    "--deep",
    is_flag=True,
    help="Also re-derive every fact row and session from the stored events and compare.",
)
@click.option(
    "--against",
    "against_path",
    type=click.Path(dir_okay=False),
    help="A digest kept earlier (`rolecall digest --json`): history up to it must be unchanged.",
)
@json_option
def verify_command(db_path: str, deep: bool, against_path: str | None, as_json: bool) -> None:
    """Recompute the per-partition SHA-256 chains and name the first position that disagrees.

    Exits 0 when the store is intact and 1 when it was tampered with, printing one line
    that names the first bad position (log, partition, offset, event).

    \b
    Examples:
      rolecall verify --db ./data/rolecall.duckdb
      rolecall verify --deep --json
      rolecall verify --against heads-2026-01-07.json
    """
    against = load_digest(against_path) if against_path else None
    verdict = verify_store(db_path, deep=deep, against=against)
    if as_json:
        emit_json(verdict.as_json())
    else:
        stdout.print(verdict.summary(), markup=False)
    if not verdict.intact:
        sys.exit(1)


def verify_store(
    db_path: str | Path, *, deep: bool, against: Sequence[ChainHead] | None
) -> Verdict:
    """Verify a database file or a directory store.

    A directory store's chains are checked over every file at once; its facts are
    re-derived file by file, since each file is derived from its own events alone (chains
    and ends that cross files are completed when read, not stored).
    """
    store = open_read_only(db_path)
    try:
        verdict = verify(store.con, deep=deep and not store.spans_files, against=against)
    finally:
        store.close()
    if not (deep and store.spans_files):
        return verdict
    findings = list(verdict.findings)
    for path in partition_files(Path(db_path)).values():
        con = connect(path, read_only=True)
        try:
            findings += verify_facts(con)
        finally:
            con.close()
    return Verdict(
        events=verdict.events,
        partitions=verdict.partitions,
        deep=True,
        against=verdict.against,
        findings=findings,
    )


@click.command("digest")
@db_option
@json_option
def digest_command(db_path: str, as_json: bool) -> None:
    """Print the chain heads (log, partition, last offset, events, head) to keep elsewhere.

    Keep the JSON form somewhere the store's operators cannot write; later,
    `rolecall verify --against FILE` proves the history up to those heads unchanged.

    \b
    Examples:
      rolecall digest
      rolecall digest --json > heads-2026-01-07.json
    """
    store = open_read_only(db_path)
    try:
        heads = digest(store.con)
    finally:
        store.close()
    if as_json:
        emit_json(digest_document(heads, datetime.now(UTC)))
        return
    for h in heads:
        click.echo(f"{h.log_name}\t{h.partition}\t{h.last_offset}\t{h.events}\t{h.head}")
