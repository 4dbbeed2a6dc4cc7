"""The importer on real CloudTrail (stratus-red-team, OTRF) and on composed shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.queries import Queries
from tests.cloudtrail_helpers import COMPOSED, OTRF, STRATUS, Imported, import_and_materialize


@pytest.fixture(scope="module")
def stratus(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    return import_and_materialize(tmp_path_factory.mktemp("stratus"), STRATUS)


@pytest.fixture(scope="module")
def otrf(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    return import_and_materialize(tmp_path_factory.mktemp("otrf"), OTRF)


@pytest.fixture(scope="module")
def composed(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    return import_and_materialize(tmp_path_factory.mktemp("composed"), COMPOSED)


def _records(path: Path) -> list[dict[str, object]]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def test_every_assumed_role_call_links_to_its_session(stratus: Imported) -> None:
    calls = [
        r
        for f in sorted(STRATUS.glob("*.json"))
        for r in _records(f)
        if (r.get("userIdentity") or {}).get("type") == "AssumedRole"  # type: ignore[union-attr]
    ]
    assert len(calls) == 68
    q = stratus.queries()
    try:
        for r in calls:
            key = r["userIdentity"]["accessKeyId"]  # type: ignore[index]
            view = q.session_for_key(key)
            assert view.session_arn == r["userIdentity"]["arn"]  # type: ignore[index]
            recorded = q.con.execute(
                "SELECT count(*) FROM actions WHERE event_id = ?", [f"ct:{r['eventID']}"]
            ).fetchone()
            assert recorded == (1,)
    finally:
        q.close()


def test_get_password_data_calls_trace_to_the_iam_user(stratus: Imported) -> None:
    records = _records(STRATUS / "aws.credential-access.ec2-get-password-data.json")
    keys = {
        r["userIdentity"]["accessKeyId"]  # type: ignore[index]
        for r in records
        if r["eventName"] == "GetPasswordData" and r["userIdentity"]["type"] == "AssumedRole"  # type: ignore[index]
    }
    assert keys
    q = stratus.queries()
    try:
        for key in keys:
            trace = q.trace(key)
            assert trace.origin_arn == "arn:aws:iam::457448411975:user/christophe"
            assert trace.origin_resolved
            assert trace.chain[-1].via == "ASSUME_ROLE"
            assert trace.chain[-1].role_arn.endswith(
                "role/stratus-red-team-ec2-get-password-data-role"
            )  # type: ignore[union-attr]
    finally:
        q.close()


def test_the_four_denied_assume_role_attempts_are_counted(stratus: Imported) -> None:
    q = stratus.queries()
    try:
        rows = q.con.execute(
            "SELECT principal_arn, resources[1], error_code FROM actions "
            "WHERE action = 'sts:AssumeRole' AND outcome = 'DENIED'"
        ).fetchall()
    finally:
        q.close()
    assert len(rows) == 4
    for principal, resource, code in rows:
        assert principal.endswith(":user/christophe")
        assert resource.startswith("arn:aws:iam::") and ":role/stratus-red-team-" in resource
        assert code == "AccessDenied"


def test_sessions_whose_issuing_event_is_missing_are_inferred(stratus: Imported) -> None:
    q = stratus.queries()
    try:
        roles = sorted(
            r[0]
            for r in q.con.execute(
                "SELECT DISTINCT role_arn FROM sessions "
                "WHERE via = 'INFERRED' AND role_arn IS NOT NULL"
            ).fetchall()
        )
        issued_ones = q.con.execute(
            "SELECT count(*) FROM sessions WHERE via = 'INFERRED' AND session_id IN "
            "(SELECT session_id FROM role_assumptions WHERE via <> 'INFERRED')"
        ).fetchone()
    finally:
        q.close()
    assert len(roles) == 3
    assert any("stratus-red-team-ec2-steal-credentials-role" in r for r in roles)
    assert issued_ones == (0,), "an issuing event always wins over inference"
    assert not stratus.summary.skipped  # calls with long-term keys are the users' own


def test_the_leaked_instance_key_used_outside_aws_with_its_s3_calls(otrf: Imported) -> None:
    q: Queries = otrf.queries()
    try:
        rows = q.con.execute(
            "SELECT DISTINCT access_key_id FROM actions "
            "WHERE principal_arn LIKE '%MordorNginxStack-BankingWAFRole%' AND source_ip = '1.2.3.4'"
        ).fetchall()
        assert len(rows) == 1
        key = rows[0][0]
        detail = q.session(q.session_for_key(key).session_id)
    finally:
        q.close()
    s = detail.session
    assert s.via == "AWS_SERVICE"
    assert s.origin_arn == "ec2.amazonaws.com"
    assert s.role_arn is not None and "MordorNginxStack-BankingWAFRole" in s.role_arn
    assert s.session_name is not None and s.session_name.startswith("i-")
    assert s.source_ip == "ec2.amazonaws.com"  # issued to the instance ...
    outside = [a for a in detail.actions if a.source_ip == "1.2.3.4"]  # ... used from outside
    assert len(outside) == 11
    assert {a.action for a in outside} == {"s3:ListBuckets", "s3:ListObjects", "s3:GetObject"}
    assert any(r.endswith("/ring.txt") for a in outside for r in a.resources)
    assert otrf.summary.records_read == 103


def test_composed_shapes_become_the_right_sessions(composed: Imported) -> None:
    assert not composed.summary.skipped, composed.summary.skipped
    q = composed.queries()
    try:
        saml = q.session("ASIACOMPOSEDSAML0001").session
        assert saml.via == "SAML"
        assert (
            saml.principal_arn == "arn:aws:iam::111122223333:saml-provider/Okta#alice@acme.example"
        )
        assert saml.session_tags == {"team": "platform", "cost-center": "cc-35"}
        assert saml.transitive_tag_keys == ["team"]
        assert saml.source_identity == "alice"
        assert saml.expires_at.isoformat().startswith("2026-01-05T16:02:11")

        chained = q.trace("ASIACOMPOSEDCHAIN001")
        assert [s.session_id for s in chained.chain] == [
            "ASIACOMPOSEDSAML0001",
            "ASIACOMPOSEDCHAIN001",
        ]
        assert chained.origin_arn == saml.principal_arn
        deploy = chained.chain[-1]
        assert deploy.session_tags == {"ticket": "OPS-42"}
        assert deploy.session_policy is not None and '"s3:*"' in deploy.session_policy
        assert deploy.session_policy_arns == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
        assert deploy.mfa_authenticated is True
        assert deploy.expires_at.isoformat().startswith(
            "2026-01-05T09:30:00"
        )  # "Jan 5, 2026 9:30:00 AM"
        denied = [a for a in q.actions("ASIACOMPOSEDCHAIN001") if a.outcome == "DENIED"]
        assert [(a.action, a.resources) for a in denied] == [
            ("sts:AssumeRole", ["arn:aws:iam::444455556666:role/OrgAdmin"])
        ]

        web = q.session("ASIACOMPOSEDWEBID001").session
        assert web.via == "WEB_IDENTITY"
        assert web.principal_arn == (
            "arn:aws:iam::777788889999:oidc-provider/token.actions.githubusercontent.com"
            "#repo:acme/web:ref:refs/heads/main"
        )
        assert web.session_tags == {"repository": "acme/web"}

        gst = q.trace("ASIACOMPOSEDGST00001")
        assert gst.chain[-1].via == "GET_SESSION_TOKEN"
        assert gst.origin_arn == "arn:aws:iam::444455556666:user/ops-jane"
        assert [a.action for a in q.actions("ASIACOMPOSEDGST00001")] == ["iam:ListRoles"]

        mike = "arn:aws:iam::444455556666:user/ops-mike"
        console = q.con.execute(
            "SELECT via, role_arn, caller_arn, assumed_at, console_exited_at FROM sessions "
            "WHERE caller_arn = ? ORDER BY assumed_at",
            [mike],
        ).fetchall()
        assert [c[0] for c in console] == [
            "CONSOLE_SIGN_IN",
            "CONSOLE_SWITCH_ROLE",
            "CONSOLE_SWITCH_ROLE",
            "CONSOLE_SWITCH_ROLE",
        ]
        assert console[1][1].endswith("role/OrgAdmin")  # shape (b): SwitchTo
        assert console[1][4] is not None and console[1][4].isoformat() == "2026-01-05T09:40:00"
        assert console[2][1].endswith("role/ReadOnly")  # shape (a): SwitchFrom
        assert console[3][1].endswith("role/ReadOnly")  # RenewRole

        revocations = q.con.execute("SELECT role_arn, issued_before FROM revocations").fetchall()
        assert sorted((r[0], r[1].isoformat()) for r in revocations) == [
            ("arn:aws:iam::444455556666:role/Ops", "2026-03-03T10:10:00"),  # findings.jsonl
            ("arn:aws:iam::444455556666:role/WebServer", "2026-01-06T13:30:12.085000"),
        ]
        changes = q.con.execute(
            "SELECT change_type, target_arn, policy_name, group_name FROM policy_changes "
            "ORDER BY event_time"
        ).fetchall()
        assert [c[0] for c in changes] == [
            "PUT_INLINE_POLICY",
            "ATTACH_MANAGED_POLICY",
            "DETACH_MANAGED_POLICY",
            "ADD_USER_TO_GROUP",
            "PUT_INLINE_POLICY",  # findings.jsonl: a revocation, then a CI role made admin
            "ATTACH_MANAGED_POLICY",
        ]
        doc = q.con.execute(
            "SELECT policy_document FROM policy_changes "
            "WHERE policy_name = 'AWSRevokeOlderSessions'"
        ).fetchone()
        assert doc is not None and json.loads(doc[0])["Statement"]["Effect"] == "Deny"
        assert changes[3][1:] == (mike, None, "Admins")
    finally:
        q.close()
