"""Applies a batch to DuckDB in one transaction, with the log positions it consumed.

The only writer of the store. Idempotent on `event_id`: an event already stored is
skipped (and, when its bytes differ, reported as a conflict: the first one wins).
Every stored event extends its partition's SHA-256 hash chain.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

import duckdb
import pyarrow as pa

from pipeline.store.batch import Accepted, ApplyResult, Batch
from pipeline.store.rows import FACT_TABLE, NO_ASSUMPTION, fact_row, record_of
from pipeline.store.schema import ASSUMPTION_COLUMNS, REFRESH_INTERVALS

GENESIS = b"\x00" * 32


def chain_link(previous: bytes, log_name: str, partition: int, offset: int, body: bytes) -> bytes:
    """The next head of a partition's hash chain after storing `body` at `offset`."""
    h = hashlib.sha256(previous)
    h.update(f"{log_name}\x00{partition}\x00{offset}\x00".encode())
    h.update(body)
    return h.digest()


def _merge_sql() -> str:
    best = ", ".join(f"{c} := {c}" for c in ASSUMPTION_COLUMNS)
    pick = ", ".join(f"best.{c} AS {c}" for c in ASSUMPTION_COLUMNS if c != "account_id")
    prefer_new = ",\n    ".join(
        f"{c} = CASE WHEN excluded.pref < sessions.pref THEN excluded.{c} ELSE sessions.{c} END"
        for c in ASSUMPTION_COLUMNS
        if c != "account_id"
    )
    return f"""
WITH contrib AS (
    SELECT session_id, pref, account_id, role_arn, session_name, session_arn, via, caller_arn,
           caller_type, caller_access_key_id, source_identity, session_tags,
           transitive_tag_keys, session_policy, session_policy_arns, mfa_authenticated,
           source_ip, user_agent, requested_duration_seconds, lifecycle_key,
           event_time AS assumed_at
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
           list_sort(list_distinct(list(access_key_id) FILTER (WHERE access_key_id IS NOT NULL)))
               AS access_key_ids
    FROM contrib GROUP BY session_id
)
INSERT INTO sessions BY NAME
SELECT session_id, pref, coalesce(best.account_id, any_account) AS account_id, {pick},
       first_issued_at, latest_issued_at, expires_at, exited_at, exit_reason,
       NULL::TIMESTAMP AS console_exited_at, access_key_ids
FROM merged
ON CONFLICT (session_id) DO UPDATE SET
    {prefer_new},
    account_id = CASE WHEN excluded.pref < sessions.pref THEN excluded.account_id
                      ELSE coalesce(sessions.account_id, excluded.account_id) END,
    pref = least(excluded.pref, sessions.pref),
    first_issued_at = least(sessions.first_issued_at, excluded.first_issued_at),
    latest_issued_at = greatest(sessions.latest_issued_at, excluded.latest_issued_at),
    expires_at = greatest(sessions.expires_at, excluded.expires_at),
    exit_reason = CASE
        WHEN excluded.exited_at IS NULL THEN sessions.exit_reason
        WHEN sessions.exited_at IS NULL THEN excluded.exit_reason
        WHEN (excluded.exited_at, excluded.exit_reason) < (sessions.exited_at, sessions.exit_reason)
            THEN excluded.exit_reason
        ELSE sessions.exit_reason END,
    exited_at = least(sessions.exited_at, excluded.exited_at),
    access_key_ids = list_sort(list_distinct(list_concat(
        coalesce(sessions.access_key_ids, []), coalesce(excluded.access_key_ids, []))))
"""


MERGE_SESSIONS = _merge_sql()

# A console exit names only (caller, role): it ends the session of that lifecycle key that
# was active when it happened, i.e. the latest one that started before it.
RESOLVE_CONSOLE_EXITS = """
UPDATE sessions SET console_exited_at = resolved.exited_at
FROM (
    WITH keyed AS (
        SELECT session_id, lifecycle_key, assumed_at,
               lead(assumed_at) OVER (PARTITION BY lifecycle_key ORDER BY assumed_at, session_id)
                   AS next_start
        FROM sessions
        WHERE lifecycle_key IN (SELECT lifecycle_key FROM b_lifecycle_keys)
          AND assumed_at IS NOT NULL
    )
    SELECT k.session_id, min(x.event_time) AS exited_at
    FROM keyed k
    LEFT JOIN exits x ON x.lifecycle_key = k.lifecycle_key AND x.session_id IS NULL
        AND x.event_time > k.assumed_at
        AND (k.next_start IS NULL OR x.event_time <= k.next_start)
    GROUP BY k.session_id
) AS resolved
WHERE sessions.session_id = resolved.session_id
"""


class StoreWriter:
    """Writes batches into one DuckDB connection (the store's only writer)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._registered: set[str] = set()

    def positions(self, log_name: str) -> dict[int, int]:
        rows = self.con.execute(
            "SELECT partition, next_offset FROM positions WHERE log_name = ?", [log_name]
        ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def apply(self, batch: Batch) -> ApplyResult:
        con = self.con
        con.begin()
        try:
            result = self._apply(batch)
            con.commit()
        except BaseException:
            con.rollback()
            raise
        finally:
            for name in list(self._registered):
                con.unregister(name)
            self._registered.clear()
        return result

    def _register(self, name: str, rows: list[dict[str, Any]]) -> None:
        self.con.register(name, pa.Table.from_pylist(rows))
        self._registered.add(name)

    def _apply(self, batch: Batch) -> ApplyResult:
        con = self.con
        # 1. the winner of each event id: the stored event, else the batch's first position.
        # Every other occurrence is then a duplicate (same bytes as the winner) or a
        # conflict; comparing with the winner, not with the batch's first, keeps the report
        # independent of how the log was cut into batches.
        by_id: dict[str, list[Accepted]] = {}
        for item in batch.accepted:
            by_id.setdefault(item.event.event_id, []).append(item)
        stored: dict[str, bytes] = {}
        if by_id:
            self._register("b_ids", [{"event_id": k} for k in by_id])
            stored = {
                event_id: bytes(body)
                for event_id, body in con.execute(
                    "SELECT e.event_id, e.body FROM b_ids b JOIN events e USING (event_id)"
                ).fetchall()
            }
        first: dict[str, Accepted] = {}
        conflicts: list[tuple[str, int, int, str]] = []
        duplicates = 0
        for event_id, items in by_id.items():
            winner = stored.get(event_id)
            if winner is None:
                first[event_id] = items[0]
                winner, items = items[0].body, items[1:]
            for item in items:
                if item.body == winner:
                    duplicates += 1
                else:
                    conflicts.append(
                        (
                            event_id,
                            item.partition,
                            item.offset,
                            "same event_id, different content: the first one stored wins",
                        )
                    )
        new = sorted(first.values(), key=lambda a: (a.partition, a.offset))
        self._store_events(batch.log_name, new)
        self._store_facts(new)
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
        for partition, next_offset in batch.next_offsets.items():
            con.execute(
                "INSERT INTO positions VALUES (?, ?, ?) ON CONFLICT (log_name, partition) "
                "DO UPDATE SET next_offset = greatest(positions.next_offset, excluded.next_offset)",
                [batch.log_name, partition, next_offset],
            )
        return ApplyResult(
            applied=len(new),
            duplicates=duplicates,
            conflicts=len(conflicts),
            dead_letters=len(batch.rejected),
        )

    def _store_events(self, log_name: str, new: list[Accepted]) -> None:
        if not new:
            return
        heads = {
            int(p): bytes(h)
            for p, h in self.con.execute(
                "SELECT partition, head FROM chain_heads WHERE log_name = ?", [log_name]
            ).fetchall()
        }
        counts: dict[int, int] = defaultdict(int)
        last: dict[int, int] = {}
        rows = []
        for a in new:
            head = chain_link(
                heads.get(a.partition, GENESIS), log_name, a.partition, a.offset, a.body
            )
            heads[a.partition] = head
            counts[a.partition] += 1
            last[a.partition] = a.offset
            rows.append(
                {
                    "log_name": log_name,
                    "partition": a.partition,
                    "offset": a.offset,
                    "event_id": a.event.event_id,
                    "event_type": a.event.event_type,
                    "event_time": a.event.event_time,
                    "account_id": a.event.account_id,
                    "body": a.body,
                    "chain_hash": head,
                }
            )
        self._register("b_events", rows)
        self.con.execute("INSERT INTO events BY NAME SELECT * FROM b_events")
        for p, n in counts.items():
            self.con.execute(
                "INSERT INTO chain_heads VALUES (?, ?, ?, ?, ?) ON CONFLICT (log_name, partition) "
                "DO UPDATE SET last_offset = excluded.last_offset, head = excluded.head, "
                "events = chain_heads.events + excluded.events",
                [log_name, p, last[p], n, heads[p]],
            )

    def _store_facts(self, new: list[Accepted]) -> None:
        by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for a in new:
            record = a.record if a.record is not None else record_of(a.event)
            by_table[FACT_TABLE[type(a.event)]].append(fact_row(a.event.event_type, record))
        for cls, table in FACT_TABLE.items():
            rows = by_table.get(table)
            if rows:
                self._register(f"b_{table}", rows)
                cols = ", ".join(f'"{c}"' for c in cls.model_fields)
                self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM b_{table}")
        if (
            by_table.get("role_assumptions")
            or by_table.get("credentials")
            or any(r["session_id"] for r in by_table.get("exits", []))
        ):
            for table, empty in _EMPTY_MERGE_INPUTS.items():
                if not by_table.get(table):
                    self.con.register(f"b_{table}", self.con.sql(empty).arrow())
                    self._registered.add(f"b_{table}")
            self.con.execute(MERGE_SESSIONS)
        keys = {
            r["lifecycle_key"]
            for t in ("role_assumptions", "exits")
            for r in by_table.get(t, [])
            if r.get("lifecycle_key")
        }
        if keys:
            self._register("b_lifecycle_keys", [{"lifecycle_key": k} for k in sorted(keys)])
            self.con.execute(RESOLVE_CONSOLE_EXITS)
        touched = [
            {"session_id": r.get("session_id"), "lifecycle_key": r.get("lifecycle_key")}
            for t in ("role_assumptions", "credentials", "exits")
            for r in by_table.get(t, [])
        ]
        if touched:
            self._register("b_touched", touched)
            self.con.execute(REFRESH_INTERVALS)


# Typed empty inputs for the merge where a batch had no rows of a kind.
_EMPTY_MERGE_INPUTS = {
    "role_assumptions": "SELECT *, ''::VARCHAR AS pref FROM role_assumptions LIMIT 0",
    "credentials": "SELECT * FROM credentials LIMIT 0",
    "exits": "SELECT * FROM exits LIMIT 0",
}
