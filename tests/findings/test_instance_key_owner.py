"""instance-credentials-elsewhere counts a sibling session's calls only with keys that
session owns (`key_owner`): a key two sessions claim belongs to the least session id, and
its calls are that session's, not the instance's. Composed events (tests.builders)."""

from __future__ import annotations

from pathlib import Path

from pipeline.events import AccessRecorded, Event, RoleAssumed
from pipeline.findings import Finding
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.store import Store
from tests import builders as b
from tests.findings.helpers import all_findings, of_rule

RULE = "instance-credentials-elsewhere"
INSTANCE = "i-0abc1234567890def"
FIRST = "ASIAINSTANCEFIRST001"  # the instance session whose calls are judged
SIBLING = "ASIAINSTANCESECOND02"  # the same instance's other session, another network
OTHER = "ASIAAAAOTHERSESSION1"  # a session that also claims the sibling's key (least id)


def _instance_session(key: str) -> list[Event]:
    assumed = b.assumed(key, "WebServer", 0, caller_arn="ec2.amazonaws.com")
    assert isinstance(assumed, RoleAssumed)
    return [assumed.model_copy(update={"session_name": INSTANCE}), b.issued(key, 0, hours=6)]


def _call(key: str, minute: float, ip: str) -> AccessRecorded:
    return b.call(key, minute).model_copy(update={"source_ip": ip})


def _case(*, claimed: bool) -> list[Event]:
    events: list[Event] = [
        *_instance_session(FIRST),
        *_instance_session(SIBLING),
        _call(FIRST, 10, "203.0.113.5"),
        _call(FIRST, 11, "203.0.113.5"),
        # the sibling's key, at the same time, from another network
        _call(SIBLING, 10.5, "198.51.100.7"),
        _call(SIBLING, 12, "198.51.100.7"),
    ]
    if claimed:
        events += [b.assumed(OTHER, "Deployer", 0), b.issued(SIBLING, 0, session_id=OTHER)]
    return events


def _found(tmp_path: Path, events: list[Event]) -> tuple[list[Finding], str]:
    """The rule's findings, and the session `key_owner` gives the sibling's key to."""
    log = FileLog(tmp_path / "log", fsync=False)
    log.append(events)
    with Store(tmp_path / "db.duckdb") as store:
        materialize(log, store)
        owner = store.con.execute(
            "SELECT session_id FROM key_owner WHERE access_key_id = ?", [SIBLING]
        ).fetchone()
    log.close()
    assert owner is not None
    return of_rule(all_findings(tmp_path / "db.duckdb"), RULE), str(owner[0])


def test_a_sibling_on_another_network_makes_the_first_session_strange(tmp_path: Path) -> None:
    found, owner = _found(tmp_path, _case(claimed=False))
    assert owner == SIBLING
    assert FIRST in {f.session_id for f in found}
    (first,) = [f for f in found if f.session_id == FIRST]
    assert "a network the instance's other sessions never called from" in first.summary


def test_calls_with_a_key_another_session_owns_are_not_the_siblings(tmp_path: Path) -> None:
    # The same calls, but the sibling's key is also claimed by a session whose id sorts
    # first: `key_owner` gives the key to it, so the instance's other session made none.
    found, owner = _found(tmp_path, _case(claimed=True))
    assert owner == OTHER
    assert FIRST not in {f.session_id for f in found}
