"""The findings projection: the `findings` table, kept up to date as batches are applied.

The store writer calls `refresh` inside each batch's transaction. It recomputes every
finding anchored on what the batch could have changed: the sessions it touched (their
facts, chains or ends), the sessions holding the keys it used, its unowned temporary
keys, the principals of its long-term calls, and, for instance credentials, the
instance sessions whose calls share an address with its calls (within the window).
Each rule recomputes its anchors from all their stored facts, and the findings of those
anchors are replaced, so the table depends only on the set of stored events, never on
their order or batching; materializing again changes nothing.

A directory store keeps one `findings` table per partition file, merged when read: a
rule sees only the facts of its file, so what spans files (a principal's enumeration or
denied burst spread over keys in several partitions, an address shared with an identity
in another file, a revocation stored in another file) is not found there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from pipeline.findings import rules
from pipeline.findings.machine import machine_iam_admin
from pipeline.findings.thresholds import DEFAULT_THRESHOLDS, Thresholds
from pipeline.sessions import origin_label_of


COLUMNS = (
    "finding_id",
    "rule",
    "anchor",
    "severity",
    "first_at",
    "last_at",
    "account_id",
    "session_id",
    "principal_arn",
    "origin_arn",
    "origin_label",
    "summary",
    "evidence",
    "evidence_count",
)

_ORIGIN_COLUMNS = (
    "origin_arn",
    "origin_type",
    "origin_resolved",
    "origin_via",
    "origin_session_name",
    "origin_lifecycle_key",
    "origin_missing_key",
)


def finding_id(rule: str, seed: str) -> str:
    """A stable id: the rule and its anchor evidence, hashed."""
    return "f-" + hashlib.sha256(f"{rule}\x00{seed}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class BatchScope:
    """What a batch brought, by the names of the writer's registered batch tables."""

    tables: frozenset[str]


def _exists(tables: frozenset[str], name: str) -> bool:
    return name in tables


def _scope_sql(tables: frozenset[str], window: timedelta) -> tuple[str, str, str]:
    """SQL for the sessions, keys and principals a batch's findings depend on."""
    sessions = ["SELECT NULL::VARCHAR AS session_id WHERE false"]
    for name in ("b_ends_touched", "b_chain_touched", "b_credentials"):
        if name in tables:
            sessions.append(f"SELECT session_id FROM {name}")
    keys = ["SELECT NULL::VARCHAR AS access_key_id WHERE false"]
    principals = ["SELECT NULL::VARCHAR AS principal_arn WHERE false"]
    if "b_credentials" in tables:
        keys.append("SELECT access_key_id FROM b_credentials")
    if "b_actions" in tables:
        keys.append("SELECT access_key_id FROM b_actions WHERE access_key_id IS NOT NULL")
        principals.append(
            "SELECT principal_arn FROM b_actions WHERE principal_arn IS NOT NULL "
            "AND coalesce(access_key_id, '') NOT LIKE 'ASIA%'"
        )
        sessions.append(
            "SELECT k.session_id FROM b_actions a JOIN key_owner k USING (access_key_id)"
        )
        # instance sessions whose calls share an address with the batch's calls
        w = int(window.total_seconds())
        sessions.append(f"""
SELECT k.session_id FROM actions x JOIN key_owner k USING (access_key_id)
JOIN sessions s ON s.session_id = k.session_id AND {rules.INSTANCE_SESSION_SQL.replace("caller_arn", "s.caller_arn").replace("session_name", "s.session_name")}
WHERE x.source_ip IN (SELECT DISTINCT source_ip FROM b_actions)
  AND x.event_time BETWEEN (SELECT min(event_time) FROM b_actions) - INTERVAL {w} SECOND
                       AND (SELECT max(event_time) FROM b_actions) + INTERVAL {w} SECOND""")
    return (
        " UNION ".join(sessions),
        " UNION ".join(keys),
        " UNION ".join(principals),
    )


def refresh(
    con: duckdb.DuckDBPyConnection,
    tables: frozenset[str],
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> int:
    """Recompute the findings a batch could have changed (inside its transaction).

    `tables`: the batch tables the writer registered (b_actions, b_credentials, ...).
    Returns how many findings the scope now holds.
    """
    if not tables & {"b_actions", "b_credentials", "b_ends_touched", "b_chain_touched"}:
        if "b_policy_changes" not in tables:
            return 0
    sessions, keys, principals = _scope_sql(tables, thresholds.elsewhere_window)
    con.execute(f"CREATE OR REPLACE TEMP TABLE f_seed_sessions AS {sessions}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE f_seed_keys AS {keys}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE f_principals AS {principals}")
    if "b_policy_changes" in tables:  # permissions at a session's start may have changed
        con.execute(
            f"INSERT INTO f_seed_sessions SELECT session_id FROM sessions WHERE "
            f"{rules.MACHINE_SCOPE}"
        )
    return _recompute(con, thresholds)


def rebuild(con: duckdb.DuckDBPyConnection, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> int:
    """Every finding, from all the stored facts (a migration, a test, a benchmark)."""
    con.execute("CREATE OR REPLACE TEMP TABLE f_seed_sessions AS SELECT session_id FROM sessions")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE f_seed_keys AS "
        "SELECT DISTINCT access_key_id FROM actions WHERE access_key_id IS NOT NULL "
        "UNION SELECT access_key_id FROM credentials"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE f_principals AS SELECT DISTINCT principal_arn FROM actions "
        "WHERE principal_arn IS NOT NULL AND coalesce(access_key_id, '') NOT LIKE 'ASIA%'"
    )
    con.execute("DELETE FROM findings")
    return _recompute(con, thresholds)


def _recompute(con: duckdb.DuckDBPyConnection, thresholds: Thresholds) -> int:
    con.execute("""
CREATE OR REPLACE TEMP TABLE f_keys AS
SELECT access_key_id FROM f_seed_keys WHERE access_key_id IS NOT NULL
UNION SELECT access_key_id FROM key_owner
      WHERE session_id IN (SELECT session_id FROM f_seed_sessions)
""")
    con.execute("""
CREATE OR REPLACE TEMP TABLE f_scope AS
SELECT session_id AS actor FROM f_seed_sessions WHERE session_id IS NOT NULL
UNION SELECT coalesce(k.session_id, 'key:' || f.access_key_id) FROM f_keys f
      LEFT JOIN key_owner k USING (access_key_id)
UNION SELECT 'key:' || access_key_id FROM f_keys
UNION SELECT 'principal:' || principal_arn FROM f_principals
""")
    con.execute(rules.ACTS_SQL)
    rows: list[dict[str, Any]] = []
    for rule, sql in rules.SQL_RULES.items():
        cur = con.execute(sql(thresholds))
        names = [d[0] for d in cur.description or []]
        rows += [dict(zip(names, r, strict=True), rule=rule) for r in cur.fetchall()]
    rows += machine_iam_admin(con, thresholds)
    con.execute("DELETE FROM findings WHERE anchor IN (SELECT actor FROM f_scope)")
    if rows:
        _insert(con, rows)
    for table in ("f_seed_sessions", "f_seed_keys", "f_principals", "f_keys", "f_scope", "f_acts"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return len(rows)


def _insert(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    origins = _origins(con, sorted({r["session_id"] for r in rows if r["session_id"]}))
    out = []
    for r in rows:
        origin = origins.get(r["session_id"]) if r["session_id"] else None
        if origin is not None:
            origin_arn, label = origin.get("origin_arn"), origin_label_of(origin)
        elif r["anchor"].startswith("principal:") and r["principal_arn"]:
            origin_arn, label = r["principal_arn"], r["principal_arn"]
        elif r["anchor"].startswith("key:"):
            origin_arn = None
            label = f"unknown: no stored session holds key {r['anchor'][4:]}"
        else:
            origin_arn, label = None, "unknown: the record names no principal"
        out.append(
            [
                finding_id(r["rule"], r["seed"]),
                r["rule"],
                r["anchor"],
                r["severity"],
                r["first_at"],
                r["last_at"],
                r["account_id"],
                r["session_id"],
                r["principal_arn"],
                origin_arn,
                label,
                r["summary"],
                list(r["evidence"]),
                int(r["evidence_count"]),
            ]
        )
    placeholders = ", ".join("?" for _ in COLUMNS)
    con.executemany(
        f"INSERT INTO findings ({', '.join(COLUMNS)}) VALUES ({placeholders}) "
        "ON CONFLICT (finding_id) DO NOTHING",
        out,
    )


def _origins(con: duckdb.DuckDBPyConnection, session_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not session_ids:
        return {}
    cols = ", ".join(("session_id", "via", "session_name", "lifecycle_key", *_ORIGIN_COLUMNS))
    cur = con.execute(
        f"SELECT {cols} FROM sessions WHERE session_id IN (SELECT unnest(?::VARCHAR[]))",
        [session_ids],
    )
    names = [d[0] for d in cur.description or []]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
