"""Who-could shares a decision between sessions only where the evaluator could not tell
them apart: sharing must give exactly the decision each session gets alone."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.events import Event
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.permissions.in_force import HistoryAt
from pipeline.permissions.session import decide, session_permissions
from pipeline.permissions.shared import SharedDecisions
from pipeline.queries import Queries
from pipeline.sessions import Selection
from pipeline.simulator import SimulationConfig, simulate
from pipeline.store import Store
from tests.builders import at, role, session
from tests.permissions.policy_events import allow, attach, managed, put_inline, version

Build = Callable[[Sequence[Event]], Queries]


def _compare(q: Queries, action: str, resource: str, t: datetime) -> tuple[int, int]:
    """Assert shared == alone for every session active at t; (sessions, evaluations)."""
    snapshot = HistoryAt(q.con, t)
    shared = SharedDecisions(q.con, snapshot, action, resource)
    active = q.sessions.all(Selection(at=t))
    for s in active:
        alone = decide(
            session_permissions(q.con, s, t, history_at=snapshot), action, resource, checked=True
        )
        issued = session_permissions(q.con, s, t).issued_at
        assert issued is not None
        assert shared.decide(s, issued) == alone, (s.session_id, action)
    return len(active), shared.evaluated


def test_shared_decisions_equal_lone_ones_on_the_simulated_organization(tmp_path: Path) -> None:
    base = tmp_path
    start = datetime(2026, 1, 5, tzinfo=UTC)
    log = FileLog(base / "log", partitions=2, fsync=False)
    log.append(list(simulate(SimulationConfig(start=start, days=3, seed=7))))
    with Store(base / "db.duckdb") as s:
        materialize(log, s)
    log.close()
    with Queries.open(base / "db.duckdb") as q:
        sessions = evaluations = 0
        for hours in range(8, 72, 7):
            t = start + timedelta(hours=hours)
            for action, resource in [
                ("iam:CreateUser", "*"),
                ("s3:GetObject", "arn:aws:s3:::acme-web-assets/index.html"),
                ("ec2:DescribeInstances", "*"),
                ("sts:AssumeRole", "arn:aws:iam::444455556666:role/OrgAdmin"),
            ]:
                n, e = _compare(q, action, resource, t)
                sessions, evaluations = sessions + n, evaluations + e
        assert sessions > 100
        assert evaluations < sessions / 2, (evaluations, sessions)  # sharing happens


MFA_OR_OFFICE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
            },
            {
                "Effect": "Deny",
                "Action": "s3:DeleteObject",
                "Resource": "*",
                "Condition": {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
            },
        ],
    }
)
OWN_PREFIX = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::home/${aws:username}/*",
            }
        ],
    }
)


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("s3:GetObject", "arn:aws:s3:::b/k"),
        ("s3:DeleteObject", "arn:aws:s3:::b/k"),
        ("s3:GetObject", "arn:aws:s3:::home/s/k"),
        ("iam:CreateUser", "*"),
    ],
)
def test_sessions_apart_by_condition_keys_are_decided_apart(
    materialized: Build, action: str, resource: str
) -> None:
    pol = managed("Scoped")
    events: list[Event] = [
        put_inline(role("Cond"), "MfaOrOffice", MFA_OR_OFFICE, -10),
        put_inline(role("Vars"), "OwnPrefix", OWN_PREFIX, -10),
        version(pol, "v1", allow("s3:GetObject"), -10, default=True),
        attach(role("Plain"), "arn:aws:iam::aws:policy/AdministratorAccess", -10),
    ]
    n = 0
    for mfa in (True, False, None):
        for ip in ("203.0.113.7", "198.51.100.9", None):
            for name in ("Cond", "Vars", "Plain"):
                n += 1
                key = f"ASIASHARED{n:010d}"
                extra: dict[str, object] = {"mfa_authenticated": mfa, "source_ip": ip}
                if n % 4 == 0:
                    extra["session_policy_arns"] = [pol]
                events.extend(session(key, name, n * 0.1, **extra))
    q = materialized(events)
    sessions, evaluations = _compare(q, action, resource, at(30))
    assert sessions == n
    assert evaluations < sessions


def test_a_context_built_for_some_keys_holds_them_as_the_whole_context_does() -> None:
    from pipeline.policy import session_context

    t = datetime(2026, 3, 1, 12, tzinfo=UTC)
    inputs: dict[str, object] = {
        "principal_arn": "arn:aws:iam::111122223333:role/path/App",
        "at": t,
        "session_name": "s",
        "issued_at": t - timedelta(minutes=5),
        "mfa_authenticated": False,
        "source_identity": "alice",
        "source_ip": "203.0.113.7",
        "role_tags": {"team": "red"},
        "session_tags": {"Team": "blue", "env": "prod"},
    }
    whole = session_context(**inputs)  # type: ignore[arg-type]
    for keys in (
        {"aws:tokenissuetime"},
        {"aws:currenttime", "aws:epochtime"},
        {"aws:principaltag/team", "aws:sourceip"},
        {"aws:multifactorauthpresent", "aws:sourceidentity", "aws:principalarn"},
        {"aws:nosuchkey"},
    ):
        part = session_context(**inputs, only=frozenset(keys))  # type: ignore[arg-type]
        assert {k.lower() for k in part} <= keys
        for key in keys:
            assert part.get(key) == whole.get(key), key
