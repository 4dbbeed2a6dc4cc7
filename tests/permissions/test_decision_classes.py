"""Who-could decides one session per class: each session must get exactly the decision it
gets when decided alone, and the classes must actually be few."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.events import Event
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.permissions.decision_classes import (
    ISSUE_TIME_KEY,
    PRINCIPAL_KEYS,
    SESSION_KEYS,
    TAG_KEY_PREFIX,
    DecisionClasses,
    active_rows,
    issue_times,
)
from pipeline.permissions.in_force import HistoryAt
from pipeline.permissions.session import decide, session_permissions
from pipeline.policy import Condition, session_context
from pipeline.policy.conditions import time_thresholds
from pipeline.queries import Queries
from pipeline.sessions import Selection
from pipeline.simulator import SimulationConfig, simulate
from pipeline.store import Store
from tests.builders import at, issued, role, session
from tests.permissions.policy_events import put_inline
from tests.permissions.test_shared_decisions import MFA_OR_OFFICE, OWN_PREFIX

Build = Callable[[Sequence[Event]], Queries]


def _same_as_alone(q: Queries, action: str, resource: str, t: datetime) -> int:
    """Assert who-could's answer equals deciding every active session alone; the count."""
    snapshot = HistoryAt(q.con, t)
    alone = {
        s.session_id: decide(
            session_permissions(q.con, s, t, history_at=snapshot), action, resource, checked=True
        )
        for s in q.sessions.all(Selection(at=t))
    }
    answer = q.who_could(action, resource, t, show_denied=True)
    got = {v.session_id: d for v, d in [*answer.sessions, *answer.denied]}
    assert got == alone, action
    assert answer.considered == len(alone)
    started = [v.started_at for v, _ in answer.sessions]
    assert started == sorted(started)  # in start order, as before
    return len(alone)


def test_who_could_equals_lone_decisions_on_the_simulated_organization(tmp_path: Path) -> None:
    start = datetime(2026, 1, 5, tzinfo=UTC)
    log = FileLog(tmp_path / "log", partitions=2, fsync=False)
    log.append(list(simulate(SimulationConfig(start=start, days=3, seed=11))))
    with Store(tmp_path / "db.duckdb") as s:
        materialize(log, s)
    log.close()
    with Queries.open(tmp_path / "db.duckdb") as q:
        considered = classes = 0
        for hours in range(5, 72, 9):
            t = start + timedelta(hours=hours)
            for action, resource in [
                ("iam:CreateUser", "*"),
                ("s3:GetObject", "arn:aws:s3:::acme-web-assets/index.html"),
                ("sts:AssumeRole", "arn:aws:iam::444455556666:role/OrgAdmin"),
            ]:
                considered += _same_as_alone(q, action, resource, t)
            rows = active_rows(q.sessions, t)
            sorted_ = DecisionClasses(HistoryAt(q.con, t)).sort(
                rows, issue_times(q.sessions, rows, t)
            )
            classes += len({key for _, _, key in sorted_})
        assert considered > 100
        assert classes < considered / 6, (classes, considered)  # the point: few decisions


def _dated(operator: str, *values: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Action": "s3:DeleteObject",
                    "Resource": "*",
                    "Condition": {operator: {"aws:TokenIssueTime": list(values)}},
                },
            ],
        }
    )


THRESHOLD = at(10).strftime("%Y-%m-%dT%H:%M:%SZ")
LATER = at(20).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("document", "splits"),
    [
        (_dated("DateLessThan", THRESHOLD), True),
        (_dated("DateLessThanEquals", THRESHOLD), True),
        (_dated("DateEquals", THRESHOLD, LATER), True),
        (_dated("DateNotEquals", THRESHOLD), True),
        (_dated("DateGreaterThanEquals", THRESHOLD), True),
        (_dated("ForAnyValue:DateGreaterThan", LATER), True),
        (_dated("DateGreaterThan", LATER, "not a date"), False),  # unknown for all alike
        (_dated("DateLessThanIfExists", str(int(at(10).timestamp()))), True),  # epoch seconds
        (_dated("StringLike", "*:10:00Z"), True),  # not by order: each time its own class
        (_dated("Null", "false"), False),
    ],
)
def test_issue_times_on_either_side_of_a_date_threshold_are_decided_apart(
    materialized: Build, document: str, splits: bool
) -> None:
    events: list[Event] = [put_inline(role("Dated"), "Revoke", document, -30)]
    for n, minute in enumerate((0, 5, 10, 10, 15, 20, 25)):  # two exactly at the threshold
        events.extend(session(f"ASIADATED{n:011d}", "Dated", minute, hours=2))
    # a session whose credential was refreshed after the moment asked about (and before)
    events.extend(session("ASIADATEDREFRESH001", "Dated", 2, hours=2))
    events.append(issued("ASIADATEDREFRESH002", 9, session_id="ASIADATEDREFRESH001"))
    events.append(issued("ASIADATEDREFRESH003", 40, session_id="ASIADATEDREFRESH001"))
    q = materialized(events)
    t = at(30)
    assert _same_as_alone(q, "s3:DeleteObject", "arn:aws:s3:::b/k", t) == 8
    answer = q.who_could("s3:DeleteObject", "*", t, show_denied=True)
    allowed = {v.session_id for v, _ in answer.sessions}
    denied = {v.session_id for v, _ in answer.denied}
    assert bool(allowed and denied) == splits, (allowed, denied)
    assert "ASIADATEDREFRESH001" in allowed | denied


def test_time_thresholds_are_the_instants_of_date_conditions() -> None:
    def thresholds(operator: str, *values: str) -> tuple[int, ...] | None:
        return time_thresholds(Condition(operator, ISSUE_TIME_KEY, values))

    second = 1_000_000
    assert thresholds("DateLessThan", "1970-01-01T00:00:02Z", "1") == (1 * second, 2 * second)
    assert thresholds("ForAllValues:DateEqualsIfExists", "1970-01-01T00:00:01.5Z") == (1_500_000,)
    assert thresholds("DateGreaterThan", "soon") == ()  # unknown for every time alike
    assert thresholds("Null", "true") == ()
    assert thresholds("StringEquals", "1970-01-01T00:00:01Z") is None
    assert thresholds("NumericLessThan", "5") is None


def test_every_key_a_session_context_holds_is_accounted_for() -> None:
    """A key fed by a session's column but unknown to `decision_classes` would let two
    sessions that differ in it share a decision: this fails first."""
    t = datetime(2026, 3, 1, 12, tzinfo=UTC)
    context = session_context(
        principal_arn="arn:aws:iam::111122223333:role/App",
        at=t,
        session_name="s",
        principal_id="AROAEXAMPLE",
        issued_at=t - timedelta(minutes=5),
        mfa_authenticated=True,
        source_identity="alice",
        source_ip="203.0.113.7",
        role_tags={"team": "red"},
        session_tags={"env": "prod"},
    )
    for key in context:
        folded = key.lower()
        assert (
            folded in SESSION_KEYS
            or folded in PRINCIPAL_KEYS
            or folded == ISSUE_TIME_KEY
            or folded.startswith(TAG_KEY_PREFIX)
        ), key


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("s3:GetObject", "arn:aws:s3:::b/k"),
        ("s3:DeleteObject", "arn:aws:s3:::b/k"),
        ("s3:GetObject", "arn:aws:s3:::home/s/k"),
    ],
)
def test_sessions_apart_by_mfa_address_tags_or_variables_are_decided_apart(
    materialized: Build, action: str, resource: str
) -> None:
    tagged = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:PrincipalTag/team": "red"}},
                }
            ],
        }
    )
    events: list[Event] = [
        put_inline(role("Cond"), "MfaOrOffice", MFA_OR_OFFICE, -10),
        put_inline(role("Vars"), "OwnPrefix", OWN_PREFIX, -10),
        put_inline(role("Tagged"), "Team", tagged, -10),
    ]
    n = 0
    for mfa in (True, False, None):
        for ip in ("203.0.113.7", "198.51.100.9", None):
            for name in ("Cond", "Vars", "Tagged"):
                n += 1
                tags = {"team": "red" if n % 2 else "blue"}
                extra = {"mfa_authenticated": mfa, "source_ip": ip, "session_tags": tags}
                events.extend(session(f"ASIAAPART{n:011d}", name, n * 0.1, **extra))
    q = materialized(events)
    assert _same_as_alone(q, action, resource, at(30)) == n
