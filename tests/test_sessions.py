"""Sessions as intervals: expiry, exits, revocation, chains, console switch role."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pipeline.events import AssumeVia, Event
from pipeline.queries import Queries
from tests import builders as b

Build = Callable[[Sequence[Event]], Queries]


def test_effective_end_is_the_earliest_of_expiry_exit_revocation(materialized: Build) -> None:
    q = materialized(
        [
            *b.session("ASIAEXPIRES00001", "A", 0, hours=1),
            *b.session("ASIAEXITS0000001", "A", 0, hours=1),
            b.exited(20, session_id="ASIAEXITS0000001"),
            *b.session("ASIAREVOKED00001", "B", 0, hours=1),
            b.revoked("B", 30),
            *b.session("ASIAAFTERREVOKE1", "B", 31, hours=1),
        ]
    )
    ends = {s.session_id: (s.ends_at, s.end_reason) for s in q.who_held(at=b.at(1))}
    assert ends["ASIAEXPIRES00001"] == (b.at(60), "expired")
    assert ends["ASIAEXITS0000001"] == (b.at(20), "exited")
    assert ends["ASIAREVOKED00001"] == (b.at(30), "revoked")
    held_later = {s.session_id for s in q.who_held(at=b.at(40))}
    assert held_later == {"ASIAEXPIRES00001", "ASIAAFTERREVOKE1"}


def test_revocation_arriving_before_sessions_still_applies(materialized: Build) -> None:
    q = materialized([b.revoked("B", 30), *b.session("ASIAREVOKED00001", "B", 0, hours=2)])
    assert q.who_held(at=b.at(29))[0].end_reason == "revoked"
    assert q.who_held(at=b.at(31)) == []


def test_chain_origin_and_trace(materialized: Build) -> None:
    saml = "arn:aws:iam::111122223333:saml-provider/Okta#alice@example.com"
    q = materialized(
        [
            # the child arrives before its parent: the chain still resolves
            *b.session(
                "ASIACHILD0000002",
                "Deploy",
                10,
                caller_key="ASIAPARENT000001",
                caller_arn="arn:aws:sts::111122223333:assumed-role/Engineer/alice",
            ),
            *b.session(
                "ASIAGRANDCHILD03",
                "Audit",
                20,
                caller_key="ASIACHILD0000002",
                caller_arn="arn:aws:sts::111122223333:assumed-role/Deploy/s",
            ),
            *b.session(
                "ASIAPARENT000001", "Engineer", 0, hours=8, via=AssumeVia.SAML, caller_arn=saml
            ),
        ]
    )
    trace = q.trace("ASIAGRANDCHILD03")
    assert trace.origin_arn == saml and trace.origin_resolved
    assert [s.session_id for s in trace.chain] == [
        "ASIAPARENT000001",
        "ASIACHILD0000002",
        "ASIAGRANDCHILD03",
    ]
    held = {s.session_id: s for s in q.who_held(at=b.at(25))}
    assert {s.origin_arn for s in held.values()} == {saml}
    assert held["ASIAGRANDCHILD03"].parent_session_id == "ASIACHILD0000002"
    assert held["ASIAGRANDCHILD03"].depth == 2


def test_unknown_parent_leaves_origin_unresolved(materialized: Build) -> None:
    q = materialized(
        [
            *b.session(
                "ASIAORPHAN000001",
                "Deploy",
                0,
                caller_key="ASIAUNKNOWN00001",
                caller_arn="arn:aws:sts::111122223333:assumed-role/X/y",
            )
        ]
    )
    t = q.trace("ASIAORPHAN000001")
    assert not t.origin_resolved
    assert t.origin_arn == "arn:aws:sts::111122223333:assumed-role/X/y"


def test_console_switch_and_exit_by_lifecycle_key(materialized: Build) -> None:
    user = "arn:aws:iam::111122223333:user/jane"
    key = f"{user}|{b.role('Admin')}"

    def switch(minute: float, access_key: str) -> list[Event]:
        sid = f"{key}@{minute}"
        return [
            b.assumed(
                sid,
                "Admin",
                minute,
                via=AssumeVia.CONSOLE_SWITCH_ROLE,
                caller_arn=user,
                lifecycle_key=key,
            ),
            b.issued(access_key, minute, session_id=sid),
        ]

    q = materialized(
        [
            b.exited(70, lifecycle_key=key),  # the second switch's exit arrives first
            *switch(0, "ASIACONSOLE00001"),
            b.exited(20, lifecycle_key=key),
            *switch(60, "ASIACONSOLE00002"),
        ]
    )
    first = q.who_held(at=b.at(10))
    assert len(first) == 1 and first[0].ends_at == b.at(20) and first[0].end_reason == "exited"
    assert first[0].sets_aside_caller and first[0].origin_arn == user
    assert q.who_held(at=b.at(30)) == []
    second = q.who_held(at=b.at(65))
    assert second[0].ends_at == b.at(70)


def test_principal_filter_matches_caller_or_origin(materialized: Build) -> None:
    saml = "arn:aws:iam::111122223333:saml-provider/Okta#bob@example.com"
    q = materialized(
        [
            *b.session("ASIAPARENT000001", "Engineer", 0, hours=8, caller_arn=saml),
            *b.session("ASIACHILD0000002", "Deploy", 10, caller_key="ASIAPARENT000001"),
            *b.session("ASIAOTHER0000003", "Deploy", 10),
        ]
    )
    assert {s.session_id for s in q.who_held(at=b.at(15), principal_arn=saml)} == {
        "ASIAPARENT000001",
        "ASIACHILD0000002",
    }
    assert [s.session_id for s in q.who_held(at=b.at(15), role_arn=b.role("Deploy"))] == [
        "ASIACHILD0000002",
        "ASIAOTHER0000003",
    ]
