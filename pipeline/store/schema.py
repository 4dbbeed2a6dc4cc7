"""The DuckDB schema: log bookkeeping, one table of facts per event type, and sessions.

Facts are append-only and keyed by the event they came from. `sessions` is the one
derived table; every column of it is a commutative merge of facts (the best assumption
by preference, the earliest exit, the latest expiry, the union of keys), so the state
after a set of events does not depend on their order or repetition. Chains, origins and
revocations span partitions and are resolved by the query layer at read time.

Times are TIMESTAMP columns holding UTC (the connection's zone is pinned to UTC).
"""

from __future__ import annotations

SCHEMA_VERSION = 3

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
    lifecycle_key VARCHAR
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
    assumed_at TIMESTAMP,
    first_issued_at TIMESTAMP,
    latest_issued_at TIMESTAMP,
    expires_at TIMESTAMP,
    exited_at TIMESTAMP,
    exit_reason VARCHAR,
    console_exited_at TIMESTAMP,
    access_key_ids VARCHAR[],
    -- Derived on write so that point-in-time filters read plain columns (zone maps):
    -- the start, and the earliest of expiry (estimated when unknown) and exit.
    started_at TIMESTAMP,
    base_ends_at TIMESTAMP
);
CREATE INDEX IF NOT EXISTS credentials_by_key ON credentials (access_key_id);
"""


def id_hash(column: str) -> str:
    """SQL for the stored 64-bit hash of an event id: the first 8 bytes of its MD5.

    Computed by DuckDB on write and on probe, so it never depends on Python's hashing.
    """
    return f"('0x' || left(md5({column}), 16))::UBIGINT"


# The default lifetime of a session whose credential expiry was never seen (AssumeRole's).
DEFAULT_SESSION_SECONDS = 3600

# Recomputes the derived interval columns of the sessions a batch touched.
REFRESH_INTERVALS = f"""
UPDATE sessions SET
    started_at = coalesce(assumed_at, first_issued_at),
    base_ends_at = least(
        coalesce(expires_at, coalesce(assumed_at, first_issued_at)
            + to_seconds(coalesce(requested_duration_seconds, {DEFAULT_SESSION_SECONDS}))),
        exited_at, console_exited_at)
WHERE session_id IN (SELECT session_id FROM b_touched)
   OR lifecycle_key IN (SELECT lifecycle_key FROM b_touched)
"""

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
    "assumed_at",
)

# Tables compared when two stores must hold the same state (tests, crash harness).
STATE_TABLES = (
    "sessions",
    "role_assumptions",
    "credentials",
    "exits",
    "revocations",
    "policy_changes",
    "actions",
)
