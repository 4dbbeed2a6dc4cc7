"""Chains resolved on write, one level at a time from a small frontier.

A session's chain goes up through `key_owner`: its caller's key, the session holding that
key, that session's caller's key, and so on to the origin. These walks used to be
recursive CTEs, but DuckDB cannot size a recursive working table, so it built each
level's hash table over the whole `sessions` table: memory and time grew with the
history, and materializing 10M events ran out of its 1 GB at 3M. Here each level is one
join from a materialized frontier (the touched sessions, then their parents, ...), on
which DuckDB builds its hash table, scanning the large tables once per level.
"""

# SQL is built from constants and this module's own temp table names; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import duckdb

from pipeline.store.schema import CHAIN_COLUMNS, MAX_CHAIN_DEPTH, stored_sessions

_UP_COLUMNS = """
    session_id, caller_access_key_id AS key, caller_arn AS arn, caller_type AS kind, via,
    session_name AS name, lifecycle_key AS lifecycle"""

# What the walk up starts from, and what the chain columns were before it.
_WAS_COLUMNS = ", ".join(
    (
        "session_id, caller_access_key_id, caller_arn, caller_type, via, session_name",
        "lifecycle_key",
        *CHAIN_COLUMNS,
    )
)

_STEP_UP = """
SELECT u.session_id, p.caller_access_key_id AS key, p.caller_arn AS arn,
       p.caller_type AS kind, p.via, p.session_name AS name, p.lifecycle_key AS lifecycle,
       u.depth + 1 AS depth, list_append(u.path, p.session_id) AS path
FROM c_frontier u
JOIN key_owner k ON k.access_key_id = u.key
JOIN sessions p ON p.session_id = k.session_id
WHERE NOT list_contains(u.path, p.session_id)
"""

_STEP_DOWN = """
SELECT DISTINCT s.session_id
FROM c_frontier f
JOIN key_owner k ON k.session_id = f.session_id
JOIN sessions s ON s.caller_access_key_id = k.access_key_id
WHERE s.session_id NOT IN (SELECT session_id FROM c_below)
"""

# Each touched session's chain, from the walk up (`c_up`): one row per session.
_RESOLVED = """
CREATE OR REPLACE TEMP TABLE c_resolved AS
SELECT session_id,
       t.path[2] AS parent_session_id,
       list_reverse(t.path[2:]) AS ancestor_ids,
       t.depth AS depth,
       t.arn AS origin_arn,
       t.kind AS origin_type,
       t.arn IS NOT NULL AND CASE WHEN t.key LIKE 'ASIA%' THEN t.key END IS NULL
           AS origin_resolved,
       t.via AS origin_via,
       t.name AS origin_session_name,
       t.lifecycle AS origin_lifecycle_key,
       CASE WHEN t.key LIKE 'ASIA%' THEN t.key END AS origin_missing_key
FROM (SELECT session_id, arg_max(c_up, depth) AS t FROM c_up GROUP BY session_id)
"""

# Stored only where it changed: most touched sessions' chains are as they were, and an
# update rewrites whole rows. What changed is found against the rows as read for the walk
# (`c_was`), and the update finds them by `rowid`: joined on `session_id`, each update
# scanned the whole `sessions` table (0.9 s a batch at 10M events for the list of
# ancestors alone). The list of ancestors is written apart, since DuckDB updates a list
# by deleting the row and appending it anew (0.53 against 0.08 s for 2,500 rows at 1M
# events), and a new session is stored with [] (`writer.INSERT_SESSIONS`), so the four
# in five with no ancestors never pay for it. The scalars go first: in place, they keep
# the `rowid`s that the list's update then uses.
_SCALARS = tuple(c for c in CHAIN_COLUMNS if c != "ancestor_ids")
_CHANGED_SCALARS = f"""
CREATE OR REPLACE TEMP TABLE c_changed AS
SELECT w.rid, {", ".join(f"r.{c}" for c in _SCALARS)}
FROM c_resolved r JOIN c_was w USING (session_id)
WHERE ({", ".join(f"w.{c}" for c in _SCALARS)})
      IS DISTINCT FROM ({", ".join(f"r.{c}" for c in _SCALARS)})
"""
_RESOLVE_SCALARS = f"""
UPDATE sessions SET {", ".join(f"{c} = r.{c}" for c in _SCALARS)}
FROM c_changed r WHERE sessions.rowid = r.rid
"""
_CHANGED_ANCESTORS = """
CREATE OR REPLACE TEMP TABLE c_changed AS
SELECT w.rid, r.ancestor_ids
FROM c_resolved r JOIN c_was w USING (session_id)
WHERE w.ancestor_ids IS DISTINCT FROM r.ancestor_ids
"""
_RESOLVE_ANCESTORS = """
UPDATE sessions SET ancestor_ids = r.ancestor_ids
FROM c_changed r WHERE sessions.rowid = r.rid
"""
_UPDATES = ((_CHANGED_SCALARS, _RESOLVE_SCALARS), (_CHANGED_ANCESTORS, _RESOLVE_ANCESTORS))


def sessions_below(con: duckdb.DuckDBPyConnection, seeds: str) -> None:
    """Fill temp table `c_below` with the sessions of `seeds` (a table or view with a
    `session_id` column) and every session chained below them, up to MAX_CHAIN_DEPTH."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE c_below AS SELECT DISTINCT session_id FROM {seeds}")
    con.execute("CREATE OR REPLACE TEMP TABLE c_frontier AS SELECT session_id FROM c_below")
    for _ in range(MAX_CHAIN_DEPTH):
        con.execute(f"CREATE OR REPLACE TEMP TABLE c_next AS {_STEP_DOWN}")
        if not _rows(con, "c_next"):
            break
        con.execute("INSERT INTO c_below SELECT session_id FROM c_next")
        con.execute("CREATE OR REPLACE TEMP TABLE c_frontier AS SELECT * FROM c_next")
    con.execute("DROP TABLE IF EXISTS c_next")
    con.execute("DROP TABLE IF EXISTS c_frontier")


def resolve_chains(con: duckdb.DuckDBPyConnection, touched: str) -> None:
    """Store the chain and origin of every session in `touched` (a table or view with a
    `session_id` column): parent, ancestors, depth, and the caller at the top."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE c_was AS SELECT rid, {_WAS_COLUMNS} "
        f"FROM {stored_sessions(touched)}"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE c_up AS SELECT {_UP_COLUMNS}, 0 AS depth, "
        "[session_id] AS path FROM c_was"
    )
    con.execute("CREATE OR REPLACE TEMP TABLE c_frontier AS SELECT * FROM c_up")
    for _ in range(MAX_CHAIN_DEPTH):
        con.execute(f"CREATE OR REPLACE TEMP TABLE c_next AS {_STEP_UP}")
        if not _rows(con, "c_next"):
            break
        con.execute("INSERT INTO c_up SELECT * FROM c_next")
        con.execute("CREATE OR REPLACE TEMP TABLE c_frontier AS SELECT * FROM c_next")
    con.execute(_RESOLVED)
    for changed, update in _UPDATES:
        con.execute(changed)
        if _rows(con, "c_changed"):  # none changed: no update, no scan
            con.execute(update)
    for table in ("c_next", "c_frontier", "c_up", "c_resolved", "c_was", "c_changed"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0
