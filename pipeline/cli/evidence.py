"""`rolecall verify` and `rolecall digest`: prove the stored history unchanged.

DuckDB, the store and the evidence checks are imported when a command runs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.cli.common import (
    DEFAULT_LOG_URL,
    csv_option,
    db_option,
    emit_json,
    json_option,
    one_format,
    out,
)
from pipeline.cli.failures import describe
from pipeline.cli.listing import Column, Listing, emit_csv
from pipeline.errors import StoreError

if TYPE_CHECKING:
    from pipeline.evidence import Verdict
    from pipeline.log import EventLog
    from pipeline.store.reading import ReadOnlyStore


@contextmanager
def _reading(db_path: str) -> Iterator[ReadOnlyStore]:
    """The store (a file or a directory store) opened read-only; a damaged file is one
    line, not a traceback."""
    import duckdb

    from pipeline.store.reading import open_read_only

    store = open_read_only(db_path)
    try:
        yield store
    except duckdb.Error as exc:
        raise StoreError(f"cannot read {db_path}: {describe(exc)}") from exc
    finally:
        store.close()


def _facts_file_by_file(db_path: str, verdict: Verdict) -> Verdict:
    """A directory store's facts, re-derived file by file: each partition file is derived
    from its own events alone (chains and ends that cross files are completed when read,
    not stored), so the union of the files is not what all the events derive."""
    import duckdb

    from pipeline.evidence import verify_facts
    from pipeline.store import connect
    from pipeline.store.directory import partition_files

    findings = list(verdict.findings)
    for path in partition_files(Path(db_path)).values():
        con = connect(path, read_only=True)
        try:
            findings += verify_facts(con)
        except duckdb.Error as exc:
            raise StoreError(f"cannot read {path}: {describe(exc)}") from exc
        finally:
            con.close()
    return replace(verdict, deep=True, findings=findings)


@contextmanager
def _log_to_check(log_url: str | None) -> Iterator[EventLog | None]:
    """The log to compare the store with: the one named, else the default one if it exists.

    Kafka is not checked (its retention and offsets are its own)."""
    from pipeline.log import open_log

    url = log_url or DEFAULT_LOG_URL
    if url.startswith("kafka://"):
        yield None
        return
    if log_url is None and not (Path(url.removeprefix("file:")) / "log.json").exists():
        yield None
        return
    event_log = open_log(url, create=False)
    try:
        yield event_log
    finally:
        event_log.close()


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
@click.option(
    "--log",
    "log_url",
    envvar="ROLECALL_LOG",
    show_envvar=True,
    help="The log the store was materialized from: offsets the store consumed must still "
    f"be on it. [default: {DEFAULT_LOG_URL}, when it exists]",
)
@json_option
def verify_command(
    db_path: str, deep: bool, against_path: str | None, log_url: str | None, as_json: bool
) -> None:
    """Recompute the per-partition SHA-256 chains and name the first position that disagrees.

    Also checks the bookkeeping (positions, dead letters, conflicts, metadata), and that
    the log still holds every offset the store consumed. Exits 0 when the store is intact
    and 1 when it was tampered with, printing one line that names the first bad position
    (log, partition, offset, event, or table).

    \b
    Examples:
      rolecall verify --db ./data/rolecall.duckdb
      rolecall verify --deep --json
      rolecall verify --against heads-2026-01-07.json
    """
    from pipeline.evidence import load_digest, verify

    against = load_digest(against_path) if against_path else None
    with _reading(db_path) as store, _log_to_check(log_url) as event_log:
        by_file = deep and store.spans_files
        verdict = verify(store.con, deep=deep and not by_file, against=against, log=event_log)
    if by_file:
        verdict = _facts_file_by_file(db_path, verdict)
    if as_json:
        emit_json(verdict.as_json())
    else:
        out().print(verdict.summary(), markup=False)
    if not verdict.intact:
        sys.exit(1)


_HEAD_COLUMNS = (
    Column("log", identifier=True),
    Column("partition"),
    Column("last offset"),
    Column("events"),
    Column("head", identifier=True),
)


@click.command("digest")
@db_option
@json_option
@csv_option
def digest_command(db_path: str, as_json: bool, as_csv: bool) -> None:
    """Print the chain heads (log, partition, last offset, events, head) to keep elsewhere.

    The JSON form also keeps each partition's position with a hash of the dead letters
    and conflicts below it, and the store's metadata, which `verify --against` checks too.

    Keep the JSON form somewhere the store's operators cannot write; later,
    `rolecall verify --against FILE` proves the history up to those heads unchanged.

    \b
    Examples:
      rolecall digest
      rolecall digest --json > heads-2026-01-07.json
      rolecall digest --csv
    """
    from pipeline.evidence import digest, ledgers, store_meta
    from pipeline.evidence.chain import digest_document

    one_format(as_json, as_csv)
    with _reading(db_path) as store:
        con = store.con
        heads = digest(con)
        document = digest_document(
            heads, datetime.now(UTC), ledgers=ledgers(con), store_meta=store_meta(con)
        )
    if as_json:
        emit_json(document)
        return
    if as_csv:
        listing = Listing("chain heads", _HEAD_COLUMNS)
        for h in heads:
            listing.add(h.log_name, str(h.partition), str(h.last_offset), str(h.events), h.head)
        emit_csv(listing)
        return
    for h in heads:
        click.echo(f"{h.log_name}\t{h.partition}\t{h.last_offset}\t{h.events}\t{h.head}")
