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

# SQL is built here from constants and the writer's table names; values are bound:
# ruff: noqa: S608

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import duckdb

from pipeline.findings import rules
from pipeline.findings.machine import machine_iam_admin
from pipeline.findings.thresholds import DEFAULT_THRESHOLDS, Thresholds
from pipeline.sessions import origin_label_of

# STS's longest session (GetSessionToken, 36 h): an instance session's calls fall within
# this long of its start, which bounds the sibling sessions a batch's calls can concern.
LONGEST_SESSION_SECONDS = 36 * 3600

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


def _scope_sql(tables: frozenset[str]) -> tuple[str, str, str]:
    """SQL for the sessions, keys and principals a batch's facts touch directly."""
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
    return (
        " UNION ".join(sessions),
        " UNION ".join(keys),
        " UNION ".join(principals),
    )


def _instance_sessions_concerned(
    con: duckdb.DuckDBPyConnection, window: timedelta, *, batch_actions: bool
) -> None:
    """Add to `f_seed_sessions` the instance sessions whose instance-credentials finding
    the seeds can change: the same instance's sessions around a seed instance session
    (whether an address is new to an instance depends on them), and the instance
    sessions that called from an address a seed's other identity (or a batch's
    long-term call) called from, within the window."""
    w = int(window.total_seconds())
    s_inst, t_inst, o_inst = (rules.instance_of(a) for a in ("s", "t", "o"))
    con.execute(f"""
INSERT INTO f_seed_sessions
SELECT s.session_id FROM sessions t
JOIN sessions s ON s.role_arn = t.role_arn AND s.session_name = t.session_name
WHERE t.session_id IN (SELECT session_id FROM f_seed_sessions) AND {t_inst} AND {s_inst}
  AND s.started_at BETWEEN t.started_at - INTERVAL {w + LONGEST_SESSION_SECONDS} SECOND
                       AND t.started_at + INTERVAL {w + LONGEST_SESSION_SECONDS} SECOND
""")
    long_term = (
        "UNION ALL SELECT source_ip, event_time FROM b_actions "
        "WHERE coalesce(access_key_id, '') NOT LIKE 'ASIA%'"
        if batch_actions
        else ""
    )
    con.execute(f"""
INSERT INTO f_seed_sessions
WITH other_calls AS (
    SELECT source_ip, min(event_time) AS lo, max(event_time) AS hi FROM (
        SELECT x.source_ip, x.event_time FROM actions x
        JOIN key_owner k ON k.access_key_id = x.access_key_id
        JOIN sessions o ON o.session_id = k.session_id
        WHERE k.session_id IN (SELECT session_id FROM f_seed_sessions) AND NOT {o_inst}
        {long_term}
    ) GROUP BY source_ip
)
SELECT DISTINCT k.session_id FROM actions x
JOIN other_calls c ON x.source_ip = c.source_ip
 AND x.event_time BETWEEN c.lo - INTERVAL {w} SECOND AND c.hi + INTERVAL {w} SECOND
JOIN key_owner k ON k.access_key_id = x.access_key_id
JOIN sessions s ON s.session_id = k.session_id AND {s_inst}
""")


def refresh(
    con: duckdb.DuckDBPyConnection,
    tables: frozenset[str],
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> int:
    """Recompute the findings a batch could have changed (inside its transaction).

    `tables`: the batch tables the writer registered (b_actions, b_credentials, ...).
    Returns how many findings the scope now holds.
    """
    inputs = {"b_actions", "b_credentials", "b_ends_touched", "b_chain_touched", "b_policy_changes"}
    if not tables & inputs:
        return 0
    sessions, keys, principals = _scope_sql(tables)
    con.execute(f"CREATE OR REPLACE TEMP TABLE f_seed_sessions AS {sessions}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE f_seed_keys AS {keys}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE f_principals AS {principals}")
    if "b_policy_changes" in tables:  # permissions at a session's start may have changed
        con.execute(
            f"INSERT INTO f_seed_sessions SELECT session_id FROM sessions WHERE "
            f"{rules.MACHINE_SCOPE}"
        )
    _instance_sessions_concerned(
        con, thresholds.elsewhere_window, batch_actions="b_actions" in tables
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
