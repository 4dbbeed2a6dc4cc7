"""Who could, on the simulated organization, and a session's decision at a moment."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.events import AssumeVia, Event, EventSource, RoleAssumed
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.queries import Queries
from pipeline.simulator import SimulationConfig, org, simulate
from pipeline.simulator.activity import LEAK_IP
from pipeline.store import Store
from tests.builders import ACCOUNT, exited, session
from tests.permissions.policy_events import (
    allow,
    at,
    attach,
    boundary,
    deny,
    group,
    managed,
    membership,
    put_inline,
    role,
    user,
    version,
)

Build = Callable[[Sequence[Event]], Queries]
START = datetime(2026, 1, 5, tzinfo=UTC)
DEPLOY = org.ROLES["Deploy"].arn


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Queries]:
    base = tmp_path_factory.mktemp("sim")
    log = FileLog(base / "log", partitions=4, fsync=False)
    log.append(list(simulate(SimulationConfig(start=START, days=3, seed=7))))
    with Store(base / "db.duckdb") as s:
        materialize(log, s)
    log.close()
    q = Queries.open(base / "db.duckdb")
    yield q
    q.close()


def deploy_allowed(q: Queries, t: datetime) -> tuple[set[str], set[str]]:
    """(Deploy sessions allowed iam:CreateUser at t, Deploy sessions active at t)."""
    result = q.who_could("iam:CreateUser", "*", t, show_denied=True)
    allowed = {s.session_id for s, _ in result.sessions if s.role_arn == DEPLOY}
    active = {s.session_id for s in q.who_held(at=t, role_arn=DEPLOY)}
    for s, d in result.denied:
        if s.role_arn == DEPLOY:
            assert d.effect == "implicit_deny" and "iam:CreateUser" in d.reason
    return allowed, active


def test_admin_grant_window_lets_deploy_sessions_create_users(sim: Queries) -> None:
    (grant,) = [g for g in sim.grant_intervals() if g.role_arn == DEPLOY]
    assert grant.removed_at is not None
    seen_inside = 0
    t = grant.granted_at.replace(hour=6, minute=0, second=0)
    while t < grant.granted_at.replace(hour=21):
        allowed, active = deploy_allowed(sim, t)
        if grant.granted_at <= t < grant.removed_at:
            assert allowed == active, t
            seen_inside += len(active)
        else:
            assert allowed == set(), t
        t += timedelta(minutes=30)
    assert seen_inside > 0, "the simulated window must hold Deploy sessions"
    # Right at the edges, a second before and after.
    before, _ = deploy_allowed(sim, grant.granted_at - timedelta(seconds=1))
    after, _ = deploy_allowed(sim, grant.removed_at)
    assert before == after == set()


def test_admin_sessions_are_always_allowed_with_the_deciding_statement(sim: Queries) -> None:
    row = sim.con.execute(
        "SELECT max(assumed_at) FROM sessions WHERE role_arn = ?", [org.ROLES["OrgAdmin"].arn]
    ).fetchone()
    assert row is not None and row[0] is not None
    result = sim.who_could("iam:CreateUser", "*", row[0].replace(tzinfo=UTC) + timedelta(minutes=1))
    orgadmin = [d for s, d in result.sessions if s.role_arn == org.ROLES["OrgAdmin"].arn]
    assert orgadmin
    assert all("policy 'AdministratorAccess'" in d.reason for d in orgadmin)
    assert "only principals with recorded policies are considered" in result.note


def test_leaked_instance_key_is_denied_by_revoke_older_sessions(sim: Queries) -> None:
    row = sim.con.execute(
        "SELECT c.session_id, min(a.event_time) FROM actions a "
        "JOIN credentials c USING (access_key_id) WHERE a.source_ip = ? GROUP BY 1",
        [LEAK_IP],
    ).fetchone()
    assert row is not None
    leaked = row[0]
    view = sim.session(leaked).session
    assert view.end_reason == "revoked" and view.revoked_at is not None
    obj = "arn:aws:s3:::acme-web-assets/index.html"
    before = sim.can(leaked, "s3:GetObject", obj, view.revoked_at - timedelta(minutes=5))
    assert before.effect == "allow"
    after = sim.can(leaked, "s3:GetObject", obj, view.revoked_at + timedelta(minutes=1))
    assert after.effect == "explicit_deny"
    assert "AWSRevokeOlderSessions" in after.reason and "revoked at" in after.reason
    # A WebServer session issued after the revocation is not touched by it.
    later = sim.who_held(at=view.revoked_at + timedelta(hours=2), role_arn=view.role_arn)
    fresh = [s for s in later if s.started_at > view.revoked_at]
    assert fresh
    t = view.revoked_at + timedelta(hours=2)
    assert sim.can(fresh[0].session_id, "s3:GetObject", obj, t).effect == "allow"


def test_summaries_name_the_policies(sim: Queries) -> None:
    t = START + timedelta(days=2, hours=12)
    by_role = {s.role_arn: s for s in sim.who_held(at=t)}
    assert sim.permissions_summary(by_role[DEPLOY].session_id, t) == (
        "PowerUserAccess + AdministratorAccess"
    )
    ro = by_role[org.ROLES["ReadOnly"].arn].session_id
    assert sim.permissions_summary(ro, t) == "ReadOnlyAccess (approx.)"
    decision = sim.can(ro, "ec2:DescribeInstances", "*", t)
    assert decision.effect == "allow" and "approximated" in decision.reason


APP = "App"


def test_session_policy_narrows(materialized: Build) -> None:
    narrowing = allow("s3:GetObject", sid="OnlyReads")
    q = materialized(
        [
            attach(role(APP), "arn:aws:iam::aws:policy/AdministratorAccess", -10),
            *session("ASIANARROW0000000001", APP, 0, session_policy=narrowing),
        ]
    )
    sid = "ASIANARROW0000000001"
    assert q.can(sid, "s3:GetObject", "arn:aws:s3:::b/k", at(5)).effect == "allow"
    d = q.can(sid, "iam:CreateUser", "*", at(5))
    assert d.effect == "implicit_deny" and "session policy does not allow" in d.reason
    assert q.permissions_summary(sid, at(5)) == "AdministratorAccess ∩ session policy"


def test_session_policy_arns_are_resolved(materialized: Build) -> None:
    pol = managed("SessionReads")
    q = materialized(
        [
            attach(role(APP), "arn:aws:iam::aws:policy/AdministratorAccess", -10),
            version(pol, "v1", allow("s3:ListBucket"), -10, default=True),
            *session("ASIANARROW0000000002", APP, 0, session_policy_arns=[pol]),
            *session("ASIANARROW0000000003", APP, 0, session_policy_arns=[managed("Gone")]),
        ]
    )
    assert q.can("ASIANARROW0000000002", "s3:ListBucket", "*", at(5)).effect == "allow"
    assert q.can("ASIANARROW0000000002", "s3:PutObject", "*", at(5)).effect == "implicit_deny"
    unknown = q.can("ASIANARROW0000000003", "s3:ListBucket", "*", at(5))
    assert unknown.effect == "implicit_deny" and "unknown policy document" in unknown.reason


def test_boundary_bounds(materialized: Build) -> None:
    bound = managed("S3Only")
    q = materialized(
        [
            attach(role(APP), "arn:aws:iam::aws:policy/AdministratorAccess", -10),
            version(bound, "v1", allow("s3:*"), -10, default=True),
            boundary(role(APP), bound, 20),
            *session("ASIABOUND00000000001", APP, 0),
        ]
    )
    sid = "ASIABOUND00000000001"
    assert q.can(sid, "iam:CreateUser", "*", at(10)).effect == "allow"  # before the boundary
    d = q.can(sid, "iam:CreateUser", "*", at(30))
    assert d.effect == "implicit_deny" and "permissions boundary 'S3Only'" in d.reason
    assert q.can(sid, "s3:PutObject", "arn:aws:s3:::b/k", at(30)).effect == "allow"


def test_unknowns_and_ended_sessions_never_allow(materialized: Build) -> None:
    q = materialized(
        [
            *session("ASIANOHISTORY0000001", "Stranger", 0),
            attach(role(APP), managed("Nowhere"), -10),
            *session("ASIAUNKNOWNDOC000001", APP, 0),
            put_inline(role("Short"), "All", allow("*"), -10),
            *session("ASIAENDED00000000001", "Short", 0),
            exited(15, session_id="ASIAENDED00000000001"),
        ]
    )
    d = q.can("ASIANOHISTORY0000001", "s3:GetObject", "*", at(5))
    assert d.effect == "implicit_deny" and "no policy history" in d.reason
    assert q.permissions_summary("ASIANOHISTORY0000001", at(5)) == "unknown: no policy history"
    d = q.can("ASIAUNKNOWNDOC000001", "s3:GetObject", "*", at(5))
    assert d.effect == "implicit_deny" and "unknown policy document: Nowhere" in d.reason
    assert q.can("ASIAENDED00000000001", "s3:GetObject", "*", at(10)).effect == "allow"
    d = q.can("ASIAENDED00000000001", "s3:GetObject", "*", at(20))
    assert d.effect == "implicit_deny" and "not active" in d.reason
    d = q.can("ASIAENDED00000000001", "s3:GetObject", "*", at(-5))
    assert d.effect == "implicit_deny" and "had not started" in d.reason


def test_who_could_lists_iam_users_with_recorded_policies(materialized: Build) -> None:
    q = materialized(
        [
            put_inline(user("builder"), "Writes", allow("s3:PutObject"), 0),
            put_inline(user("blocked"), "Writes", allow("s3:PutObject"), 0),
            put_inline(user("blocked"), "NoWrites", deny("s3:PutObject"), 0),
            *session("ASIASOMEONE000000001", APP, 0),
        ]
    )
    result = q.who_could("s3:PutObject", "arn:aws:s3:::b/k", at(5))
    assert [p for p, _ in result.principals] == [user("builder")]
    assert result.sessions == [] and result.considered == 1


def test_user_sessions_carry_the_users_and_groups_policies(materialized: Build) -> None:
    jane = user("jane")
    sid = f"{jane}|console@{at(0).isoformat()}"
    q = materialized(
        [
            put_inline(jane, "Own", allow("s3:GetObject"), -10),
            put_inline(group("Ops"), "OpsDescribe", allow("ec2:Describe*"), -10),
            membership(jane, "Ops", -10),
            RoleAssumed(
                event_id="signin-1",
                event_time=at(0),
                account_id=ACCOUNT,
                source=EventSource.API,
                session_id=sid,
                session_arn=jane,
                via=AssumeVia.CONSOLE_SIGN_IN,
                caller_arn=jane,
                caller_type="IAMUser",
                mfa_authenticated=True,
                requested_duration_seconds=3600,
            ),
        ]
    )
    assert q.can(sid, "s3:GetObject", "arn:aws:s3:::b/k", at(5)).effect == "allow"
    d = q.can(sid, "ec2:DescribeInstances", "*", at(5))
    assert d.effect == "allow" and "Ops/OpsDescribe" in d.reason
    assert q.can(sid, "iam:CreateUser", "*", at(5)).effect == "implicit_deny"
    assert q.permissions_summary(sid, at(5)) == "Own + Ops/OpsDescribe"
