"""The rules the real samples lack, on composed records (fixtures/cloudtrail/composed,
marked as composed there): role enumeration, a key on two networks, use after a
revocation and after a console exit, root used, a CI role able to administer IAM."""

from __future__ import annotations

import pytest

from pipeline.findings import Finding
from tests.cloudtrail_helpers import COMPOSED, Imported, import_and_materialize
from tests.findings.helpers import all_findings, ct_ids, of_rule, records

FINDINGS = COMPOSED / "findings.jsonl"
CONSOLE_KEYS = COMPOSED / "console_keys.jsonl"


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory) -> list[Finding]:
    imported: Imported = import_and_materialize(tmp_path_factory.mktemp("composed"), COMPOSED)
    return all_findings(imported.db_path)


def _where(**fields: str) -> set[str]:
    recs = records(FINDINGS)
    return ct_ids(
        [
            r
            for r in recs
            if all(
                (r.get(k) if k != "key" else r["userIdentity"].get("accessKeyId")) == v
                for k, v in fields.items()
            )
        ]
    )


def test_role_enumeration(found: list[Finding]) -> None:
    (f,) = of_rule(found, "role-enumeration")
    assert f.session_id is None  # about a principal
    assert f.principal_arn == f.origin_arn == "arn:aws:iam::444455556666:user/intruder"
    assert set(f.evidence) == _where(eventName="AssumeRole", errorCode="AccessDenied")
    assert "4 roles" in f.summary


def test_a_temporary_key_on_two_networks(found: list[Finding]) -> None:
    (f,) = of_rule(found, "key-many-networks")
    assert f.session_id == "ASIACOMPOSEDOPS00001"
    assert f.origin_arn == "arn:aws:iam::444455556666:user/dev"
    # the calls within ten minutes of each other, from 198.51.100.0/24 and 203.0.113.0/24
    calls = _where(key="ASIACOMPOSEDOPS00001")
    assert set(f.evidence) <= calls and len(f.evidence) == 3
    assert "198.51.100.0/24" in f.summary and "203.0.113.0/24" in f.summary


def test_use_after_revocation_is_high_when_a_call_succeeded(found: list[Finding]) -> None:
    after = [f for f in of_rule(found, "used-after-end") if f.session_id == "ASIACOMPOSEDOPS00001"]
    (f,) = after
    assert f.severity == "high"  # one call allowed 30 s after (propagation), one refused
    assert set(f.evidence) == _where(eventName="DescribeInstances")
    assert "revoked at 2026-03-03T10:10:00Z" in f.summary and "1 allowed, 1 denied" in f.summary


def test_use_after_a_console_exit(found: list[Finding]) -> None:
    recs = records(CONSOLE_KEYS)
    exited = [f for f in of_rule(found, "used-after-end") if f.session_id != "ASIACOMPOSEDOPS00001"]
    (f,) = exited
    assert "exited" in f.summary
    assert set(f.evidence) <= ct_ids(recs)


def test_root_used(found: list[Finding]) -> None:
    roots = of_rule(found, "root-used")
    assert roots and all(f.severity == "high" for f in roots)
    sign_ins = ct_ids(
        [
            r
            for r in records(CONSOLE_KEYS)
            if r["eventName"] == "ConsoleLogin" and r["userIdentity"]["type"] == "Root"
        ]
    )
    evidence = {e for f in roots for e in f.evidence}
    assert sign_ins <= evidence
    assert all(f.origin_arn == "arn:aws:iam::111122223333:root" for f in roots)


def test_ci_role_able_to_administer_iam(found: list[Finding]) -> None:
    (f,) = of_rule(found, "machine-iam-admin")
    assert f.session_id == "ASIACOMPOSEDCIREL001"
    assert set(f.evidence) == _where(
        eventName="AssumeRoleWithWebIdentity", sourceIPAddress="4.148.0.17"
    ) & ct_ids([r for r in records(FINDINGS) if "CIRelease" in str(r.get("requestParameters"))])
    assert f.origin_arn is not None and "repo:acme/release" in f.origin_arn
    # the other CI role (web_identity.json) has no recorded policies: not a finding
    assert "iam:PassRole" in f.summary


def test_a_root_sign_in_with_mfa_is_not_console_without_mfa(found: list[Finding]) -> None:
    roots = {f.session_id for f in of_rule(found, "root-used")}
    assert roots
    assert not [f for f in of_rule(found, "console-without-mfa") if f.session_id in roots]
