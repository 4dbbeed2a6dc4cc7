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
    WHERE {target}
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
        lead(event_time) OVER (PARTITION BY target_arn, kind, item
                             ORDER BY event_time, event_id)
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
    sql = _INTERVALS.format(target="target_arn = ?", when="TRUE")
    return [_interval(r) for r in con.execute(sql, [target_arn]).fetchall()]


def intervals_at(
    con: duckdb.DuckDBPyConnection, at: datetime, target_arn: str | None = None
) -> list[PolicyInterval]:
    """The items in force at `at`: of one target, or of every target (one query)."""
    t = naive(at)
    if target_arn is None:
        sql = _INTERVALS.format(target="TRUE", when=_AT)
        return [_interval(r) for r in con.execute(sql, [t, t]).fetchall()]
    sql = _INTERVALS.format(target="target_arn = ?", when=_AT)
    return [_interval(r) for r in con.execute(sql, [target_arn, t, t]).fetchall()]


def known_targets(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Every (target ARN, target type) the history names, at any time."""
    rows = con.execute(
        "SELECT DISTINCT target_arn, target_type FROM policy_changes ORDER BY 1"
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def default_versions_at(
    con: duckdb.DuckDBPyConnection, at: datetime
) -> dict[str, tuple[str, str | None]]:
    """`{policy ARN: (default version id, document)}` for every managed policy whose
    default version at `at` the history records; the document is None when unknown."""
    rows = con.execute(
        """
        WITH managed AS (
            SELECT coalesce(policy_arn, target_arn) AS arn, * FROM policy_changes
            WHERE target_type = 'MANAGED_POLICY' AND event_time <= ?
        ), defaults AS (
            SELECT arn, arg_max_null(policy_version_id, (event_time, event_id)) AS version_id,
                   arg_max_null(policy_document, (event_time, event_id)) AS document
            FROM managed
            WHERE change_type = 'SET_DEFAULT_POLICY_VERSION'
               OR (change_type = 'CREATE_POLICY_VERSION' AND coalesce(set_as_default, FALSE))
            GROUP BY arn
        ), documents AS (
            SELECT arn, policy_version_id,
                   arg_max(policy_document, (event_time, event_id)) AS document
            FROM managed
            WHERE change_type = 'CREATE_POLICY_VERSION' AND policy_document IS NOT NULL
            GROUP BY arn, policy_version_id
        )
        SELECT d.arn, d.version_id, coalesce(d.document, v.document)
        FROM defaults d LEFT JOIN documents v
          ON v.arn = d.arn AND v.policy_version_id = d.version_id
        """,
        [naive(at)],
    ).fetchall()
    # arg_max_null: a SET_DEFAULT without a document must win over an older documented one.
    return {r[0]: (str(r[1] or "?"), r[2]) for r in rows}
