"""Applies a batch to DuckDB in one transaction, with the log positions it consumed.

The only writer of the store. Idempotent on `event_id`: an event already stored is
skipped (and, when its bytes differ, reported as a conflict: the first one wins).
Every stored event extends its partition's SHA-256 hash chain. Chains and origins are
resolved here too (`chains.resolve_chains`), so that readers never walk them.
"""

from __future__ import annotations

import hashlib
import time

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.findings.thresholds import Thresholds
from pipeline.store.batch import POSITION, ApplyResult, Batch
from pipeline.store.chains import resolve_chains, sessions_below
from pipeline.store.columns import prepare
from pipeline.store.rows import FACT_TABLE, NO_ASSUMPTION
from pipeline.store.schema import (
    ASSUMPTION_COLUMNS,
    MERGE_ADDRESS_USE,
    MERGE_KEY_OWNER,
    MERGE_KEY_USE,
    REFRESH_ENDS,
    REFRESH_INTERVALS,
    REFRESH_USE,
    TOUCHED_ROWS,
    USE_TOUCHED,
    id_hash,
)

GENESIS = b"\x00" * 32
# Up to this many hash hits are fetched through a literal IN list, which DuckDB pushes
# into the scan as a filter; more (a replay) are fetched by one join on event_id.
_HITS_PER_PROBE = 1000


def chain_link(previous: bytes, log_name: str, partition: int, offset: int, body: bytes) -> bytes:
    """The next head of a partition's hash chain after storing `body` at `offset`."""
    h = hashlib.sha256(previous)
    h.update(f"{log_name}\x00{partition}\x00{offset}\x00".encode())
    h.update(body)
    return h.digest()


# The assumption's list columns (`access_key_ids` is the other list the merge updates).
ASSUMPTION_LISTS = ("transitive_tag_keys", "session_policy_arns")


def _merge_sql() -> tuple[str, str, str, str]:
    """The batch's session rows (`b_merged`), then the updates of the stored ones and the
    insert of the new ones: apart, because DuckDB's `ON CONFLICT DO UPDATE` cost about
    35 us a row (BENCHMARKS.md), several times a join and a plain append.

    The stored rows are read once, with their `rowid`, and updated by it. DuckDB
    updates a scalar column in place but a list column by deleting the row and appending
    it anew (index entry, write-ahead log and all), which moves it: so the scalars go
    first, then the lists, only where they change (a better assumption, a new key),
    judged against the `pref` read with the row."""
    best = ", ".join(f"{c} := {c}" for c in ASSUMPTION_COLUMNS)
    pick = ", ".join(f"best.{c} AS {c}" for c in ASSUMPTION_COLUMNS if c != "account_id")

    def prefer_new(columns: tuple[str, ...], stored_pref: str) -> str:
        return ",\n    ".join(
            f"{c} = CASE WHEN m.pref < {stored_pref} THEN m.{c} ELSE sessions.{c} END"
            for c in columns
        )

    scalars = tuple(c for c in ASSUMPTION_COLUMNS if c not in (*ASSUMPTION_LISTS, "account_id"))
    keys = """list_sort(list_distinct(list_concat(
        coalesce(sessions.access_key_ids, []), coalesce(m.access_key_ids, []))))"""
    merged = f"""
CREATE OR REPLACE TEMP TABLE b_merged AS
WITH contrib AS (
    SELECT session_id, pref, account_id, role_arn, session_name, session_arn, via, caller_arn,
           caller_type, caller_access_key_id, source_identity, session_tags,
           transitive_tag_keys, session_policy, session_policy_arns, mfa_authenticated,
           source_ip, user_agent, requested_duration_seconds, lifecycle_key,
           start_estimated, event_time AS assumed_at
    FROM b_role_assumptions
    UNION ALL BY NAME
    SELECT session_id, '{NO_ASSUMPTION}' AS pref, account_id, issued_at, expires_at, access_key_id
    FROM b_credentials
    UNION ALL BY NAME
    SELECT session_id, '{NO_ASSUMPTION}' AS pref, account_id, event_time AS exited_at,
           reason AS exit_reason
    FROM b_exits WHERE session_id IS NOT NULL
), merged AS (
    SELECT session_id, min(pref) AS pref,
           arg_min(struct_pack({best}), pref) FILTER (WHERE pref < '{NO_ASSUMPTION}') AS best,
           min(account_id) AS any_account,
           min(issued_at) AS first_issued_at, max(issued_at) AS latest_issued_at,
           max(expires_at) AS expires_at, min(exited_at) AS exited_at,
           arg_min(exit_reason, struct_pack(t := exited_at, r := exit_reason))
               FILTER (WHERE exited_at IS NOT NULL) AS exit_reason,
           -- [] rather than NULL when none, as the update below gives
           coalesce(list_sort(list_distinct(
               list(access_key_id) FILTER (WHERE access_key_id IS NOT NULL))), [])
               AS access_key_ids
    FROM contrib GROUP BY session_id
)
SELECT m.session_id, m.pref, coalesce(best.account_id, any_account) AS account_id, {pick},
       m.first_issued_at, m.latest_issued_at, m.expires_at, m.exited_at, m.exit_reason,
       m.access_key_ids, s.rowid AS rid, s.pref AS stored_pref
-- On `session_id`, not `stored_sessions`: here the hash join measured no faster (1.64
-- against 1.49 s for 300,000 events onto 10M, medians of three).
FROM merged m LEFT JOIN sessions s ON s.session_id = m.session_id
"""
    update_lists = f"""
UPDATE sessions SET
    {prefer_new(ASSUMPTION_LISTS, "m.stored_pref")},
    access_key_ids = {keys}
FROM b_merged m
WHERE sessions.rowid = m.rid
  AND (m.pref < m.stored_pref OR {keys} IS DISTINCT FROM sessions.access_key_ids)
"""
    update_scalars = f"""
UPDATE sessions SET
    {prefer_new(scalars, "sessions.pref")},
    account_id = CASE WHEN m.pref < sessions.pref THEN m.account_id
                      ELSE coalesce(sessions.account_id, m.account_id) END,
    pref = least(m.pref, sessions.pref),
    first_issued_at = least(sessions.first_issued_at, m.first_issued_at),
    latest_issued_at = greatest(sessions.latest_issued_at, m.latest_issued_at),
    expires_at = greatest(sessions.expires_at, m.expires_at),
    exit_reason = CASE
        WHEN m.exited_at IS NULL THEN sessions.exit_reason
        WHEN sessions.exited_at IS NULL THEN m.exit_reason
        WHEN (m.exited_at, m.exit_reason) < (sessions.exited_at, sessions.exit_reason)
            THEN m.exit_reason
        ELSE sessions.exit_reason END,
    exited_at = least(sessions.exited_at, m.exited_at)
FROM b_merged m
WHERE sessions.rowid = m.rid
"""
    insert = f"""
INSERT INTO sessions BY NAME
SELECT * EXCLUDE (rid, stored_pref), NULL::TIMESTAMP AS console_exited_at,
       -- what most sessions keep: their chain's update then leaves the list alone
       []::VARCHAR[] AS ancestor_ids, {id_hash("session_id")} AS id_hash
FROM b_merged WHERE rid IS NULL
"""
    return merged, update_lists, update_scalars, insert


MERGED_SESSIONS, UPDATE_SESSION_LISTS, UPDATE_SESSIONS, INSERT_SESSIONS = _merge_sql()

# A console exit names only (caller, role): it ends the session of that lifecycle key that
# was active when it happened, i.e. the latest one that started before it.
RESOLVE_CONSOLE_EXITS = """
UPDATE sessions SET console_exited_at = resolved.exited_at
FROM (
    WITH keyed AS (
        SELECT rowid AS rid, lifecycle_key, assumed_at,
               lead(assumed_at) OVER (PARTITION BY lifecycle_key ORDER BY assumed_at, session_id)
                   AS next_start
        FROM sessions
        WHERE lifecycle_key IN (SELECT lifecycle_key FROM b_lifecycle_keys)
          AND assumed_at IS NOT NULL
    )
    SELECT k.rid, min(x.event_time) AS exited_at
    FROM keyed k
    LEFT JOIN exits x ON x.lifecycle_key = k.lifecycle_key AND x.session_id IS NULL
        AND x.event_time > k.assumed_at
        AND (k.next_start IS NULL OR x.event_time <= k.next_start)
    GROUP BY k.rid
) AS resolved
WHERE sessions.rowid = resolved.rid  -- the row as read above: no second scan of `sessions`
"""


# What a batch touched: its sessions and console lifecycles (their intervals are redone).
BATCH_TOUCHED = """
SELECT session_id, lifecycle_key FROM b_role_assumptions
UNION ALL SELECT session_id, NULL FROM b_credentials
UNION ALL SELECT session_id, lifecycle_key FROM b_exits
UNION ALL SELECT session_id, NULL FROM b_use_touched
"""
# The sessions whose own chain facts a batch may have changed (caller, keys, or new rows).
CHAIN_SEED = """
SELECT session_id FROM b_role_assumptions
UNION SELECT session_id FROM b_credentials
UNION SELECT session_id FROM b_exits WHERE session_id IS NOT NULL
"""
BATCH_LIFECYCLE_KEYS = """
SELECT DISTINCT lifecycle_key FROM (
    SELECT lifecycle_key FROM b_role_assumptions UNION ALL SELECT lifecycle_key FROM b_exits
) WHERE lifecycle_key IS NOT NULL ORDER BY lifecycle_key
"""


class StoreWriter:
    """Writes batches into one DuckDB connection (the store's only writer)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, findings: bool = True) -> None:
        self.con = con
        self._registered: set[str] = set()
        self.findings = findings  # maintain the findings projection (pipeline.findings)
        self.thresholds = Thresholds.from_env()  # defaults, or ROLECALL_FINDINGS_*
        self.findings_seconds = 0.0  # time spent in the projection (the benchmark reads it)

    def positions(self, log_name: str) -> dict[int, int]:
        rows = self.con.execute(
            "SELECT partition, next_offset FROM positions WHERE log_name = ?", [log_name]
        ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def apply(self, batch: Batch, *, settle: bool = True) -> ApplyResult:
        """Store `batch` and its positions in one transaction.

        `settle`: bring the findings up to date with it (and any batch still pending);
        without it, what the batch could change is only noted (`settle_findings` later).
        """
        con = self.con
        con.begin()
        try:
            result = self._apply(batch, settle)
            con.commit()
        except BaseException:
            con.rollback()
            raise
        finally:
            for name in list(self._registered):
                con.unregister(name)
            self._registered.clear()
        return result

    def settle_findings(self) -> int:
        """Recompute the findings that stored batches left pending, in one transaction.
        Returns how many were pending (0: nothing to do, and nothing was written)."""
        if not self.findings:
            return 0
        from pipeline.findings.projection import pending, settle  # the store is imported first

        waiting = pending(self.con)
        if not waiting:
            return 0
        started = time.perf_counter()
        self.con.begin()
        try:
            settle(self.con, self.thresholds)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        self.findings_seconds += time.perf_counter() - started
        return waiting

    def _register_columns(self, name: str, columns: dict[str, pa.Array]) -> None:
        self._register_table(name, pa.table(columns))

    def _register_table(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)
        self._registered.add(name)

    def _apply(self, batch: Batch, settle: bool) -> ApplyResult:
        con = self.con
        tables = prepare(batch).tables
        assert tables is not None  # `prepare` built them
        rows = tables.events
        # 1. the winner of each event id: the stored event, else the batch's first row.
        # Every other occurrence is then a duplicate (same bytes as the winner) or a
        # conflict; comparing with the winner, not with the batch's first, keeps the report
        # independent of how the log was cut into batches.
        stored = self._stored_bodies(rows) if rows.num_rows else {}
        duplicates, conflicts = 0, list[Conflict]()
        if stored or pc.count_distinct(rows["event_id"]).as_py() < rows.num_rows:
            # Otherwise (a catch-up's batches: every event new, none twice) no Python runs
            # per event: it would hold the GIL the decoding's handover waits for.
            kept, duplicates, conflicts = _winners(rows, stored)
            positions = rows[POSITION].to_pylist()
            if len(kept) < len(positions):
                tables = tables.keep([positions[r] for r in kept])
        # 2. the new events and their facts, from the batch's tables
        applied = tables.events.num_rows
        if applied:
            self._store_events(batch.log_name, tables.events)
            self._store_facts(tables.facts)
        if self.findings and (applied or settle):
            self._project_findings(settle)
        # 3. bookkeeping: dead letters, conflicts, positions
        if batch.rejected:
            con.executemany(  # rare path: a handful of rows, never the hot path
                "INSERT INTO dead_letters VALUES (?, ?, ?, ?, ?, ?)",
                [
                    [batch.log_name, r.partition, r.offset, r.end_offset, r.reason, r.body]
                    for r in batch.rejected
                ],
            )
        if conflicts:
            con.executemany(
                "INSERT INTO conflicts VALUES (?, ?, ?, ?, ?)",
                [[eid, batch.log_name, p, o, why] for eid, p, o, why in conflicts],
            )
        if batch.next_offsets:
            self._register_columns(
                "b_positions",
                {
                    "partition": pa.array(list(batch.next_offsets), pa.int32()),
                    "next_offset": pa.array(list(batch.next_offsets.values()), pa.int64()),
                },
            )
            con.execute(
                "INSERT INTO positions SELECT ?, partition, next_offset FROM b_positions "
                "ON CONFLICT (log_name, partition) "
                "DO UPDATE SET next_offset = greatest(positions.next_offset, excluded.next_offset)",
                [batch.log_name],
            )
        return ApplyResult(
            applied=applied,
            duplicates=duplicates,
            conflicts=len(conflicts),
            dead_letters=len(batch.rejected),
        )

    def _stored_bodies(self, rows: pa.Table) -> dict[str, bytes]:
        """The stored body of each event of `rows` already in the store.

        Probes the fixed-width id hashes (one narrow column scan); ids and bodies are read
        only for the rare hits, by a filter DuckDB pushes into the scan.
        """
        con = self.con
        event_ids = rows["event_id"]
        self._register_table("b_ids", rows.select(["event_id", "id_hash"]))
        hits = [
            int(h)
            for (h,) in con.execute(
                "SELECT DISTINCT id_hash FROM events WHERE id_hash IN (SELECT id_hash FROM b_ids)"
            ).fetchall()
        ]
        if not hits:
            return {}
        if len(hits) <= _HITS_PER_PROBE:
            listed = ", ".join(str(h) for h in hits)  # integers from DuckDB, not user input
            found = con.execute(
                f"SELECT event_id, body FROM events WHERE id_hash IN ({listed})"
            ).fetchall()
        else:  # mostly replayed events (a re-import): one join beats many probes
            found = con.execute(
                "SELECT e.event_id, e.body FROM b_ids b JOIN events e USING (event_id)"
            ).fetchall()
        wanted = set(event_ids.to_pylist())
        # `wanted` drops other ids that merely share a hash with one of ours.
        return {eid: bytes(body) for eid, body in found if eid in wanted}

    def _store_events(self, log_name: str, rows: pa.Table) -> None:
        """Insert the new events' log rows, each extending its partition's hash chain."""
        heads = {
            int(p): bytes(h)
            for p, h in self.con.execute(
                "SELECT partition, head FROM chain_heads WHERE log_name = ?", [log_name]
            ).fetchall()
        }
        hashes, counts, last = _chain_links(heads, log_name, rows)
        self._register_table("b_events", rows.append_column("chain_hash", hashes))
        self.con.execute(
            f"INSERT INTO events BY NAME SELECT * EXCLUDE ({POSITION}), ? AS log_name "
            "FROM b_events",
            [log_name],
        )
        # One statement for every partition: an upsert costs ~25 ms whatever its size.
        parts = list(counts)
        self._register_columns(
            "b_heads",
            {
                "partition": pa.array(parts, pa.int32()),
                "last_offset": pa.array([last[p] for p in parts], pa.int64()),
                "events": pa.array([counts[p] for p in parts], pa.int64()),
                "head": pa.array([heads[p] for p in parts], pa.binary()),
            },
        )
        self.con.execute(
            "INSERT INTO chain_heads SELECT ?, partition, last_offset, events, head FROM b_heads "
            "ON CONFLICT (log_name, partition) "
            "DO UPDATE SET last_offset = excluded.last_offset, head = excluded.head, "
            "events = chain_heads.events + excluded.events",
            [log_name],
        )

    def _store_facts(self, facts: dict[str, pa.Table]) -> None:
        for cls, table in FACT_TABLE.items():
            rows = facts.get(table)
            if rows is not None and rows.num_rows:
                self._register_table(f"b_{table}", rows)
                cols = ", ".join(f'"{c}"' for c in cls.model_fields)
                self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM b_{table}")
            elif table in _EMPTY_MERGE_INPUTS:  # the merge reads all three
                self._register_table(f"b_{table}", self._query_table(_EMPTY_MERGE_INPUTS[table]))
        merged = any(t in facts for t in (*_EMPTY_MERGE_INPUTS, "actions"))
        if merged:
            self._merge_sessions()
        revoked = "b_revocations" in self._registered
        if merged or revoked:
            # Ends are stored: redone for the sessions the batch touched and, after a
            # revocation, for every session of its role.
            rows = ["SELECT rid FROM b_touched_rows"] if merged else []
            if revoked:
                rows.append(
                    "SELECT rowid AS rid FROM sessions "
                    "WHERE role_arn IN (SELECT role_arn FROM b_revocations)"
                )
            self._register_table("b_ends_touched", self._query_table(" UNION ".join(rows)))
            self.con.execute(REFRESH_ENDS)
            # The findings need only the sessions whose end moved, not every session of
            # a revoked role (1.4M at 10M events, most ended long before).
            self._register_table(
                "b_ends_changed",
                self._query_table("SELECT session_id FROM b_new_ends WHERE end_changed"),
            )
            self.con.execute("DROP TABLE b_new_ends")

    def _project_findings(self, settle: bool) -> None:
        """Note what this batch could change in the findings and, if asked, settle them
        (with any batch still pending), in the batch's transaction."""
        from pipeline.findings import projection  # the store is imported first

        started = time.perf_counter()
        projection.note(self.con, frozenset(self._registered))
        if settle:
            projection.settle(self.con, self.thresholds)
        self.findings_seconds += time.perf_counter() - started

    def _merge_sessions(self) -> None:
        self.con.execute(MERGED_SESSIONS)
        self.con.execute(UPDATE_SESSIONS)  # first: in place, it keeps the rows' `rowid`
        self.con.execute(UPDATE_SESSION_LISTS)
        self.con.execute(INSERT_SESSIONS)
        self.con.execute("DROP TABLE b_merged")
        for statement in MERGE_KEY_OWNER:
            self.con.execute(statement)
        self._register_table("b_chain_seed", self._query_table(CHAIN_SEED))
        # Their chains, and those of every session below them: a parent arriving late
        # completes its children, grandchildren ...
        sessions_below(self.con, "b_chain_seed", "b_credentials")
        self._register_table("b_chain_touched", self._query_table("SELECT session_id FROM c_below"))
        self.con.execute("DROP TABLE c_below")
        resolve_chains(self.con, "b_chain_touched")
        keys = self._query_table(BATCH_LIFECYCLE_KEYS)
        if keys.num_rows:
            self._register_table("b_lifecycle_keys", keys)
            self.con.execute(RESOLVE_CONSOLE_EXITS)
        if "b_actions" in self._registered:
            for statement in (*MERGE_KEY_USE, *MERGE_ADDRESS_USE):
                self.con.execute(statement)
        else:
            self._register_table("b_actions", self._query_table(_EMPTY_ACTIONS))
        self._register_table("b_use_touched", self._query_table(USE_TOUCHED))
        self.con.execute(REFRESH_USE)
        self._register_table("b_touched", self._query_table(BATCH_TOUCHED))
        # Found once: the intervals' and the ends' updates are in place, the rows stay put.
        self._register_table("b_touched_rows", self._query_table(TOUCHED_ROWS))
        self.con.execute(REFRESH_INTERVALS)

    def _query_table(self, sql: str) -> pa.Table:
        out = self.con.sql(sql).arrow()  # a reader in newer DuckDB: read once, into a table
        return out.read_all() if isinstance(out, pa.RecordBatchReader) else out


def _chain_links(
    heads: dict[int, bytes], log_name: str, rows: pa.Table
) -> tuple[pa.Array, dict[int, int], dict[int, int]]:
    """Each row's link (`chain_link`, in the rows' order), and per partition how many
    rows and the last offset; `heads` is moved on to each partition's new head.

    The rows are taken in (partition, offset) order and each link is one SHA-256 of the
    previous head, the position and the body joined, the position's text built by Arrow:
    the digest `chain_link` gives, at a fraction of its Python an event."""
    order = pc.sort_indices(rows, sort_keys=[("partition", "ascending"), ("offset", "ascending")])
    partitions = rows["partition"].take(order).combine_chunks()
    sorted_offsets = rows["offset"].take(order)
    position = pc.binary_join_element_wise(
        log_name, pc.cast(partitions, pa.string()), pc.cast(sorted_offsets, pa.string()), "", "\x00"
    )
    offsets: list[int] = sorted_offsets.to_pylist()
    linked: list[bytes] = pc.binary_join_element_wise(
        pc.cast(position, pa.binary()), rows["body"].take(order), b""
    ).to_pylist()
    runs = pc.run_end_encode(partitions)  # each partition's rows are one run
    links: list[bytes] = []
    counts: dict[int, int] = {}
    last: dict[int, int] = {}
    sha256 = hashlib.sha256
    start = 0
    for p, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
        head = heads.get(p, GENESIS)
        for data in linked[start:end]:
            head = sha256(head + data).digest()
            links.append(head)
        heads[p], counts[p], last[p] = head, end - start, offsets[end - 1]
        start = end
    # Back to the rows' order: row i's link is where `order` holds i.
    return pa.array(links, pa.binary()).take(pc.sort_indices(order)), counts, last


# A conflicting event's id, partition, offset and why it was not stored.
Conflict = tuple[str, int, int, str]


def _winners(rows: pa.Table, stored: dict[str, bytes]) -> tuple[list[int], int, list[Conflict]]:
    """The rows of `rows` to store (each id's first, unless stored), how many of the
    others are duplicates, and the others that conflict with their id's winner."""
    ids: list[str] = rows["event_id"].to_pylist()
    by_id: dict[str, list[int]] = {}
    for row, event_id in enumerate(ids):
        by_id.setdefault(event_id, []).append(row)
    bodies: list[bytes] = rows["body"].to_pylist()
    kept: list[int] = []
    doubled: list[int] = []  # rows whose id the winner holds with other bytes
    duplicates = 0
    for event_id, found in by_id.items():
        winner = stored.get(event_id)
        if winner is None:
            kept.append(found[0])
            winner, found = bodies[found[0]], found[1:]
        for row in found:
            if bodies[row] == winner:
                duplicates += 1
            else:
                doubled.append(row)
    partitions, offsets = rows["partition"].to_pylist(), rows["offset"].to_pylist()
    why = "same event_id, different content: the first one stored wins"
    return kept, duplicates, [(ids[r], partitions[r], offsets[r], why) for r in doubled]


# Typed empty inputs for the merge where a batch had no rows of a kind.
_EMPTY_MERGE_INPUTS = {
    "role_assumptions": "SELECT *, ''::VARCHAR AS pref FROM role_assumptions LIMIT 0",
    "credentials": "SELECT * FROM credentials LIMIT 0",
    "exits": "SELECT * FROM exits LIMIT 0",
}
_EMPTY_ACTIONS = "SELECT * FROM actions LIMIT 0"
