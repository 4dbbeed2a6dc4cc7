"""`import-iam`: an authorization-details snapshot through the real log and materializer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.permissions import IamImportError
from pipeline.permissions.iam_import import read_snapshot, snapshot_events
from pipeline.permissions.in_force import HistoryAt
from pipeline.permissions.reconcile import removals
from pipeline.queries import Queries
from pipeline.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
ACME = FIXTURES / "authorization-details-acme.json"
EDGE = FIXTURES / "authorization-details-edge-cases.json"
AS_OF = datetime(2026, 1, 4, tzinfo=UTC)
LATER = datetime(2026, 1, 5, 12, tzinfo=UTC)
PROD = "444455556666"
EDGE_ACCOUNT = "123456789012"


def imported(tmp_path: Path, *files: Path, times: int = 1) -> tuple[Queries, list[int]]:
    """Import each file `times` times onto one log, materializing after each import."""
    log = FileLog(tmp_path / "log", partitions=4, fsync=False)
    applied = []
    for _ in range(times):
        for f in files:
            log.append(snapshot_events(read_snapshot(f), as_of=AS_OF).events)
            with Store(tmp_path / "db.duckdb") as s:
                applied.append(materialize(log, s).applied)
    log.close()
    return Queries.open(tmp_path / "db.duckdb"), applied


def test_acme_round_trip_into_the_store(tmp_path: Path) -> None:
    q, applied = imported(tmp_path, ACME)
    assert applied == [26]
    deploy = q.policies_in_force(f"arn:aws:iam::{PROD}:role/Deploy", LATER)
    assert [p.name for p in deploy.identity] == ["PowerUserAccess"]
    assert deploy.tags == {"tier": "deploy"}
    assert deploy.trust_policy is not None and "sts:AssumeRole" in deploy.trust_policy
    web = q.policies_in_force(f"arn:aws:iam::{PROD}:role/WebServer", LATER)
    assert [p.name for p in web.identity] == ["ReadAssets"]
    lee = q.policies_in_force(f"arn:aws:iam::{PROD}:user/ops-lee", LATER)
    assert lee.groups == ("Operators",)
    assert sorted(p.label for p in lee.identity) == [
        "AdministratorAccess",
        "Operators/ForceMFA",
        "Operators/ReadOnlyAccess",
    ]
    assert lee.boundary is not None and lee.boundary.version_id == "v2"  # the default version
    # Before the snapshot's time nothing is known.
    assert not q.policies_in_force(
        f"arn:aws:iam::{PROD}:role/Deploy", AS_OF.replace(day=3)
    ).identity


def test_reimport_changes_nothing(tmp_path: Path) -> None:
    q, applied = imported(tmp_path, ACME, EDGE, times=2)
    assert applied[:2] == [26, 12]
    assert applied[2:] == [0, 0]
    assert q.counts()["policy_changes"] == 38


def test_edge_cases_url_encoding_paths_versions_and_unknowns(tmp_path: Path) -> None:
    q, _ = imported(tmp_path, EDGE)
    encoded = q.policies_in_force(f"arn:aws:iam::{EDGE_ACCOUNT}:role/service-role/Encoded", LATER)
    by_name = {p.name: p for p in encoded.identity}
    assert (
        json.loads(by_name["WriteEdge"].document or "")["Statement"][0]["Action"] == "s3:PutObject"
    )
    assert by_name["Versioned"].version_id == "v2"  # IsDefaultVersion, not the newest v3
    assert "sns:Publish" in (by_name["Versioned"].document or "")
    assert by_name["Vanished"].origin == "unknown"
    assert encoded.boundary is not None and encoded.boundary.origin == "catalogue"
    assert encoded.tags == {"empty": ""}
    pathed = q.policies_in_force(f"arn:aws:iam::{EDGE_ACCOUNT}:user/pathed", LATER)
    assert [p.label for p in pathed.identity] == ["Builders/BuildWrite"]  # group at /eng/
    assert q.policies_in_force(f"arn:aws:iam::{EDGE_ACCOUNT}:user/loner", LATER).recorded is False


def test_snapshot_event_ids_depend_on_content_and_time() -> None:
    data = read_snapshot(ACME)
    a = [e.event_id for e in snapshot_events(data, as_of=AS_OF).events]
    b = [e.event_id for e in snapshot_events(data, as_of=AS_OF).events]
    c = [e.event_id for e in snapshot_events(data, as_of=LATER).events]
    assert a == b and len(set(a)) == len(a)
    assert not set(a) & set(c)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not the output of `aws iam get-account-authorization-details`"),
        ('{"RoleDetailList": {}}', "RoleDetailList: expected a list"),
        ('{"RoleDetailList": [{"RoleName": "x"}]}', "RoleDetailList[0]: missing 'Arn'"),
        (
            '{"RoleDetailList": [{"Arn": "arn:aws:iam::444455556666:role/x", '
            '"RolePolicyList": [{"PolicyName": "p", "PolicyDocument": "%7Bnope"}]}]}',
            "RoleDetailList[0].RolePolicyList[0].PolicyDocument: not a JSON policy document",
        ),
        (
            '{"RoleDetailList": [{"Arn": "arn:aws:iam::444455556666:role/x", '
            '"RolePolicyList": [{"PolicyName": "p", "PolicyDocument": {"Statement": '
            '[{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}}]}]}',
            "RolePolicyList[0].PolicyDocument",
        ),
        (
            '{"UserDetailList": [{"Arn": "arn:aws:iam::444455556666:user/u", "GroupList": [3]}]}',
            "GroupList[0]: a group name must be a string",
        ),
        (
            '{"Policies": [{"Arn": "arn:aws:iam::aws:policy/X", "PolicyVersionList": '
            '[{"VersionId": "v1", "Document": {"Statement": []}}]}]}',
            "no account id",
        ),
    ],
)
def test_malformed_files_give_one_clean_error(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(IamImportError, match=None) as err:
        snapshot_events(read_snapshot(f), as_of=AS_OF)
    assert message in str(err.value)


def test_later_snapshot_with_db_closes_what_it_no_longer_lists(tmp_path: Path) -> None:
    q, _ = imported(tmp_path, ACME)
    later = json.loads(ACME.read_text())
    deploy = next(r for r in later["RoleDetailList"] if r["RoleName"] == "Deploy")
    deploy["AttachedManagedPolicies"] = []  # PowerUserAccess detached
    deploy["Tags"] = []
    jane = next(u for u in later["UserDetailList"] if u["UserName"] == "ops-jane")
    jane["GroupList"], jane["UserPolicyList"] = [], []
    del later["Policies"]  # a missing section closes nothing: managed versions stay
    second = datetime(2026, 2, 1, tzinfo=UTC)
    snapshot = snapshot_events(later, as_of=second)
    closed = removals(snapshot, HistoryAt(q.con, second))
    q.close()
    assert sorted((e.target_arn.rsplit("/", 1)[-1], e.change_type.value) for e in closed) == [
        ("Deploy", "DETACH_MANAGED_POLICY"),
        ("Deploy", "OTHER"),
        ("ops-jane", "DELETE_INLINE_POLICY"),
        ("ops-jane", "REMOVE_USER_FROM_GROUP"),
    ]
    log = FileLog(tmp_path / "log", partitions=4, fsync=False)
    log.append([*snapshot.events, *closed])
    with Store(tmp_path / "db.duckdb") as s:
        materialize(log, s)
    log.close()
    q = Queries.open(tmp_path / "db.duckdb")
    role_arn = f"arn:aws:iam::{PROD}:role/Deploy"
    assert [p.name for p in q.policies_in_force(role_arn, LATER).identity] == ["PowerUserAccess"]
    after = q.policies_in_force(role_arn, second)
    assert after.identity == () and after.tags == {}
    jane_after = q.policies_in_force(f"arn:aws:iam::{PROD}:user/ops-jane", second)
    assert jane_after.identity == () and jane_after.groups == ()
    # Reconciling the same snapshot again finds nothing left to close.
    assert removals(snapshot, HistoryAt(q.con, second)) == []
