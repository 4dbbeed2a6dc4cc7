"""Findings on the real samples (issue 13): each expected finding once, with its session,
origin and evidence ids, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.findings import Finding
from tests.cloudtrail_helpers import OTRF, STRATUS, Imported, import_and_materialize
from tests.findings.helpers import all_findings, ct_ids, of_rule, records

PASSWORD_DATA = STRATUS / "aws.credential-access.ec2-get-password-data.json"
STEAL = STRATUS / "aws.credential-access.ec2-steal-instance-credentials.json"
NO_MFA = STRATUS / "aws.initial-access.console-login-without-mfa.json"
OTRF_FILE = OTRF / "ec2_proxy_s3_exfiltration_2020-09-14011940.json"


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    return import_and_materialize(tmp_path_factory.mktemp("real"), OTRF, STRATUS)


@pytest.fixture(scope="module")
def found(real: Imported) -> list[Finding]:
    return all_findings(real.db_path)


def test_get_password_data_is_one_denied_burst_of_christophes_session(
    found: list[Finding],
) -> None:
    bursts = of_rule(found, "denied-burst")
    assert len(bursts) == 1
    f = bursts[0]
    refused = [r for r in records(PASSWORD_DATA) if r["eventName"] == "GetPasswordData"]
    assert len(refused) == 30 and all(r.get("errorCode") for r in refused)
    assert f.session_id == refused[0]["userIdentity"]["accessKeyId"] == "ASIANQQHHS551LWULIWD"
    assert f.origin_arn == "arn:aws:iam::457448411975:user/christophe"
    assert f.origin_label == "arn:aws:iam::457448411975:user/christophe"
    assert set(f.evidence) == ct_ids(refused) and f.evidence_count == 30
    assert f.severity == "medium" and f.account_id == "457448411975"
    assert f.first_at < f.last_at
    assert "30 denied calls" in f.summary and "ec2:GetPasswordData" in f.summary


def _instance_findings(found: list[Finding], session_id: str) -> list[Finding]:
    return [
        f for f in of_rule(found, "instance-credentials-elsewhere") if f.session_id == session_id
    ]


def test_stolen_instance_credentials_are_found(found: list[Finding]) -> None:
    used = [
        r for r in records(STEAL) if r["userIdentity"].get("accessKeyId") == "ASIAP5CT9NN8EYVU1FXV"
    ]
    assert len(used) == 2
    (f,) = _instance_findings(found, "ASIAP5CT9NN8EYVU1FXV")
    assert set(f.evidence) == ct_ids(used)
    assert f.severity == "high"
    assert f.origin_arn == "ec2.amazonaws.com"
    assert f.origin_label == "EC2 instance i-786a3A8B5C0d92eF4 (instance profile)"
    assert "18.236.253.47" in f.summary


def test_otrf_banking_waf_instance_key_from_a_mac_is_found(found: list[Finding]) -> None:
    used = [
        r
        for r in records(OTRF_FILE)
        if r["userIdentity"].get("accessKeyId") == "ASIA5FLZVX4OPVKKVBMX"
    ]
    assert len(used) == 11
    assert all(r["sourceIPAddress"] == "1.2.3.4" and "Darwin" in r["userAgent"] for r in used)
    (f,) = _instance_findings(found, "ASIA5FLZVX4OPVKKVBMX")
    assert set(f.evidence) == ct_ids(used)
    assert f.origin_label == "EC2 instance i-0317f6c6b66ae9c40 (instance profile)"
    assert "BankingWAFRole" in (f.principal_arn or "")


def test_console_sign_in_without_mfa_is_found(found: list[Finding]) -> None:
    sign_ins = [r for r in records(NO_MFA) if r["eventName"] == "ConsoleLogin"]
    (f,) = of_rule(found, "console-without-mfa")
    assert set(f.evidence) == ct_ids(sign_ins)
    assert f.principal_arn == sign_ins[0]["userIdentity"]["arn"]


def test_the_real_samples_raise_nothing_else(found: list[Finding]) -> None:
    assert sorted((f.rule, f.session_id) for f in found) == sorted(
        [
            ("console-without-mfa", of_rule(found, "console-without-mfa")[0].session_id),
            ("denied-burst", "ASIANQQHHS551LWULIWD"),
            ("instance-credentials-elsewhere", "ASIA5FLZVX4OPVKKVBMX"),
            ("instance-credentials-elsewhere", "ASIAP5CT9NN8EYVU1FXV"),
        ]
    )
    assert len({f.finding_id for f in found}) == len(found)


def test_a_session_lists_its_findings(real: Imported) -> None:
    with real.queries() as q:
        (f,) = q.findings_of_session("ASIANQQHHS551LWULIWD")
        assert f.rule == "denied-burst"
        assert q.findings_of_session("no-such-session") == []


def test_unknown_rule_is_a_clear_error(real: Imported, tmp_path: Path) -> None:
    from pipeline.errors import InputError
    from pipeline.findings import FindingFilter

    with real.queries() as q, pytest.raises(InputError, match="unknown rule 'nope'"):
        q.findings(FindingFilter(rule="nope"))
