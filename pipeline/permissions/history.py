"""The policy history: what was attached to each role, user, group and managed policy, when.

Every `PolicyChanged` fact opens or closes an interval of validity for one *item* of a
target: a managed policy attachment (keyed by policy ARN), an inline policy (by name), the
permissions boundary, the trust policy, a group membership (by group name), the tags, or a
managed policy's default version. The latest change of an item at or before T decides its
state at T; ties at one instant are broken by event id so the answer is deterministic.
Everything is read with parameterized SQL from the `policy_changes` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from pipeline.timeutil import naive, to_utc

# An item's kind, from the change that touches it. Kinds without a "present" change
# (CREATE_POLICY_VERSION that is not made default) open no interval.
_INTERVALS = """
WITH changes AS (
    SELECT *,
        CASE change_type
            WHEN 'ATTACH_MANAGED_POLICY' THEN 'managed'
            WHEN 'DETACH_MANAGED_POLICY' THEN 'managed'
            WHEN 'PUT_INLINE_POLICY' THEN 'inline'
            WHEN 'DELETE_INLINE_POLICY' THEN 'inline'
            WHEN 'SET_PERMISSIONS_BOUNDARY' THEN 'boundary'
            WHEN 'DELETE_PERMISSIONS_BOUNDARY' THEN 'boundary'
            WHEN 'ADD_USER_TO_GROUP' THEN 'group'
            WHEN 'REMOVE_USER_FROM_GROUP' THEN 'group'
            WHEN 'UPDATE_TRUST_POLICY' THEN 'trust'
            WHEN 'SET_DEFAULT_POLICY_VERSION' THEN 'default_version'
            WHEN 'CREATE_POLICY_VERSION' THEN
                CASE WHEN coalesce(set_as_default, FALSE) THEN 'default_version' END
            WHEN 'OTHER' THEN CASE WHEN policy_name = 'Tags' THEN 'tags' END
        END AS kind
    FROM policy_changes
    WHERE target_arn = ?
), keyed AS (
    SELECT *,
        CASE kind
            WHEN 'managed' THEN coalesce(policy_arn, policy_name, '')
            WHEN 'inline' THEN coalesce(policy_name, '')
            WHEN 'group' THEN coalesce(group_name, '')
            ELSE ''
        END AS item
    FROM changes WHERE kind IS NOT NULL
), timed AS (
    SELECT *,
        lead(event_time) OVER (PARTITION BY kind, item ORDER BY event_time, event_id)
            AS valid_until
    FROM keyed
)
SELECT target_arn, target_type, kind, item, event_time AS valid_from, valid_until,
       policy_arn, policy_name, policy_document, policy_version_id, group_name, event_id
FROM timed
WHERE change_type IN ('ATTACH_MANAGED_POLICY', 'PUT_INLINE_POLICY', 'SET_PERMISSIONS_BOUNDARY',
                      'ADD_USER_TO_GROUP', 'UPDATE_TRUST_POLICY', 'SET_DEFAULT_POLICY_VERSION',
                      'CREATE_POLICY_VERSION', 'OTHER')
  AND {when}
ORDER BY valid_from, kind, item, event_id
"""

_AT = "valid_from <= ? AND (valid_until IS NULL OR valid_until > ?)"


@dataclass(frozen=True)
class PolicyInterval:
    """One item of a target's permissions, valid from `valid_from` until `valid_until`."""

    target_arn: str
    target_type: str
    kind: str  # managed, inline, boundary, trust, group, tags, default_version
    item: str  # policy ARN, inline name, group name; "" for single-valued kinds
    valid_from: datetime
    valid_until: datetime | None
    policy_arn: str | None
    policy_name: str | None
    policy_document: str | None
    policy_version_id: str | None
    group_name: str | None

    def covers(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)


def _interval(row: tuple[Any, ...]) -> PolicyInterval:
    return PolicyInterval(
        target_arn=row[0],
        target_type=row[1],
        kind=row[2],
        item=row[3],
        valid_from=to_utc(row[4]),
        valid_until=to_utc(row[5]) if row[5] is not None else None,
        policy_arn=row[6],
        policy_name=row[7],
        policy_document=row[8],
        policy_version_id=row[9],
        group_name=row[10],
    )


def intervals(con: duckdb.DuckDBPyConnection, target_arn: str) -> list[PolicyInterval]:
    """The whole history of one target as intervals, oldest first."""
    rows = con.execute(_INTERVALS.format(when="TRUE"), [target_arn]).fetchall()
    return [_interval(r) for r in rows]


def intervals_at(
    con: duckdb.DuckDBPyConnection, target_arn: str, at: datetime
) -> list[PolicyInterval]:
    """The items of one target that are in force at `at`."""
    t = naive(at)
    rows = con.execute(_INTERVALS.format(when=_AT), [target_arn, t, t]).fetchall()
    return [_interval(r) for r in rows]


def resolve_target(con: duckdb.DuckDBPyConnection, arn: str, target_type: str) -> str | None:
    """The ARN the history knows `arn` by, or None when it has no history at all.

    CloudTrail often names a role without its path (`role/Deploy` for
    `role/ops/Deploy`); a unique match on account, type and name is taken then.
    """
    exact = con.execute(
        "SELECT 1 FROM policy_changes WHERE target_arn = ? LIMIT 1", [arn]
    ).fetchone()
    if exact is not None:
        return arn
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return None
    rows = con.execute(
        "SELECT DISTINCT target_arn FROM policy_changes WHERE target_type = ? "
        "AND split_part(target_arn, ':', 5) = ? AND regexp_extract(target_arn, '[^/]+$') = ?",
        [target_type, parts[4], parts[5].rsplit("/", 1)[-1]],
    ).fetchall()
    return rows[0][0] if len(rows) == 1 else None


def group_arn(con: duckdb.DuckDBPyConnection, account_id: str, group_name: str) -> str:
    """A group's ARN from its name (groups may have paths; the history knows them)."""
    guess = f"arn:aws:iam::{account_id}:group/{group_name}"
    return resolve_target(con, guess, "GROUP") or guess


def default_version(
    con: duckdb.DuckDBPyConnection, policy_arn: str, at: datetime
) -> tuple[str, str | None] | None:
    """`(version id, document)` of a managed policy's default version at `at`.

    None when the history records no default version of the policy in force then; the
    document is None when the version is known but its document is not.
    """
    t = naive(at)
    row = con.execute(
        """
        WITH defaults AS (
            SELECT policy_version_id, policy_document, event_time, event_id
            FROM policy_changes
            WHERE target_type = 'MANAGED_POLICY' AND (target_arn = ? OR policy_arn = ?)
              AND (change_type = 'SET_DEFAULT_POLICY_VERSION'
                   OR (change_type = 'CREATE_POLICY_VERSION' AND coalesce(set_as_default, FALSE)))
              AND event_time <= ?
        )
        SELECT d.policy_version_id, coalesce(d.policy_document, (
            SELECT c.policy_document FROM policy_changes c
            WHERE c.target_type = 'MANAGED_POLICY' AND (c.target_arn = ? OR c.policy_arn = ?)
              AND c.change_type = 'CREATE_POLICY_VERSION'
              AND c.policy_version_id = d.policy_version_id
              AND c.policy_document IS NOT NULL
            ORDER BY c.event_time DESC, c.event_id DESC LIMIT 1))
        FROM defaults d ORDER BY d.event_time DESC, d.event_id DESC LIMIT 1
        """,
        [policy_arn, policy_arn, t, policy_arn, policy_arn],
    ).fetchone()
    if row is None:
        return None
    return str(row[0] or "?"), row[1]


def long_term_principals(con: duckdb.DuckDBPyConnection) -> list[str]:
    """IAM users with any recorded policy history."""
    rows = con.execute(
        "SELECT DISTINCT target_arn FROM policy_changes WHERE target_type = 'USER' ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]
