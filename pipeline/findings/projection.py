"""The findings projection: the `findings` table, kept up to date as batches are applied.

The store writer calls `note` inside each batch's transaction, keeping in
`findings_pending` what the batch could have changed, and `settle` when the materializer
asks (in the same transaction): after every batch while following, once for several
while catching up, since much of a refresh's scope is long-lived sessions that every
batch touches. Settling recomputes every finding anchored on what the pending batches
could have changed: the sessions they touched (their facts, chains or ends), the
sessions holding the keys they used, their unowned temporary keys, the principals of
their long-term calls, and, for instance credentials, the instance sessions whose calls
share an address with theirs (within the window). An anchor's reach only grows as facts
are added, so settling late reaches at least what settling each batch would have.
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
from pipeline.store.schema import CHAIN_COLUMNS

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

_ORIGIN_COLUMNS = tuple(c for c in CHAIN_COLUMNS if c.startswith("origin_"))


def finding_id(rule: str, seed: str) -> str:
    """A stable id: the rule and its anchor evidence, hashed."""
    return "f-" + hashlib.sha256(f"{rule}\x00{seed}".encode()).hexdigest()[:24]


def _scope_sql(tables: frozenset[str]) -> tuple[str, str, str]:
    """SQL for the sessions, keys and principals a batch's facts touch directly."""
    sessions = ["SELECT NULL::VARCHAR AS session_id WHERE false"]
    # The sessions a batch touched, those whose end it moved, those below them in a
    # chain, and those it issued keys to; a session of a revoked role whose end stayed
    # put has nothing new to find.
    for name in ("b_touched", "b_ends_changed", "b_chain_touched", "b_credentials"):
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


def _instance_sessions_concerned(con: duckdb.DuckDBPyConnection, window: timedelta) -> None:
    """Add to `f_seed_sessions` the instance sessions whose instance-credentials finding
    the seeds can change: the same instance's sessions around a seed instance session
    (whether an address is new to an instance depends on them), and the instance
    sessions that called from an address a seed's other identity (or a stored batch's
    long-term call, `f_long_term`) called from, within the window."""
    w = int(window.total_seconds())
    s_inst, t_inst, o_inst = (rules.instance_of(a) for a in ("s", "t", "o"))
    # The same instance's sessions whose calls come within the window of a seed instance
    # session's calls (per key and address, from `address_use`). A batch holds many
    # sessions of one instance (hourly refreshes), so their windows are merged per
    # instance first (joined one by one, 3,000 seeds took 1.9M rows at 200k events). Each
    # join builds on the seeds' side and streams the large tables: cut by time and joined
    # to `key_owner` and `sessions` whole, the calls of a 10M-event store filled the 1 GB
    # DuckDB may use. A session's listed keys stand for the keys it owns: a key two
    # sessions claim takes both (one more recomputed, nothing missed).
    con.execute(f"""
INSERT INTO f_seed_sessions
WITH seed_keys AS (
    SELECT t.session_id, t.role_arn, t.session_name, unnest(t.access_key_ids) AS access_key_id
    FROM sessions t
    WHERE t.session_id IN (SELECT session_id FROM f_seed_sessions) AND {t_inst}
), seed_inst AS (
    SELECT t.role_arn, t.session_name,
           min(u.first_at) - INTERVAL {w} SECOND AS lo,
           max(u.last_at) + INTERVAL {w} SECOND AS hi
    FROM seed_keys t JOIN address_use u USING (access_key_id)
    GROUP BY t.session_id, t.role_arn, t.session_name
), runs AS (  -- one instance's overlapping windows merged: the same cover, far fewer rows
    SELECT *, sum(CASE WHEN lo <= reach THEN 0 ELSE 1 END)
                  OVER (PARTITION BY role_arn, session_name ORDER BY lo, hi) AS run
    FROM (SELECT *, max(hi) OVER (PARTITION BY role_arn, session_name ORDER BY lo, hi
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
          FROM seed_inst)
), merged AS (
    SELECT role_arn, session_name, min(lo) AS lo, max(hi) AS hi
    FROM runs GROUP BY role_arn, session_name, run
), siblings AS (  -- the seed instances' sessions, each key with its instance's windows
    SELECT x.session_id, x.access_key_id, c.lo, c.hi
    FROM (SELECT s.session_id, s.role_arn, s.session_name,
                 unnest(s.access_key_ids) AS access_key_id
          FROM sessions s
          WHERE (s.role_arn, s.session_name) IN (SELECT role_arn, session_name FROM merged)
            AND {s_inst}) x
    JOIN merged c ON x.role_arn = c.role_arn AND x.session_name = c.session_name
), used AS (
    SELECT access_key_id, first_at, last_at FROM address_use
    WHERE access_key_id IN (SELECT access_key_id FROM siblings)
)
SELECT DISTINCT x.session_id FROM siblings x JOIN used u USING (access_key_id)
WHERE u.last_at >= x.lo AND u.first_at <= x.hi
""")
    # Spans of calls per address and identity (`address_use`), not the calls themselves:
    # an instance session whose span from an address overlaps another identity's span
    # there (within the window) is taken. That may take a few more than needed
    # (recomputing an anchor changes nothing) but never misses one. Spans are kept per
    # identity, not merged per address: one address shared by a whole fleet (a NAT
    # gateway) would otherwise take every instance session of the history. Only
    # addresses of a network count, as in the rule.
    con.execute(f"""
INSERT INTO f_seed_sessions
WITH other_keys AS (
    SELECT o.session_id, unnest(o.access_key_ids) AS access_key_id FROM sessions o
    WHERE o.session_id IN (SELECT session_id FROM f_seed_sessions) AND NOT {o_inst}
), other_calls AS (
    SELECT u.source_ip, min(u.first_at) AS lo, max(u.last_at) AS hi
    FROM other_keys o JOIN address_use u USING (access_key_id)
    GROUP BY u.source_ip, o.session_id
    UNION ALL SELECT source_ip, lo, hi FROM f_long_term
), windows AS (
    SELECT source_ip, lo - INTERVAL {w} SECOND AS lo, hi + INTERVAL {w} SECOND AS hi
    FROM other_calls
    WHERE {rules.NETWORK_SQL} IS NOT NULL
), runs AS (  -- overlapping windows of one address merged: the same cover, fewer joins
    SELECT *, sum(CASE WHEN lo <= reach THEN 0 ELSE 1 END)
                  OVER (PARTITION BY source_ip ORDER BY lo, hi) AS run
    FROM (SELECT *, max(hi) OVER (PARTITION BY source_ip ORDER BY lo, hi
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
          FROM windows)
), merged AS (
    SELECT source_ip, min(lo) AS lo, max(hi) AS hi FROM runs GROUP BY source_ip, run
), hit AS (  -- the keys that called from those addresses then (built on the windows)
    SELECT DISTINCT u.access_key_id FROM address_use u
    JOIN merged c ON u.source_ip = c.source_ip AND u.last_at >= c.lo AND u.first_at <= c.hi
    WHERE u.source_ip IN (SELECT source_ip FROM merged)
), owners AS (
    SELECT session_id FROM key_owner WHERE access_key_id IN (SELECT access_key_id FROM hit)
)
SELECT DISTINCT s.session_id FROM sessions s
WHERE s.session_id IN (SELECT session_id FROM owners) AND {s_inst}
""")


def note(con: duckdb.DuckDBPyConnection, tables: frozenset[str]) -> bool:
    """Keep what a batch could have changed in `findings_pending` (inside its transaction).

    `tables`: the batch tables the writer registered (b_actions, b_credentials, ...).
    Returns whether the batch left anything to settle.
    """
    inputs = {"b_actions", "b_credentials", "b_touched", "b_ends_changed", "b_chain_touched"}
    inputs.add("b_policy_changes")
    if not tables & inputs:
        return False
    sessions, keys, principals = _scope_sql(tables)
    con.execute(f"""
INSERT INTO findings_pending (kind, id)
SELECT DISTINCT 'session', session_id FROM ({sessions}) WHERE session_id IS NOT NULL
UNION ALL SELECT DISTINCT 'key', access_key_id FROM ({keys}) WHERE access_key_id IS NOT NULL
UNION ALL SELECT DISTINCT 'principal', principal_arn FROM ({principals})
    WHERE principal_arn IS NOT NULL
""")
    if "b_policy_changes" in tables:  # permissions at a later session's start may differ
        con.execute(
            "INSERT INTO findings_pending (kind, lo) "
            "SELECT 'policy', min(event_time) FROM b_policy_changes"
        )
    if "b_actions" in tables:  # the spans of its long-term calls, per address and identity
        con.execute("""
INSERT INTO findings_pending
SELECT 'address', source_ip, min(event_time), max(event_time) FROM b_actions
WHERE coalesce(access_key_id, '') NOT LIKE 'ASIA%' AND source_ip IS NOT NULL
GROUP BY source_ip, access_key_id, principal_arn
""")
    return True


def pending(con: duckdb.DuckDBPyConnection) -> int:
    """How many seeds wait in `findings_pending` (0 when the findings are up to date)."""
    # fetchall: a result left open (fetchone) would keep the connection from a transaction
    ((count,),) = con.execute("SELECT count(*) FROM findings_pending").fetchall()
    return int(count)


def settle(con: duckdb.DuckDBPyConnection, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> int:
    """Recompute the findings every pending batch could have changed, and clear them.

    Settling several batches at once gives the findings that settling each would: every
    anchor is recomputed from all its stored facts, and what the seeds reach (addresses,
    an instance's sessions) only grows as facts are added. Returns how many findings the
    scope now holds.
    """
    if not pending(con):
        return 0
    con.execute(
        "CREATE OR REPLACE TEMP TABLE f_seed_sessions AS SELECT DISTINCT id AS session_id "
        "FROM findings_pending WHERE kind = 'session'"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE f_seed_keys AS SELECT DISTINCT id AS access_key_id "
        "FROM findings_pending WHERE kind = 'key'"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE f_principals AS SELECT DISTINCT id AS principal_arn "
        "FROM findings_pending WHERE kind = 'principal'"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE f_long_term AS SELECT id AS source_ip, lo, hi "
        "FROM findings_pending WHERE kind = 'address'"
    )
    ((policy,),) = con.execute(
        "SELECT count(*) FROM findings_pending WHERE kind = 'policy'"
    ).fetchall()
    if policy:
        # Only machine-iam-admin reads policies, asking what those in force at a
        # session's start allowed: a change at T concerns that rule alone, for the machine
        # sessions started at or after T (or whose start is unknown). Seeded as sessions,
        # they took every rule over every later machine session (1.5M at 10M events),
        # beyond the 1 GB DuckDB may use. Kept as the time, not as the sessions' ids.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE f_machine_since AS "
            "SELECT min(lo) AS since FROM findings_pending WHERE kind = 'policy'"
        )
    _instance_sessions_concerned(con, thresholds.elsewhere_window)
    con.execute("DROP TABLE f_long_term")
    con.execute("DELETE FROM findings_pending")
    return _recompute(con, thresholds)


def refresh(
    con: duckdb.DuckDBPyConnection,
    tables: frozenset[str],
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> int:
    """Recompute the findings a batch (and any batch still pending) could have changed."""
    note(con, tables)
    return settle(con, thresholds)


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
    con.execute("DELETE FROM findings_pending")  # all of them are recomputed now
    return _recompute(con, thresholds)


def _recompute(con: duckdb.DuckDBPyConnection, thresholds: Thresholds) -> int:
    con.execute(  # machine-iam-admin's own scope, when a policy change gave one
        "CREATE TEMP TABLE IF NOT EXISTS f_machine_since AS "
        "SELECT NULL::TIMESTAMP AS since WHERE false"
    )
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
    queries = [(rule, sql(thresholds)) for rule, sql in rules.SQL_RULES.items()]
    con.execute(rules.instances_sql(thresholds))
    chunks = con.execute("SELECT DISTINCT chunk FROM f_instances ORDER BY chunk").fetchall()
    queries += [(rules.INSTANCE_RULE, rules.instance_elsewhere(thresholds, c)) for (c,) in chunks]
    for rule, sql in queries:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description or []]
        rows += [dict(zip(names, r, strict=True), rule=rule) for r in cur.fetchall()]
    rows += machine_iam_admin(con, thresholds)
    con.execute("DELETE FROM findings WHERE anchor IN (SELECT actor FROM f_scope)")
    if con.execute("SELECT count(since) FROM f_machine_since").fetchall()[0][0]:
        con.execute(  # only then: it reads every session
            "DELETE FROM findings WHERE rule = 'machine-iam-admin' AND anchor IN ("
            f"SELECT session_id FROM sessions WHERE {rules.MACHINE_CANDIDATES})"
        )
    if rows:
        _insert(con, rows)
    for table in (
        "f_seed_sessions",
        "f_seed_keys",
        "f_principals",
        "f_keys",
        "f_scope",
        "f_acts",
        "f_instances",
        "f_machine_since",
    ):
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
