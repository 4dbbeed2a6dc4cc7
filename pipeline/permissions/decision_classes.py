"""Sessions active at a moment, sorted into classes that one decision answers alike.

Who-could asks one question of every session active at T: ten thousand at 10M events.
With the moment fixed, a decision depends on a session only through its principal's
policies, its session policies and the condition keys those policies read, and each key
comes from one of a few columns. So the sessions are read as narrow rows (no view),
keyed by exactly the inputs their policies' conditions read, and one session of each key
is decided. An issue time is keyed by its place among the policies' date thresholds,
not by its value: the revocation condition on `aws:TokenIssueTime`, a different time for
every session, then splits a role's sessions in two rather than in thousands.

A key that a condition reads but no column below feeds is one the context never holds
(it is absent for every session alike); `tests/permissions/test_decision_classes.py`
checks that every key `session_context` writes is accounted for here.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.permissions.in_force import HistoryAt, PolicyInForce
from pipeline.permissions.session import principal_from, session_policies_of
from pipeline.permissions.shared import FoundConditions, conditions_of
from pipeline.policy.conditions import time_thresholds
from pipeline.policy.document import Condition
from pipeline.sessions import Selection, SessionReader, state_sql
from pipeline.timeutil import naive

# What a decision reads of a session, in this order; the issue time (the last column) as
# epoch microseconds, NULL when it must be looked up (see `issue_times`).
INPUT_COLUMNS = """
    session_id, role_arn, via, caller_arn AS principal_arn, session_arn, session_name,
    session_policy, session_policy_arns, mfa_authenticated, source_identity, source_ip,
    session_tags, started_at, first_issued_at, latest_issued_at
"""
_OUTPUT = """
    session_id, role_arn, via, principal_arn, session_arn, session_name, session_policy,
    session_policy_arns, mfa_authenticated, source_identity, source_ip, session_tags,
    epoch_us(CASE
        WHEN latest_issued_at <= ? THEN latest_issued_at
        WHEN first_issued_at IS NULL OR first_issued_at > ? THEN started_at
    END) AS issued_us
"""
# Indices of the columns feeding the request context (see `request_context`).
_ID, _NAME, _MFA, _IDENTITY, _IP, _TAGS, _ISSUED = 0, 5, 8, 9, 10, 11, 12
# Condition keys (folded) fed by a session's own columns; the rest of what
# `session_context` writes follows from the principal and the moment alone.
SESSION_KEYS = {
    "aws:multifactorauthpresent": _MFA,
    "aws:sourceidentity": _IDENTITY,
    "aws:sourceip": _IP,
    "aws:userid": _NAME,
}
TAG_KEY_PREFIX = "aws:principaltag/"  # role tags (the principal's) then session tags
ISSUE_TIME_KEY = "aws:tokenissuetime"
PRINCIPAL_KEYS = frozenset(
    {
        "aws:principalarn",
        "aws:principalaccount",
        "aws:principaltype",
        "aws:username",
        "aws:currenttime",
        "aws:epochtime",
    }
)
_EVERY_INPUT = (_NAME, _MFA, _IDENTITY, _IP, _TAGS)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)

Row = tuple[Any, ...]
# A session sorted: its id, its credential's issue time (epoch microseconds) and its class.
ActiveSession = tuple[str, int, Hashable]


def issued_at(micros: int) -> datetime:
    """An issue time in epoch microseconds as the aware time a request context holds."""
    return _EPOCH_UTC + timedelta(microseconds=micros)


def active_rows(sessions: SessionReader, at: datetime) -> list[Row]:
    """Every session active at `at`, in start order: the columns a decision reads."""
    head, params = state_sql(Selection(at=at), INPUT_COLUMNS, spans_files=sessions.spans_files)
    t = naive(at)
    return sessions.con.execute(
        head + f" SELECT {_OUTPUT} FROM picked ORDER BY started_at, session_id",  # noqa: S608 (constant fragments)
        [*params, t, t],
    ).fetchall()


def issue_times(sessions: SessionReader, rows: list[Row], at: datetime) -> list[int]:
    """The latest credential each session was issued by `at` (`aws:TokenIssueTime`), else
    its start, in epoch microseconds. The stored first and latest issue times settle almost
    every session; only one whose credentials were refreshed around `at` is looked up."""
    asked = [row[_ID] for row in rows if row[_ISSUED] is None]
    if not asked:
        return [row[_ISSUED] for row in rows]
    found = dict(
        sessions.con.execute(
            """
            SELECT s.session_id, epoch_us(coalesce(max(c.issued_at), min(s.started_at)))
            FROM sessions s LEFT JOIN credentials c
              ON c.session_id = s.session_id AND c.issued_at <= ?
            WHERE s.session_id IN (SELECT unnest(?::VARCHAR[]))
            GROUP BY 1
            """,
            [naive(at), asked],
        ).fetchall()
    )
    return [found[row[_ID]] if row[_ISSUED] is None else row[_ISSUED] for row in rows]


class DecisionClasses:
    """Sorts active sessions into classes: two sessions of one class get one decision."""

    def __init__(self, snapshot: HistoryAt) -> None:
        self.snapshot = snapshot
        self._scoped: dict[tuple[str | None, tuple[str, ...]], tuple[PolicyInForce, ...]] = {}
        self._keyers: dict[tuple[str, tuple[PolicyInForce, ...]], _Keyer] = {}

    def sort(self, rows: Iterable[Row], issued: Iterable[int]) -> list[ActiveSession]:
        out: list[ActiveSession] = []
        append = out.append
        principals: dict[tuple[Any, ...], str | None] = {}
        for row, micros in zip(rows, issued, strict=True):
            who = row[1:5]
            principal = principals.get(who, "")
            if principal == "":
                principal = principals[who] = principal_from(*who)
            if principal is None:  # decided alike: the session names no role or user
                append((row[_ID], micros, (None,)))
                continue
            arns = tuple(row[7] or ())
            scoped = self._scoped.get((row[6], arns))
            if scoped is None:
                scoped = self._scoped[(row[6], arns)] = session_policies_of(
                    self.snapshot, row[6], arns
                )
            keyer = self._keyers.get((principal, scoped))
            if keyer is None:
                keyer = self._keyers[(principal, scoped)] = _keyer(
                    conditions_of(self.snapshot.policies_in_force(principal), scoped)
                )
            append((row[_ID], micros, (principal, scoped, keyer(row, micros))))
        return out


_Keyer = Callable[[Row, int], Hashable]


def _keyer(found: FoundConditions | None) -> _Keyer:
    """The function giving a session's class within one principal and set of policies."""
    keys = None if found is None else found[1]
    if found is None or keys is None:  # variables: any key may be read
        return lambda row, issued: (tuple(row[i] for i in _EVERY_INPUT), issued)
    conditions = found[0]
    if not conditions:
        return lambda row, issued: ()
    columns = tuple(sorted({SESSION_KEYS[k] for k in keys if k in SESSION_KEYS}))
    if any(k.startswith(TAG_KEY_PREFIX) for k in keys):
        columns += (_TAGS,)
    issue_class = _issue_time_class([c for c, _ in conditions if c.key.lower() == ISSUE_TIME_KEY])
    return lambda row, issued: (tuple(row[i] for i in columns), issue_class(issued))


def _issue_time_class(conditions: list[Condition]) -> Callable[[int], Hashable]:
    """An issue time's class: its place among the thresholds of the date conditions that
    read it (exact: those conditions compare by order only), or the time itself."""
    if not conditions:
        return lambda issued: None
    thresholds: set[int] = set()
    for condition in conditions:
        found = time_thresholds(condition)
        if found is None:  # compared otherwise than by order: the time itself
            return lambda issued: issued
        thresholds.update(found)
    ordered = sorted(thresholds)
    present = frozenset(ordered)

    def place(micros: int) -> Hashable:
        return bisect_left(ordered, micros), micros in present

    return place
