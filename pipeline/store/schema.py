"""The DuckDB schema: log bookkeeping, one table of facts per event type, and sessions.

Facts are append-only and keyed by the event they came from. `sessions` is the one
derived table; every column of it is a commutative merge of facts (the best assumption
by preference, the earliest exit, the latest expiry, the union of keys), so the state
after a set of events does not depend on their order or repetition. Each session's chain
(its parent, ancestors, depth and origin) is resolved when it is written and redone for
every session below one a batch touched, so a late parent completes its descendants
(`pipeline.store.chains`); its end, revocations included, is redone for the sessions a batch
touched and every session of a role a batch revoked (`REFRESH_ENDS`). A directory store
completes what crosses its files when read (`pipeline.sessions`).

Times are TIMESTAMP columns holding UTC (the connection's zone is pinned to UTC).
"""

from __future__ import annotations

SCHEMA_VERSION = 10

DDL = """
CREATE TABLE IF NOT EXISTS store_meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR
);
CREATE TABLE IF NOT EXISTS positions (
    log_name VARCHAR NOT NULL,
    partition INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    PRIMARY KEY (log_name, partition)
);
CREATE TABLE IF NOT EXISTS events (
    log_name VARCHAR NOT NULL,
    partition INTEGER NOT NULL,
    "offset" BIGINT NOT NULL,
    event_id VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL,
    event_time TIMESTAMP NOT NULL,
    account_id VARCHAR NOT NULL,
    body BLOB NOT NULL,
    chain_hash BLOB NOT NULL,
    -- Uniqueness of event_id is the writer's job (it is the only writer): it probes this
    -- fixed-width hash instead of keeping an index of every id, whose upkeep and memory
    -- grew with the history (see BENCHMARKS.md).
    id_hash UBIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS chain_heads (
    log_name VARCHAR NOT NULL,
    partition INTEGER NOT NULL,
    last_offset BIGINT NOT NULL,
    events BIGINT NOT NULL,
    head BLOB NOT NULL,
    PRIMARY KEY (log_name, partition)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    log_name VARCHAR NOT NULL,
    partition INTEGER NOT NULL,
    "offset" BIGINT NOT NULL,
    end_offset BIGINT NOT NULL,
    reason VARCHAR NOT NULL,
    body BLOB
);
CREATE TABLE IF NOT EXISTS conflicts (
    event_id VARCHAR NOT NULL,
    log_name VARCHAR NOT NULL,
    partition INTEGER NOT NULL,
    "offset" BIGINT NOT NULL,
    reason VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS role_assumptions (
    event_id VARCHAR NOT NULL,
    event_time TIMESTAMP NOT NULL,
    account_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    session_id VARCHAR NOT NULL,
    role_arn VARCHAR,
    session_name VARCHAR,
    session_arn VARCHAR,
    via VARCHAR NOT NULL,
    caller_arn VARCHAR,
    caller_type VARCHAR,
    caller_access_key_id VARCHAR,
    source_identity VARCHAR,
    session_tags VARCHAR,
    transitive_tag_keys VARCHAR[],
    session_policy VARCHAR,
    session_policy_arns VARCHAR[],
    mfa_authenticated BOOLEAN,
    source_ip VARCHAR,
    user_agent VARCHAR,
    requested_duration_seconds BIGINT,
    lifecycle_key VARCHAR,
    start_estimated BOOLEAN
);
CREATE TABLE IF NOT EXISTS credentials (
    event_id VARCHAR NOT NULL,
    event_time TIMESTAMP NOT NULL,
    account_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    session_id VARCHAR NOT NULL,
    access_key_id VARCHAR NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS exits (
    event_id VARCHAR NOT NULL,
    event_time TIMESTAMP NOT NULL,
    account_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    session_id VARCHAR,
    lifecycle_key VARCHAR,
    reason VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS revocations (
    event_id VARCHAR NOT NULL,
    event_time TIMESTAMP NOT NULL,
    account_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    role_arn VARCHAR NOT NULL,
    issued_before TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS policy_changes (
    event_id VARCHAR NOT NULL,
    event_time TIMESTAMP NOT NULL,
    account_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    target_type VARCHAR NOT NULL,
    target_arn VARCHAR NOT NULL,
    change_type VARCHAR NOT NULL,
    policy_arn VARCHAR,
    policy_name VARCHAR,
    policy_document VARCHAR,
    policy_version_id VARCHAR,
    set_as_default BOOLEAN,
    group_name VARCHAR
);
CREATE TABLE IF NOT EXISTS actions (
    event_id VARCHAR NOT NULL,
    event_time TIMESTAMP NOT NULL,
    account_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    access_key_id VARCHAR,
    session_id VARCHAR,
    principal_arn VARCHAR,
    action VARCHAR NOT NULL,
    resources VARCHAR[],
    outcome VARCHAR NOT NULL,
    error_code VARCHAR,
    source_ip VARCHAR,
    user_agent VARCHAR,
    region VARCHAR
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id VARCHAR PRIMARY KEY,
    pref VARCHAR NOT NULL,
    account_id VARCHAR,
    role_arn VARCHAR,
    session_name VARCHAR,
    session_arn VARCHAR,
    via VARCHAR,
    caller_arn VARCHAR,
    caller_type VARCHAR,
    caller_access_key_id VARCHAR,
    source_identity VARCHAR,
    session_tags VARCHAR,
    transitive_tag_keys VARCHAR[],
    session_policy VARCHAR,
    session_policy_arns VARCHAR[],
    mfa_authenticated BOOLEAN,
    source_ip VARCHAR,
    user_agent VARCHAR,
    requested_duration_seconds BIGINT,
    lifecycle_key VARCHAR,
    start_estimated BOOLEAN,
    assumed_at TIMESTAMP,
    first_issued_at TIMESTAMP,
    latest_issued_at TIMESTAMP,
    expires_at TIMESTAMP,
    exited_at TIMESTAMP,
    exit_reason VARCHAR,
    console_exited_at TIMESTAMP,
    access_key_ids VARCHAR[],
    -- The first and last successful call made with any of the session's keys.
    first_used_at TIMESTAMP,
    last_used_at TIMESTAMP,
    -- Derived on write so that point-in-time filters read plain columns (zone maps):
    -- the start (never after the first use), the expiry (recorded, else estimated, with
    -- its basis), and an upper bound of the end: the earliest of expiry and exit, or the
    -- last use when later (a key used successfully at T was held at T).
    started_at TIMESTAMP,
    expiry_at TIMESTAMP,
    expiry_basis VARCHAR,
    base_ends_at TIMESTAMP,
    -- The chain, resolved on write (schema 5): the session holding the caller's key, the
    -- sessions from the top-most known one down to that parent, and the origin: the
    -- caller of the top-most session, with what the top-most session was (for its label)
    -- and the temporary key no stored session holds when the chain stops short of it.
    parent_session_id VARCHAR,
    ancestor_ids VARCHAR[],
    depth INTEGER,
    origin_arn VARCHAR,
    origin_type VARCHAR,
    origin_resolved BOOLEAN,
    origin_via VARCHAR,
    origin_session_name VARCHAR,
    origin_lifecycle_key VARCHAR,
    origin_missing_key VARCHAR,
    -- The end, stored (schema 5): the earliest revocation covering the session, then the
    -- earliest of expiry, exit and revocation, never before the last successful use.
    revoked_at TIMESTAMP,
    ends_at TIMESTAMP,
    end_reason VARCHAR,
    -- The 64-bit hash of `session_id` (schema 9), what the writer finds a batch's sessions
    -- by (`stored_sessions`): a join on the id itself read every stored id.
    id_hash UBIGINT
);
-- One row per access key: its first and last successful call. Kept apart from `sessions`
-- because calls may arrive before the events that tie their key to a session. One row per
-- key and one per address and caller below, by the writer's merges, not by a primary key
-- (schema 10): its index cost more to keep than the merges it served (`_merge_spans`).
CREATE TABLE IF NOT EXISTS key_use (
    access_key_id VARCHAR NOT NULL,
    first_allowed_at TIMESTAMP NOT NULL,
    last_allowed_at TIMESTAMP NOT NULL
);
-- One row per source address and caller (an access key; a principal when the call named
-- no key): the first and last call from there (schema 7). The findings rules compare
-- such spans; reading them here keeps a batch's cost bounded as `actions` grows.
CREATE TABLE IF NOT EXISTS address_use (
    source_ip VARCHAR NOT NULL,
    access_key_id VARCHAR NOT NULL,  -- '' when the call named no key
    principal_arn VARCHAR NOT NULL,  -- '' when the call named a key, or no principal
    first_at TIMESTAMP NOT NULL,
    last_at TIMESTAMP NOT NULL
);
-- The session each access key belongs to (the least session id when several claim it),
-- kept on write so that chains are resolved by equality joins. One row per key by the
-- writer's merge, like `key_use` (schema 10); a reader's lookup of one key goes through
-- `credentials_by_key`.
CREATE TABLE IF NOT EXISTS key_owner (
    access_key_id VARCHAR NOT NULL,
    session_id VARCHAR NOT NULL
);
CREATE INDEX IF NOT EXISTS credentials_by_key ON credentials (access_key_id);
-- Findings (schema 6): maintained by the writer, see pipeline/findings/projection.py.
CREATE TABLE IF NOT EXISTS findings (
    finding_id VARCHAR PRIMARY KEY,
    rule VARCHAR NOT NULL,
    -- the session, 'key:<id>' or 'principal:<arn>' whose facts the finding is derived from
    anchor VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    first_at TIMESTAMP NOT NULL,
    last_at TIMESTAMP NOT NULL,
    account_id VARCHAR,
    session_id VARCHAR,
    principal_arn VARCHAR,
    origin_arn VARCHAR,
    origin_label VARCHAR NOT NULL,
    summary VARCHAR NOT NULL,
    evidence VARCHAR[] NOT NULL,
    evidence_count BIGINT NOT NULL
);
-- What stored batches could have changed in `findings` and that is not yet recomputed:
-- while catching up, the projection is settled once for several batches (schema 8). Kept
-- in each batch's transaction, so a crash loses none; empty when the store is at rest.
CREATE TABLE IF NOT EXISTS findings_pending (
    -- 'session', 'key', 'principal' (id set), 'address' (a long-term call's address and
    -- span) or 'policy' (a policy changed: every machine session's start is in doubt)
    kind VARCHAR NOT NULL,
    id VARCHAR,
    lo TIMESTAMP,
    hi TIMESTAMP
);
"""


def id_hash(column: str) -> str:
    """SQL for the stored 64-bit hash of an id: the first 8 bytes of its MD5.

    An MD5, not Python's `hash`, so that it is the same in every process and version. A
    batch's events carry theirs, computed with the batch's tables (`columns.id_hashes`,
    tested against this); the writer computes the sessions' here.
    """
    return f"('0x' || left(md5({column}), 16))::UBIGINT"


def stored_sessions(ids: str) -> str:
    """SQL for the stored rows of the sessions named in `ids` (a table, or a query in
    parentheses, with a `session_id` column): every column of `sessions`, and the row's
    `rowid` as `rid` for an update to find it again.

    Found on `id_hash`, then on the id itself: joined on `session_id`, DuckDB read that
    whole column, a cost that grew with the history (10,000 ids among 3M sessions: 90 ms;
    on the hash, 23 ms, the ids read only where the hash matched).
    """
    return f"""(
    SELECT * EXCLUDE (wanted_id) FROM (
        SELECT s.rowid AS rid, s.*, w.session_id AS wanted_id
        FROM sessions s
        JOIN (SELECT DISTINCT session_id, {id_hash("session_id")} AS h FROM {ids}) w
          ON s.id_hash = w.h
    )
    -- A CASE, not a bare `=`: DuckDB would make that a second join key, read every id.
    WHERE CASE WHEN session_id = wanted_id THEN true ELSE false END
)"""


# How long a session lasts when its credential's expiry was never seen, by how it began
# (IAM_REFERENCE.md 1.1, 1.4, 2a). `expiry_basis` names the rule, so readers can say
# what an estimate rests on; `pipeline.estimates` words them for readers.
DEFAULT_SESSION_SECONDS = 3600  # AssumeRole's default DurationSeconds
CONSOLE_SESSION_SECONDS = 12 * 3600  # an IAM user's console session; GetSessionToken's default
INSTANCE_SESSION_SECONDS = 6 * 3600  # instance-profile credentials, as observed

_EXPIRY = f"""CASE
    WHEN expires_at IS NOT NULL THEN struct_pack(t := expires_at, b := 'recorded')
    WHEN requested_duration_seconds IS NOT NULL THEN struct_pack(
        t := coalesce(assumed_at, first_issued_at) + to_seconds(requested_duration_seconds),
        b := 'requested')
    ELSE struct_pack(t := coalesce(assumed_at, first_issued_at) + to_seconds(CASE
        WHEN via = 'CONSOLE_SIGN_IN' OR lifecycle_key LIKE '%|console'
            THEN {CONSOLE_SESSION_SECONDS}
        WHEN via IN ('GET_SESSION_TOKEN', 'GET_FEDERATION_TOKEN') THEN {CONSOLE_SESSION_SECONDS}
        WHEN via = 'INFERRED' AND caller_type IN ('IAMUser', 'Root', 'FederatedUser')
            THEN {CONSOLE_SESSION_SECONDS}
        WHEN caller_type = 'AWSService' AND caller_arn = 'ec2.amazonaws.com'
            THEN {INSTANCE_SESSION_SECONDS}
        ELSE {DEFAULT_SESSION_SECONDS} END),
        b := CASE
        WHEN via = 'CONSOLE_SIGN_IN' OR lifecycle_key LIKE '%|console' THEN 'default:console'
        WHEN via = 'CONSOLE_SWITCH_ROLE' OR lifecycle_key IS NOT NULL THEN 'default:switch-role'
        WHEN via = 'GET_SESSION_TOKEN' THEN 'default:get-session-token'
        WHEN via = 'GET_FEDERATION_TOKEN' THEN 'default:get-federation-token'
        WHEN via = 'INFERRED' AND caller_type IN ('IAMUser', 'Root') THEN 'default:user-session'
        WHEN via = 'INFERRED' AND caller_type = 'FederatedUser'
            THEN 'default:get-federation-token'
        WHEN caller_type = 'AWSService' AND caller_arn = 'ec2.amazonaws.com'
            THEN 'default:instance-profile'
        ELSE 'default:assume-role' END)
END"""

# Recomputes the derived interval columns of the sessions a batch touched.
REFRESH_INTERVALS = f"""
UPDATE sessions SET
    started_at = least(coalesce(assumed_at, first_issued_at), first_used_at),
    expiry_at = ({_EXPIRY}).t,
    expiry_basis = ({_EXPIRY}).b,
    base_ends_at = greatest(
        least(({_EXPIRY}).t, exited_at, console_exited_at),
        last_used_at + INTERVAL 1 SECOND)
WHERE rowid IN (SELECT rid FROM b_touched_rows)  -- the rows `TOUCHED_ROWS` found
"""

# The rows of the sessions a batch touched (`b_touched`): by id, and every session of a
# console lifecycle it touched (an exit names only the lifecycle).
TOUCHED_ROWS = f"""
SELECT rid FROM {stored_sessions("b_touched")}
UNION SELECT rowid FROM sessions
WHERE lifecycle_key IN (SELECT lifecycle_key FROM b_touched WHERE lifecycle_key IS NOT NULL)
"""


def _merge_spans(table: str, keys: str, first: str, last: str, rows: str) -> tuple[str, ...]:
    """Statements merging `rows` (one row per `keys`, with `first_at` and `last_at`) into
    `table`'s span columns `first` and `last`, commutatively: the stored rows are found
    once (with their `rowid`), updated by it where the batch widens their span, and the
    keys not found appended. No primary key: its index made the merge an `ON CONFLICT`,
    and keeping and checkpointing the index cost more than the merge (at 3M keys, 15,000
    a batch: the merge 170-480 -> 90-130 ms, the checkpoint 65-115 -> 10-55 ms, the file
    303 -> 34 MiB)."""
    return (
        f"""
CREATE OR REPLACE TEMP TABLE b_merge_use AS
SELECT b.*, u.rowid AS rid, u.{first} AS was_first, u.{last} AS was_last
FROM ({rows}) b
LEFT JOIN {table} u USING ({keys})
""",
        f"""
UPDATE {table} SET {first} = least(m.was_first, m.first_at),
                   {last} = greatest(m.was_last, m.last_at)
FROM b_merge_use m
WHERE {table}.rowid = m.rid AND (m.first_at < m.was_first OR m.last_at > m.was_last)
""",
        f"INSERT INTO {table} SELECT {keys}, first_at, last_at FROM b_merge_use WHERE rid IS NULL",
        "DROP TABLE b_merge_use",
    )


# A batch's successful calls, per key, merged into `key_use`.
MERGE_KEY_USE = _merge_spans(
    "key_use",
    "access_key_id",
    "first_allowed_at",
    "last_allowed_at",
    """
SELECT access_key_id, min(event_time) AS first_at, max(event_time) AS last_at
FROM b_actions WHERE outcome = 'ALLOWED' AND access_key_id IS NOT NULL
GROUP BY access_key_id
""",
)

# Calls per source address and caller, as `address_use` keeps them (see the DDL).
ADDRESS_USE_ROWS = """
SELECT source_ip, coalesce(access_key_id, '') AS access_key_id,
       CASE WHEN access_key_id IS NULL THEN coalesce(principal_arn, '') ELSE '' END
           AS principal_arn,
       min(event_time) AS first_at, max(event_time) AS last_at
FROM {table} WHERE source_ip IS NOT NULL
GROUP BY ALL
"""

# A batch's calls, merged into `address_use`.
MERGE_ADDRESS_USE = _merge_spans(
    "address_use",
    "source_ip, access_key_id, principal_arn",
    "first_at",
    "last_at",
    ADDRESS_USE_ROWS.format(table="b_actions"),
)

# Sessions whose use may have changed: those holding a key the batch used, and those the
# batch gave a key (its calls may have arrived first).
USE_TOUCHED = """
SELECT DISTINCT c.session_id FROM credentials c
WHERE c.access_key_id IN (
    SELECT DISTINCT access_key_id FROM b_actions
    WHERE outcome = 'ALLOWED' AND access_key_id IS NOT NULL)
UNION SELECT DISTINCT session_id FROM b_credentials
"""

# The first and last use of each touched session, over all its keys. The update finds the
# rows by the `rowid` read with them: joined on `session_id` it scanned all of `sessions`
# again, a cost that grew with the history.
REFRESH_USE = f"""
UPDATE sessions SET first_used_at = u.first_used, last_used_at = u.last_used
FROM (
    SELECT k.rid, min(u.first_allowed_at) AS first_used, max(u.last_allowed_at) AS last_used
    FROM (SELECT rid, unnest(access_key_ids) AS access_key_id
          FROM {stored_sessions("b_use_touched")}) k
    JOIN key_use u USING (access_key_id)
    GROUP BY k.rid
) AS u
WHERE sessions.rowid = u.rid
"""

# The end of each session whose row is in `b_ends_touched`: the earliest "revoke active
# sessions" of its role that covers it (issued before the cut-off, revoked after it
# began), then the earliest of expiry, exit and revocation, never before the last
# successful use (a key used at T was held at T), and why.
REFRESH_ENDS = """
CREATE OR REPLACE TEMP TABLE b_new_ends AS
SELECT rid, session_id, revoked_at, ends_at, end_reason,
       (ends_at, end_reason) IS DISTINCT FROM (old_ends_at, old_end_reason) AS end_changed
FROM (
    SELECT rid, session_id, revoked_at, old_ends_at, old_end_reason, old_revoked_at,
           greatest(least(expiry_at, exited_at, console_exited_at, revoked_at),
                    last_used_at + INTERVAL 1 SECOND) AS ends_at,
           CASE
               WHEN revoked_at IS NOT NULL
                AND revoked_at <= least(expiry_at, exited_at, console_exited_at)
                   THEN 'revoked'
               WHEN least(exited_at, console_exited_at) <= expiry_at THEN 'exited'
               ELSE 'expired' END AS end_reason
    FROM (  -- one read of each touched session, its `rowid` for the update below
        SELECT s.rowid AS rid, s.session_id, s.expiry_at, s.exited_at, s.console_exited_at,
               s.last_used_at, s.ends_at AS old_ends_at, s.end_reason AS old_end_reason,
               s.revoked_at AS old_revoked_at, min(v.event_time) AS revoked_at
        FROM sessions s
        LEFT JOIN revocations v
          ON v.role_arn = s.role_arn
         AND coalesce(s.latest_issued_at, s.started_at) < v.issued_before
         AND v.event_time > s.started_at
        WHERE s.rowid IN (SELECT rid FROM b_ends_touched)
        GROUP BY ALL
    )
)
-- only what changes: a revocation touches every session of its role, most ended long ago
WHERE (revoked_at, ends_at, end_reason)
      IS DISTINCT FROM (old_revoked_at, old_ends_at, old_end_reason);
UPDATE sessions SET revoked_at = n.revoked_at, ends_at = n.ends_at, end_reason = n.end_reason
FROM b_new_ends n
WHERE sessions.rowid = n.rid;
"""

MAX_CHAIN_DEPTH = 16  # role chaining is short in practice; bad data may loop

# A batch's keys and their sessions, merged into `key_owner` commutatively (the least
# session id wins), as `_merge_spans` merges: no primary key to keep.
MERGE_KEY_OWNER = (
    """
CREATE OR REPLACE TEMP TABLE b_merge_owner AS
SELECT b.*, o.rowid AS rid, o.session_id AS was
FROM (SELECT access_key_id, min(session_id) AS session_id FROM b_credentials
      GROUP BY access_key_id) b
LEFT JOIN key_owner o USING (access_key_id)
""",
    """
UPDATE key_owner SET session_id = m.session_id
FROM b_merge_owner m WHERE key_owner.rowid = m.rid AND m.session_id < m.was
""",
    "INSERT INTO key_owner SELECT access_key_id, session_id FROM b_merge_owner WHERE rid IS NULL",
    "DROP TABLE b_merge_owner",
)

# Columns of `sessions` taken whole from the preferred RoleAssumed of the session.
ASSUMPTION_COLUMNS = (
    "account_id",
    "role_arn",
    "session_name",
    "session_arn",
    "via",
    "caller_arn",
    "caller_type",
    "caller_access_key_id",
    "source_identity",
    "session_tags",
    "transitive_tag_keys",
    "session_policy",
    "session_policy_arns",
    "mfa_authenticated",
    "source_ip",
    "user_agent",
    "requested_duration_seconds",
    "lifecycle_key",
    "start_estimated",
    "assumed_at",
)

# The columns of `sessions` that hold its resolved chain (`pipeline.store.chains`).
CHAIN_COLUMNS = (
    "parent_session_id",
    "ancestor_ids",
    "depth",
    "origin_arn",
    "origin_type",
    "origin_resolved",
    "origin_via",
    "origin_session_name",
    "origin_lifecycle_key",
    "origin_missing_key",
)

# Tables compared when two stores must hold the same state (tests, crash harness).
# The columns of `sessions` that one partition file of a directory store cannot complete
# by itself (a parent session or a revocation may sit in another file): the read model
# completes them when reading such a store (`pipeline.sessions`).
CROSS_FILE_COLUMNS = (*CHAIN_COLUMNS, "revoked_at", "ends_at", "end_reason")

STATE_TABLES = (
    "sessions",
    "role_assumptions",
    "credentials",
    "exits",
    "revocations",
    "policy_changes",
    "actions",
)
