"""Sessions true to the record (issue 12), on the real samples and on composed records.

The composed records (`fixtures/cloudtrail/composed/console_keys.jsonl`, made by hand
from AWS's documentation, see that folder's README) carry the shapes the real samples
lack: root console keys, keys without `sessionContext`, a switch-role with its console
keys and an exit, a role with a path, a long-term key.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.errors import InputError, NotFoundError
from pipeline.events import CredentialIssued, Event, RoleAssumed, SessionsRevoked
from pipeline.queries import LongTermKeyTrace, Queries, SessionView, Trace
from pipeline.simulator import SimulationConfig, simulate
from pipeline.simulator.cloudtrail import write_cloudtrail
from tests.cloudtrail_helpers import COMPOSED, OTRF, STRATUS, Imported, import_and_materialize

CONSOLE_KEYS = COMPOSED / "console_keys.jsonl"
ROOT = "arn:aws:iam::111122223333:root"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    return import_and_materialize(tmp_path_factory.mktemp("real"), OTRF, STRATUS)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    return import_and_materialize(tmp_path_factory.mktemp("console"), CONSOLE_KEYS)


def _trace(q: Queries, key: str) -> Trace:
    trace = q.trace(key)
    assert isinstance(trace, Trace)
    return trace


def _holding(sessions: list[SessionView], key: str) -> list[SessionView]:
    return [s for s in sessions if key in s.access_key_ids]


# -- 1. sessions never end before their last recorded use ------------------------------


def test_pedro_console_key_is_held_while_it_is_used(real: Imported) -> None:
    """OTRF: the key made 87 calls 7.5 h after its creationDate; it was held then."""
    with real.queries() as q:
        held = _holding(q.who_held(at=at("2020-09-14T00:45:00Z")), "ASIA5FLZVX4OI4ZDQJOL")
        assert len(held) == 1
        s = held[0]
        assert s.principal_arn == "arn:aws:iam::123456789123:user/pedro"
        assert s.origin_resolved and s.origin_arn == s.principal_arn
        assert s.started_at == at("2020-09-13T17:16:47Z") and not s.started_at_estimated
        assert s.ends_at_estimated and s.ends_at >= at("2020-09-14T00:57:00Z")
        assert "console sign-in" in s.ends_at_basis and s.ends_at_basis.startswith("estimated")
        assert s.last_used_at is not None and s.last_used_at >= at("2020-09-14T00:57:00Z")


def _records(*paths: Path) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for path in paths:
        for file in sorted(path.rglob("*.json*")) if path.is_dir() else [path]:
            text = file.read_text()
            try:
                data = json.loads(text)
                out += data["Records"] if isinstance(data, dict) else data
            except json.JSONDecodeError:
                out += [json.loads(line) for line in text.splitlines() if line.strip()]
    return out


@pytest.mark.parametrize("sample", ["real", "console"])
def test_every_key_used_successfully_is_held_at_that_moment(
    sample: str, request: pytest.FixtureRequest
) -> None:
    """The invariant, over every record: a key used successfully at T is held at T."""
    imported: Imported = request.getfixturevalue(sample)
    paths = (OTRF, STRATUS) if sample == "real" else (CONSOLE_KEYS,)
    uses = []
    for r in _records(*paths):
        identity = r.get("userIdentity") or {}
        assert isinstance(identity, dict)
        key = identity.get("accessKeyId")
        if isinstance(key, str) and key.startswith("ASIA") and not r.get("errorCode"):
            uses.append((key, at(str(r.get("eventTime") or r["@timestamp"]))))
    assert len(uses) > (100 if sample == "real" else 8)
    with imported.queries() as q:
        for key, when in uses:
            trace = _trace(q, key)
            s = trace.chain[-1]
            assert s.started_at <= when < s.ends_at, (key, when, s.started_at, s.ends_at)
            assert _holding(q.who_held(at=when), key), (key, when)


# -- 2. every key gets a session; console keys join their sign-in or switch ------------


def test_root_console_keys_join_the_root_sign_in(console: Imported) -> None:
    with console.queries() as q:
        s = _trace(q, "ASIACOMPOSEDROOT0001").chain[-1]
        assert s.via == "CONSOLE_SIGN_IN" and s.principal_arn == ROOT
        assert s.started_at == at("2026-02-01T08:00:00Z")
        # used six hours after sign-in: held then, by the same session
        assert _holding(q.who_held(at=at("2026-02-01T14:00:00Z")), "ASIACOMPOSEDROOT0001")
        assert s.mfa_authenticated is True


def test_keys_without_session_context_get_a_session(console: Imported) -> None:
    with console.queries() as q:
        root = _trace(q, "ASIACOMPOSEDROOT0002").chain[-1]
        assert root.principal_arn == ROOT and root.origin_arn == ROOT
        kate = _trace(q, "ASIACOMPOSEDNOCTX001").chain[-1]
        assert kate.principal_arn == "arn:aws:iam::111122223333:user/ops-kate"
        # the earliest call is the start, whatever order the records came in
        assert kate.started_at == at("2026-02-01T10:00:00Z")
        assert kate.started_at_estimated and "first recorded use" in kate.started_at_basis
        assert kate.ends_at_estimated


def test_a_switch_role_and_its_console_keys_are_one_session(console: Imported) -> None:
    with console.queries() as q:
        admin = "arn:aws:iam::111122223333:role/Admin"
        held = q.who_held(at=at("2026-02-01T09:20:00Z"), role_arn=admin)
        assert len(held) == 1, [s.session_id for s in held]
        s = held[0]
        assert s.via == "CONSOLE_SWITCH_ROLE"
        assert s.principal_arn == "arn:aws:iam::444455556666:user/ops-lena"
        assert s.access_key_ids == ["ASIACOMPOSEDSWITCH01", "ASIACOMPOSEDSWITCH02"]
        assert _trace(q, "ASIACOMPOSEDSWITCH01").session_id == s.session_id
        count = q.con.execute(
            "SELECT count(*) FROM sessions WHERE role_arn = ?", [admin]
        ).fetchone()
        assert count == (1,)  # no inferred twin


# -- 5. calls outside their session's lifetime are marked ------------------------------


def test_a_call_after_the_exit_is_marked_and_the_session_still_held(console: Imported) -> None:
    with console.queries() as q:
        detail = q.session("ASIACOMPOSEDSWITCH02")
        s = detail.session
        assert s.end_reason == "exited" and s.exited_at == at("2026-02-01T09:40:00Z")
        assert s.ends_at > at("2026-02-01T09:50:00Z") and s.ends_at_estimated
        assert "after its recorded exit" in s.ends_at_basis
        marks = {a.event_time.isoformat(): a.lifetime for a in detail.actions}
        assert marks["2026-02-01T09:30:00+00:00"] == "within"
        assert marks["2026-02-01T09:50:00+00:00"] == "after exit"


# -- 3. origins say what they are -------------------------------------------------------


def test_stolen_instance_credentials_keep_their_instance(real: Imported) -> None:
    with real.queries() as q:
        trace = _trace(q, "ASIAP5CT9NN8EYVU1FXV")
        assert trace.origin_resolved
        assert trace.origin_label == "EC2 instance i-786a3A8B5C0d92eF4 (instance profile)"
        assert "instance-profile" in trace.chain[-1].ends_at_basis


def test_an_unknown_origin_is_said_to_be_unknown(real: Imported) -> None:
    with real.queries() as q:
        unknown = [
            s
            for s in q.who_held(at=at("2024-08-02T09:00:00Z"))
            + q.who_held(at=at("2021-01-01T00:00:00Z"))
            if s.origin_arn is None
        ]
        rows = q.con.execute("SELECT session_id FROM sessions").fetchall()
        every = [q.session(r[0]).session for r in rows]
        for s in every + unknown:
            if s.origin_arn is None:
                assert not s.origin_resolved
                assert s.origin_label.startswith("unknown"), s.origin_label
            assert s.origin_label and "None" not in s.origin_label
            assert s.principal_label and "None" not in s.principal_label
            assert s.ends_at_basis.startswith(("estimated", "recorded"))
        assert any(s.origin_arn is None for s in every)


# -- 6. lookups that meet users where they are ------------------------------------------


def test_key_ids_are_trimmed_and_upper_cased(real: Imported) -> None:
    with real.queries() as q:
        assert _trace(q, " asia5flzvx4oi4zdqjol ").access_key_id == "ASIA5FLZVX4OI4ZDQJOL"
        with pytest.raises(InputError, match="malformed access key id"):
            q.trace("ASIA-not a key")


def test_roles_by_arn_with_or_without_path_or_by_name(console: Imported) -> None:
    with console.queries() as q:
        moment = at("2026-02-01T12:30:00Z")
        for role in (
            "arn:aws:iam::111122223333:role/ops/Deployer",
            "arn:aws:iam::111122223333:role/Deployer",
            "Deployer",
            "deployer",
        ):
            held = q.who_held(at=moment, role_arn=role)
            assert [s.access_key_ids for s in held] == [["ASIACOMPOSEDPATH0001"]], role


def test_unknown_or_malformed_accounts_and_roles_are_said(console: Imported) -> None:
    with console.queries() as q:
        moment = at("2026-02-01T12:30:00Z")
        with pytest.raises(InputError, match="12 digits"):
            q.who_held(at=moment, account_id="4444")
        with pytest.raises(NotFoundError, match="account '999988887777'"):
            q.who_held(at=moment, account_id="999988887777")
        with pytest.raises(NotFoundError, match="role 'NoSuchRole'"):
            q.who_held(at=moment, role_arn="NoSuchRole")


def test_a_long_term_key_traces_to_its_user_sessions_and_calls(console: Imported) -> None:
    with console.queries() as q:
        trace = q.trace("akiacomposeduser0001")
        assert isinstance(trace, LongTermKeyTrace)
        assert trace.principal_arn == "arn:aws:iam::111122223333:user/ops-omar"
        assert [s.access_key_ids for s in trace.sessions] == [["ASIACOMPOSEDPATH0001"]]
        assert [(a.action, a.outcome) for a in trace.actions] == [
            ("sts:AssumeRole", "DENIED"),  # the failed AssumeRole keeps its calling key
            ("iam:ListUsers", "ALLOWED"),
        ]
        deployer = _trace(q, "ASIACOMPOSEDPATH0001")
        assert deployer.origin_arn == trace.principal_arn and deployer.origin_resolved


# -- the demo: the simulator's truth against what rolecall rebuilds from its CloudTrail ----


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Event], Imported]:
    base = tmp_path_factory.mktemp("demo")
    config = SimulationConfig(start=at("2026-01-05T00:00:00Z"), days=3, seed=7)
    events = list(simulate(config))
    write_cloudtrail(iter(events), base / "trail")
    return events, import_and_materialize(base / "imported", base / "trail")


def _humans_behind(events: list[Event], role_arn: str) -> set[str]:
    """The origins of every session of `role_arn`, walked up the simulated chains."""
    assumed = {e.session_id: e for e in events if isinstance(e, RoleAssumed)}
    session_of_key = {
        e.access_key_id: e.session_id for e in events if isinstance(e, CredentialIssued)
    }
    out = set()
    for a in assumed.values():
        if a.role_arn != role_arn:
            continue
        while a.caller_access_key_id in session_of_key:
            a = assumed[session_of_key[a.caller_access_key_id]]
        assert a.caller_arn is not None
        out.add(a.caller_arn)
    return out


def test_demo_org_admin_is_held_by_its_humans_once_each(
    demo: tuple[list[Event], Imported],
) -> None:
    events, imported = demo
    org_admin = "arn:aws:iam::444455556666:role/OrgAdmin"
    humans = _humans_behind(events, org_admin)
    switched = sum(
        1
        for e in events
        if isinstance(e, RoleAssumed) and e.role_arn == org_admin and e.lifecycle_key
    )
    assert len(humans) >= 3 and switched >= 1
    with imported.queries() as q:
        holders = q.holders(org_admin)
        assert {h["origin_arn"] for h in holders} == humans
        sessions = q.con.execute(
            "SELECT via, count(*) FROM sessions WHERE role_arn = ? GROUP BY via", [org_admin]
        ).fetchall()
        assert "INFERRED" not in dict(sessions)  # no twin of a console switch
        assert dict(sessions).get("CONSOLE_SWITCH_ROLE") == switched


def test_demo_revoked_sessions_are_denied_after_their_revocation(
    demo: tuple[list[Event], Imported],
) -> None:
    events, imported = demo
    revocations = [e for e in events if isinstance(e, SessionsRevoked)]
    assert revocations
    with imported.queries() as q:
        revoked = [
            s
            for r in revocations
            for s in q.who_held(at=r.event_time - timedelta(seconds=1), role_arn=r.role_arn)
            if s.started_at < r.issued_before
        ]
        assert revoked
        after = [
            a
            for s in revoked
            for a in q.actions(s.session_id)
            if a.event_time >= min(r.event_time for r in revocations)
        ]
        assert after, "the simulation should show calls after the revocation"
        assert all(a.outcome == "DENIED" for a in after), after
        assert all(a.lifetime == "after revocation" for a in after)


# -- the words every command prints -----------------------------------------------------


def _sessions_in(doc: object) -> list[dict[str, object]]:
    """Every session object inside a JSON document."""
    if isinstance(doc, dict):
        found = [doc] if "ends_at_basis" in doc else []
        return found + [s for v in doc.values() for s in _sessions_in(v)]
    if isinstance(doc, list):
        return [s for v in doc for s in _sessions_in(v)]
    return []


def test_no_command_prints_an_unknown_as_a_fact(real: Imported) -> None:
    db = ["--db", str(real.db_path)]
    runs = [
        ["who-held", "--at", "2020-09-14T00:45:00Z"],
        ["who-held", "--at", "2024-08-02T09:00:00Z"],
        ["trace", "ASIAP5CT9NN8EYVU1FXV"],
        ["session", "ASIA5FLZVX4OI4ZDQJOL"],
        ["replay", "--from", "2024-08-01T00:00:00Z", "--to", "2024-08-03T00:00:00Z"],
    ]
    with real.queries() as q:
        inferred = q.con.execute(
            "SELECT min(access_key_ids[1]) FROM sessions WHERE via = 'INFERRED' "
            "AND caller_arn IS NULL"
        ).fetchone()
    assert inferred is not None and inferred[0]
    runs.append(["trace", inferred[0]])
    documents = []
    for args in runs:
        text = CliRunner().invoke(main, [*args, *db])
        assert text.exit_code == 0, (args, text.output)
        assert "None" not in text.output and "(?)" not in text.output, args
        assert " - " not in text.output.replace("->", ""), args
        as_json = CliRunner().invoke(main, [*args, *db, "--json"])
        assert as_json.exit_code == 0, (args, as_json.output)
        documents.append(json.loads(as_json.output))
    sessions = [s for d in documents for s in _sessions_in(d)]
    assert len(sessions) > 5
    for s in sessions:
        assert s["origin_label"] and s["principal_label"] and s["ends_at"]
        assert s["origin_arn"] is not None or s["origin_resolved"] is False
        assert str(s["ends_at_basis"]).startswith(("recorded", "estimated"))
        assert s["ends_at_estimated"] == str(s["ends_at_basis"]).startswith("estimated")
    unknown = [s for s in sessions if s["origin_arn"] is None]
    assert unknown and all(str(s["origin_label"]).startswith("unknown") for s in unknown)
