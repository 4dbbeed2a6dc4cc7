"""Chains resolved on write, from the parents' stored chains.

A session's chain goes up through `key_owner`: its caller's key, the session holding that
key, that session's caller's key, and so on to the origin. Every stored session's chain
is kept resolved, so a touched session's chain is its parent's with the parent appended:
one lookup of the touched sessions' caller keys, then steps within the touched sessions
alone (a parent touched in the same batch is resolved first). Walking every level up
through `key_owner` and `sessions` instead scanned both tables once a level, a cost
that grew with the history (BENCHMARKS.md). Where composing would not give what that
walk gives (a loop in bad data, a chain at MAX_CHAIN_DEPTH), the walk is still what
decides (`walk_chains`): it reads no stored chain, so it is also the reference the tests
hold the composed chains to.

The sessions below a touched one are found the same way: the stored `parent_session_id`
links them, and only the batch's own keys can make new links.
"""

# SQL is built from constants and this module's own temp table names; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import duckdb

from pipeline.store.schema import CHAIN_COLUMNS, MAX_CHAIN_DEPTH, stored_sessions

_RESOLVED_COLUMNS = ", ".join(("session_id", *CHAIN_COLUMNS))

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

_MISSING_KEY = "CASE WHEN {key} LIKE 'ASIA%' THEN {key} END"

# -- composing: a chain from its parent's -------------------------------------------------

# Each touched session's parent: the holder of its caller's key (itself: no parent).
_LINKS = """
CREATE OR REPLACE TEMP TABLE c_link AS
SELECT w.session_id, k.session_id AS parent
FROM c_was w JOIN key_owner k ON k.access_key_id = w.caller_access_key_id
WHERE k.session_id <> w.session_id
"""

# The stored chains of the parents not touched: as resolved, since nothing above them was.
_STORED_PARENTS = f"""
CREATE OR REPLACE TEMP TABLE c_fresh AS
SELECT {_RESOLVED_COLUMNS} FROM {
    stored_sessions(
        "(SELECT DISTINCT parent AS session_id FROM c_link "
        "WHERE parent NOT IN (SELECT session_id FROM c_was))"
    )
}
"""

# A session with no parent is its own origin.
_ROOTS = f"""
INSERT INTO c_res
SELECT session_id, NULL AS parent_session_id, [] AS ancestor_ids, 0 AS depth,
       caller_arn AS origin_arn, caller_type AS origin_type,
       caller_arn IS NOT NULL AND {_MISSING_KEY.format(key="caller_access_key_id")} IS NULL
           AS origin_resolved,
       via AS origin_via, session_name AS origin_session_name,
       lifecycle_key AS origin_lifecycle_key,
       {_MISSING_KEY.format(key="caller_access_key_id")} AS origin_missing_key
FROM c_was WHERE session_id NOT IN (SELECT session_id FROM c_link)
"""

# The children of the sessions just resolved (`c_fresh`): the parent's chain, the parent
# appended. Not where the walk would stop sooner: the child already in the parent's
# chain (a loop), or the parent's chain at the walk's depth.
_COMPOSE = f"""
CREATE OR REPLACE TEMP TABLE c_step AS
SELECT l.session_id, p.session_id AS parent_session_id,
       list_append(p.ancestor_ids, p.session_id) AS ancestor_ids, p.depth + 1 AS depth,
       p.origin_arn, p.origin_type, p.origin_resolved, p.origin_via,
       p.origin_session_name, p.origin_lifecycle_key, p.origin_missing_key,
       coalesce(p.depth < {MAX_CHAIN_DEPTH}
                AND NOT list_contains(p.ancestor_ids, l.session_id), false) AS composed
FROM c_link l JOIN c_fresh p ON p.session_id = l.parent
"""

# -- walking: the reference, level by level through the stored tables ---------------------

_STEP_UP = """
SELECT u.session_id, p.caller_access_key_id AS key, p.caller_arn AS arn,
       p.caller_type AS kind, p.via, p.session_name AS name, p.lifecycle_key AS lifecycle,
       u.depth + 1 AS depth, list_append(u.path, p.session_id) AS path
FROM c_frontier u
JOIN key_owner k ON k.access_key_id = u.key
JOIN sessions p ON p.session_id = k.session_id
WHERE NOT list_contains(u.path, p.session_id)
"""

# Each walked session's chain, from the walk up (`c_up`): one row per session.
_WALKED = f"""
CREATE OR REPLACE TEMP TABLE c_walked AS
SELECT session_id,
       t.path[2] AS parent_session_id,
       list_reverse(t.path[2:]) AS ancestor_ids,
       t.depth AS depth,
       t.arn AS origin_arn,
       t.kind AS origin_type,
       t.arn IS NOT NULL AND {_MISSING_KEY.format(key="t.key")} IS NULL AS origin_resolved,
       t.via AS origin_via,
       t.name AS origin_session_name,
       t.lifecycle AS origin_lifecycle_key,
       {_MISSING_KEY.format(key="t.key")} AS origin_missing_key
FROM (SELECT session_id, arg_max(c_up, depth) AS t FROM c_up GROUP BY session_id)
"""

# -- the sessions below ---------------------------------------------------------------------

# The first level: the stored children of the seeds, and any session whose caller's key
# the batch issued (a parent arriving late: the only links a batch can add).
_FIRST_DOWN = """
SELECT session_id FROM sessions
WHERE caller_access_key_id IN (SELECT access_key_id FROM {keys})
   OR parent_session_id IN (SELECT session_id FROM c_frontier)
EXCEPT SELECT session_id FROM c_below
"""
# Below that, the stored links: a session found there is no seed, so its children's
# links are as stored.
_STEP_DOWN = """
SELECT session_id FROM sessions
WHERE parent_session_id IN (SELECT session_id FROM c_frontier)
EXCEPT SELECT session_id FROM c_below
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
FROM c_res r JOIN c_was w USING (session_id)
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
FROM c_res r JOIN c_was w USING (session_id)
WHERE w.ancestor_ids IS DISTINCT FROM r.ancestor_ids
"""
_RESOLVE_ANCESTORS = """
UPDATE sessions SET ancestor_ids = r.ancestor_ids
FROM c_changed r WHERE sessions.rowid = r.rid
"""
_UPDATES = ((_CHANGED_SCALARS, _RESOLVE_SCALARS), (_CHANGED_ANCESTORS, _RESOLVE_ANCESTORS))


def sessions_below(con: duckdb.DuckDBPyConnection, seeds: str, keys: str) -> None:
    """Fill temp table `c_below` with the sessions of `seeds` (a table or view with a
    `session_id` column) and every session chained below them, up to MAX_CHAIN_DEPTH,
    where `keys` (an `access_key_id` column) are the keys issued since the stored chains
    were resolved."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE c_below AS SELECT DISTINCT session_id FROM {seeds}")
    con.execute("CREATE OR REPLACE TEMP TABLE c_frontier AS SELECT session_id FROM c_below")
    step = _FIRST_DOWN.format(keys=keys)
    for _ in range(MAX_CHAIN_DEPTH):
        con.execute(f"CREATE OR REPLACE TEMP TABLE c_next AS {step}")
        if not _rows(con, "c_next"):
            break
        con.execute("INSERT INTO c_below SELECT session_id FROM c_next")
        con.execute("CREATE OR REPLACE TEMP TABLE c_frontier AS SELECT * FROM c_next")
        step = _STEP_DOWN
    con.execute("DROP TABLE IF EXISTS c_next")
    con.execute("DROP TABLE IF EXISTS c_frontier")


def resolve_chains(con: duckdb.DuckDBPyConnection, touched: str) -> None:
    """Store the chain and origin of every session in `touched` (a table or view with a
    `session_id` column): parent, ancestors, depth, and the caller at the top. Every
    session not in `touched` must have its chain stored as resolved, and every session
    whose chain a change reaches must be in `touched` (`sessions_below`)."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE c_was AS SELECT rid, {_WAS_COLUMNS} "
        f"FROM {stored_sessions(touched)}"
    )
    con.execute(_LINKS)
    con.execute(_STORED_PARENTS)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE c_res AS SELECT {_RESOLVED_COLUMNS} FROM c_fresh LIMIT 0"
    )
    con.execute("CREATE OR REPLACE TEMP TABLE c_stuck (session_id VARCHAR)")
    con.execute(_ROOTS)
    # The roots are fresh too: their touched children compose from them.
    con.execute(f"INSERT INTO c_fresh SELECT {_RESOLVED_COLUMNS} FROM c_res")
    for _ in range(MAX_CHAIN_DEPTH + 1):  # a step a level of chain within `touched`
        con.execute(_COMPOSE)
        if not _rows(con, "c_step"):
            break
        con.execute("INSERT INTO c_stuck SELECT session_id FROM c_step WHERE NOT composed")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE c_fresh AS SELECT {_RESOLVED_COLUMNS} "
            "FROM c_step WHERE composed"
        )
        con.execute("INSERT INTO c_res SELECT * FROM c_fresh")
    # What composing left (a loop, the depth, a parent below one of those): walked.
    con.execute(
        "INSERT INTO c_stuck SELECT session_id FROM c_was EXCEPT SELECT session_id FROM c_res"
    )
    if _rows(con, "c_stuck"):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE c_walk_from AS SELECT * FROM c_was "
            "WHERE session_id IN (SELECT session_id FROM c_stuck)"
        )
        walk_chains(con, "c_walk_from")
        con.execute(f"INSERT INTO c_res SELECT {_RESOLVED_COLUMNS} FROM c_walked")
    for changed, update in _UPDATES:
        con.execute(changed)
        if _rows(con, "c_changed"):  # none changed: no update, no scan
            con.execute(update)
    for table in (
        "c_link",
        "c_fresh",
        "c_res",
        "c_step",
        "c_stuck",
        "c_walk_from",
        "c_walked",
        "c_was",
        "c_changed",
    ):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def walk_chains(con: duckdb.DuckDBPyConnection, rows: str) -> None:
    """Fill temp table `c_walked` (a session id and CHAIN_COLUMNS) with the chains of the
    sessions in `rows` (their stored `sessions` rows, or a table of those), walked level by
    level through `key_owner` and `sessions`, reading no stored chain."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE c_up AS SELECT {_UP_COLUMNS}, 0 AS depth, "
        f"[session_id] AS path FROM {rows}"
    )
    con.execute("CREATE OR REPLACE TEMP TABLE c_frontier AS SELECT * FROM c_up")
    for _ in range(MAX_CHAIN_DEPTH):
        con.execute(f"CREATE OR REPLACE TEMP TABLE c_next AS {_STEP_UP}")
        if not _rows(con, "c_next"):
            break
        con.execute("INSERT INTO c_up SELECT * FROM c_next")
        con.execute("CREATE OR REPLACE TEMP TABLE c_frontier AS SELECT * FROM c_next")
    con.execute(_WALKED)
    for table in ("c_next", "c_frontier", "c_up"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0
