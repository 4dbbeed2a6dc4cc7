"""The DuckDB store: the materialized state that every reader queries.

Readers need only `connect` (through `pipeline.store.reading`); the write side (batches,
the writer, and with them pyarrow and the event models) is loaded when a `Store` is
opened or a batch type is first named, so a query's start-up does not pay for it.
"""

# SQL is built from the schema's constants; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from pipeline.errors import InputError, StoreError, StoreLockedError
from pipeline.store.chains import resolve_chains
from pipeline.store.schema import (
    ADDRESS_USE_ROWS,
    DDL,
    REFRESH_ENDS,
    REFRESH_INTERVALS,
    REFRESH_USE,
    SCHEMA_VERSION,
    STATE_TABLES,
    id_hash,
)

if TYPE_CHECKING:
    from pipeline.store.batch import Accepted, ApplyResult, Batch, Rejected

_BATCH_TYPES = frozenset({"Accepted", "ApplyResult", "Batch", "Rejected"})


def __getattr__(name: str) -> Any:
    """The batch types, imported on first use (see the module doc)."""
    if name not in _BATCH_TYPES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from pipeline.store import batch

    return getattr(batch, name)


DEFAULT_DB_PATH = "./data/rolecall.duckdb"
# DuckDB's own cap for a writer (it defaults to 80% of RAM and caches up to it, so a
# writer's memory would grow with the store); ROLECALL_MEMORY_LIMIT overrides it.
WRITER_MEMORY_LIMIT = "1GB"
# How much write-ahead log a writer lets grow before DuckDB checkpoints it into the file.
# DuckDB's 16 MB meant a checkpoint at nearly every batch, rewriting the sessions it had
# updated: a third of a materialize run (BENCHMARKS.md). A crash replays the log, so a
# larger one loses nothing; it costs memory until the checkpoint (measured: none more
# at 256 MB, 340 MiB more at 1 GB, on the 1M benchmark).
WRITER_CHECKPOINT_THRESHOLD = "256MB"

__all__ = [
    "DEFAULT_DB_PATH",
    "STATE_TABLES",
    "Accepted",
    "ApplyResult",
    "Batch",
    "Rejected",
    "Store",
    "connect",
]


def connect(path: str | Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file, turning DuckDB's errors into ones a user can act on."""
    path = Path(path)
    if read_only and not path.exists():
        raise InputError(f"no rolecall database at {path} (run `rolecall materialize` first)")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreLockedError(
                f"{path} is open for writing in another process (DuckDB allows one writer); "
                "stop it, or query through `rolecall serve`"
            ) from exc
        raise StoreError(f"cannot open {path}: {exc}") from exc
    except duckdb.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    con.execute("SET TimeZone = 'UTC'")
    return con


class Store:
    """A DuckDB file holding rolecall's state; the writer side lives in `writer`."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.con = connect(self.path, read_only=read_only)
        if not read_only:
            limit = os.environ.get("ROLECALL_MEMORY_LIMIT", WRITER_MEMORY_LIMIT)
            try:
                self.con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
            except duckdb.Error as exc:
                self.con.close()
                raise InputError(f"ROLECALL_MEMORY_LIMIT={limit!r}: {exc}") from exc
            self.con.execute(f"SET checkpoint_threshold = '{WRITER_CHECKPOINT_THRESHOLD}'")
            self._migrate()
        from pipeline.store.writer import StoreWriter  # the write side: see the module doc

        self.writer = StoreWriter(self.con)

    def _migrate(self) -> None:
        has_meta = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'store_meta'"
        ).fetchone()
        row = None
        if has_meta and has_meta[0]:
            row = self.con.execute(
                "SELECT value FROM store_meta WHERE key = 'schema_version'"
            ).fetchone()
        version = SCHEMA_VERSION if row is None else int(row[0])
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer rolecall (schema {version})")
        self.con.begin()
        if version < 3:
            self._migrate_v2()  # before the DDL, which would not recreate `events`
        self.con.execute(DDL)
        if version < 4:
            self._add_v4_columns()
        if version < 9:
            self._migrate_v8()  # first: the migrations below find sessions by it
        if version < 10:
            self._migrate_v9()
        if version < 2:
            self._migrate_v1()
        if version < 4:
            self._migrate_v3()
        if version < 5:
            self._migrate_v4()
        if version < 7:
            self._migrate_v6()  # before the findings: their rules read `address_use`
        if version < 6:
            self._migrate_v5()
        self.con.execute(
            "INSERT INTO store_meta VALUES ('schema_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [str(SCHEMA_VERSION)],
        )
        self.con.commit()

    def _migrate_v1(self) -> None:
        """Schema 1 -> 2: derived interval columns on sessions, an index on access keys."""
        self.con.execute("ALTER TABLE sessions ADD COLUMN IF NOT EXISTS started_at TIMESTAMP")
        self.con.execute("ALTER TABLE sessions ADD COLUMN IF NOT EXISTS base_ends_at TIMESTAMP")
        self.con.execute("CREATE TEMP TABLE b_touched_rows AS SELECT rowid AS rid FROM sessions")
        self.con.execute(REFRESH_INTERVALS)
        self.con.execute("DROP TABLE b_touched_rows")

    def _migrate_v2(self) -> None:
        """Schema 2 -> 3: `events` loses its index on event_id and gains the id hash."""
        self.con.execute("ALTER TABLE events RENAME TO events_v2")
        self.con.execute(DDL)
        self.con.execute(
            f"INSERT INTO events SELECT *, {id_hash('event_id')} AS id_hash FROM events_v2"
        )
        self.con.execute("DROP TABLE events_v2")

    def _add_v4_columns(self) -> None:
        for table, column, kind in (
            ("role_assumptions", "start_estimated", "BOOLEAN"),
            ("sessions", "start_estimated", "BOOLEAN"),
            ("sessions", "first_used_at", "TIMESTAMP"),
            ("sessions", "last_used_at", "TIMESTAMP"),
            ("sessions", "expiry_at", "TIMESTAMP"),
            ("sessions", "expiry_basis", "VARCHAR"),
        ):
            self.con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")

    def _migrate_v3(self) -> None:
        """Schema 3 -> 4: each key's use, and session ends never before their last use."""
        self.con.execute(
            "INSERT INTO key_use SELECT access_key_id, min(event_time), max(event_time) "
            "FROM actions WHERE outcome = 'ALLOWED' AND access_key_id IS NOT NULL "
            "GROUP BY access_key_id"
        )
        self.con.execute("CREATE TEMP TABLE b_use_touched AS SELECT session_id FROM sessions")
        self.con.execute(REFRESH_USE)
        self.con.execute("CREATE TEMP TABLE b_touched_rows AS SELECT rowid AS rid FROM sessions")
        self.con.execute(REFRESH_INTERVALS)
        self.con.execute("DROP TABLE b_touched_rows")
        self.con.execute("DROP TABLE b_use_touched")

    def _migrate_v4(self) -> None:
        """Schema 4 -> 5: each key's owner, and every session's chain resolved on write."""
        for column, kind in (
            ("parent_session_id", "VARCHAR"),
            ("ancestor_ids", "VARCHAR[]"),
            ("depth", "INTEGER"),
            ("origin_arn", "VARCHAR"),
            ("origin_type", "VARCHAR"),
            ("origin_resolved", "BOOLEAN"),
            ("origin_via", "VARCHAR"),
            ("origin_session_name", "VARCHAR"),
            ("origin_lifecycle_key", "VARCHAR"),
            ("origin_missing_key", "VARCHAR"),
            ("revoked_at", "TIMESTAMP"),
            ("ends_at", "TIMESTAMP"),
            ("end_reason", "VARCHAR"),
        ):
            self.con.execute(f"ALTER TABLE sessions ADD COLUMN IF NOT EXISTS {column} {kind}")
        self.derive_chains_and_ends()

    def _migrate_v5(self) -> None:
        """Schema 5 -> 6: the findings table (created by the DDL), filled from the facts."""
        from pipeline.findings.projection import rebuild  # the store is imported first
        from pipeline.findings.thresholds import Thresholds

        rebuild(self.con, Thresholds.from_env())

    def _migrate_v6(self) -> None:
        """Schema 6 -> 7: each source address's callers and when, from the stored calls."""
        self.con.execute("DELETE FROM address_use")  # a rebuild: whatever an older run left
        self.con.execute("INSERT INTO address_use " + ADDRESS_USE_ROWS.format(table="actions"))

    def _migrate_v8(self) -> None:
        """Schema 8 -> 9: each session's id hash, what the writer finds sessions by."""
        self.con.execute("ALTER TABLE sessions ADD COLUMN IF NOT EXISTS id_hash UBIGINT")
        self._hash_session_ids()

    def _migrate_v9(self) -> None:
        """Schema 9 -> 10: `key_use`, `address_use` and `key_owner` without their primary
        keys (the writer's merges keep them one row per key), copied into the new shape."""
        for table in ("key_use", "address_use", "key_owner"):
            keyed = self.con.execute(
                "SELECT count(*) FROM duckdb_constraints() "
                "WHERE table_name = ? AND constraint_type = 'PRIMARY KEY'",
                [table],
            ).fetchone()
            if not keyed or not keyed[0]:
                continue  # created by this version's DDL above
            self.con.execute(f"CREATE TABLE {table}_v9 AS SELECT * FROM {table}")
            self.con.execute(f"DROP TABLE {table}")
            self.con.execute(DDL)
            self.con.execute(f"INSERT INTO {table} SELECT * FROM {table}_v9")
            self.con.execute(f"DROP TABLE {table}_v9")

    def _hash_session_ids(self) -> None:
        self.con.execute(
            f"UPDATE sessions SET id_hash = {id_hash('session_id')} WHERE id_hash IS NULL"
        )

    def derive_chains_and_ends(self) -> None:
        """Every session's chain, origin and end, from the stored facts (a migration, or
        a store whose sessions were written by other means, like a benchmark's)."""
        self.con.execute(
            "INSERT INTO key_owner SELECT access_key_id, min(session_id) FROM credentials "
            "WHERE access_key_id NOT IN (SELECT access_key_id FROM key_owner) "
            "GROUP BY access_key_id"
        )
        self._hash_session_ids()  # rows written by other means (a benchmark's) lack them
        self.con.execute("CREATE TEMP TABLE b_every AS SELECT session_id FROM sessions")
        resolve_chains(self.con, "b_every")  # every session: no walk down needed
        self.con.execute("DROP TABLE b_every")
        # After the chains: updating a list moves its row, so the rows are read again.
        self.con.execute("CREATE TEMP TABLE b_ends_touched AS SELECT rowid AS rid FROM sessions")
        self.con.execute(REFRESH_ENDS)
        self.con.execute("DROP TABLE b_new_ends")
        self.con.execute("DROP TABLE b_ends_touched")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
