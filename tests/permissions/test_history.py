"""The policy history as intervals of validity, read at a moment."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pipeline.events import Event
from pipeline.permissions import intervals
from pipeline.queries import Queries
from tests.permissions.policy_events import (
    allow,
    at,
    attach,
    boundary,
    delete_inline,
    detach,
    group,
    managed,
    membership,
    put_inline,
    role,
    set_default,
    user,
    version,
)

Build = Callable[[Sequence[Event]], Queries]
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
APP = role("App")


def names(q: Queries, arn: str, minute: float) -> list[str]:
    return sorted(p.label for p in q.policies_in_force(arn, at(minute)).identity)


def test_attach_and_detach_bound_an_interval(materialized: Build) -> None:
    q = materialized([attach(APP, ADMIN, 10), detach(APP, ADMIN, 20), attach(APP, ADMIN, 30)])
    assert names(q, APP, 5) == []
    assert names(q, APP, 10) == ["AdministratorAccess"]  # in force from the attach on
    assert names(q, APP, 19.9) == ["AdministratorAccess"]
    assert names(q, APP, 20) == []  # not at the detach instant
    assert names(q, APP, 31) == ["AdministratorAccess"]
    spans = [(i.valid_from, i.valid_until) for i in intervals(q.con, APP) if i.kind == "managed"]
    assert spans == [(at(10), at(20)), (at(30), None)]


def test_inline_put_replace_and_delete(materialized: Build) -> None:
    q = materialized(
        [
            put_inline(APP, "Reads", allow("s3:GetObject"), 0),
            put_inline(APP, "Reads", allow("s3:ListBucket"), 10),
            delete_inline(APP, "Reads", 20),
        ]
    )
    doc_at = lambda m: [p.document for p in q.policies_in_force(APP, at(m)).identity]  # noqa: E731
    assert "s3:GetObject" in doc_at(5)[0]
    assert "s3:ListBucket" in doc_at(15)[0]
    assert doc_at(25) == []


def test_managed_policy_resolves_to_the_default_version_in_force(materialized: Build) -> None:
    pol = managed("Team")
    q = materialized(
        [
            attach(APP, pol, 0),
            version(pol, "v1", allow("sqs:SendMessage"), 0, default=True),
            version(pol, "v2", allow("sns:Publish"), 10, default=False),  # created, not default
            set_default(pol, "v2", 20),
            set_default(pol, "v1", 30),
        ]
    )

    def in_force(minute: float) -> tuple[str | None, str | None]:
        (p,) = q.policies_in_force(APP, at(minute)).identity
        return p.version_id, p.document

    assert in_force(15) == ("v1", allow("sqs:SendMessage"))
    assert in_force(25) == ("v2", allow("sns:Publish"))
    assert in_force(35)[0] == "v1"


def test_unknown_managed_document_is_reported_not_guessed(materialized: Build) -> None:
    q = materialized([attach(APP, managed("Nowhere"), 0), attach(APP, ADMIN, 0)])
    p = q.policies_in_force(APP, at(1))
    by_name = {x.name: x for x in p.identity}
    assert by_name["Nowhere"].origin == "unknown" and not by_name["Nowhere"].known
    assert by_name["AdministratorAccess"].origin == "catalogue"
    assert [x.name for x in p.unknown] == ["Nowhere"]


def test_boundary_set_and_removed(materialized: Build) -> None:
    bound = managed("Bound")
    q = materialized(
        [
            version(bound, "v1", allow("s3:*"), 0, default=True),
            boundary(APP, bound, 10),
            boundary(APP, None, 20),
        ]
    )
    assert q.policies_in_force(APP, at(5)).boundary is None
    b = q.policies_in_force(APP, at(15)).boundary
    assert b is not None and b.name == "Bound" and b.known
    assert q.policies_in_force(APP, at(25)).boundary is None


def test_group_membership_over_time_brings_group_policies(materialized: Build) -> None:
    jane = user("jane")
    q = materialized(
        [
            put_inline(group("Ops"), "OpsReads", allow("ec2:Describe*"), 0),
            attach(group("Ops"), "arn:aws:iam::aws:policy/ReadOnlyAccess", 0),
            put_inline(jane, "Own", allow("s3:GetObject"), 0),
            membership(jane, "Ops", 10),
            membership(jane, "Ops", 20, add=False),
        ]
    )
    assert names(q, jane, 5) == ["Own"]
    during = q.policies_in_force(jane, at(15))
    assert during.groups == ("Ops",)
    assert sorted(p.label for p in during.identity) == ["Ops/OpsReads", "Ops/ReadOnlyAccess", "Own"]
    assert names(q, jane, 25) == ["Own"]


def test_role_named_without_its_path_finds_its_history(materialized: Build) -> None:
    pathed = role("ops/Deploy")
    q = materialized([attach(pathed, ADMIN, 0)])
    assert names(q, role("Deploy"), 1) == ["AdministratorAccess"]
    assert not q.policies_in_force(role("Other"), at(1)).recorded


def test_one_targets_change_leaves_anothers_item_alone(materialized: Build) -> None:
    other = role("Other")
    q = materialized([attach(APP, ADMIN, 0), attach(other, ADMIN, 0), detach(other, ADMIN, 10)])
    assert names(q, APP, 20) == ["AdministratorAccess"]
    assert names(q, other, 20) == []
