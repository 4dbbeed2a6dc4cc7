"""The simulator's staged incidents (issue 13): one case of each finding rule, recorded
as ground truth, present in the materialized store with the properties each rule needs;
and a normal week (incidents off) with none of them."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.events import AccessRecorded, AssumeVia, Event, RoleAssumed
from pipeline.findings.model import RULES
from pipeline.queries import Queries, Trace
from pipeline.simulator.activity import INSTANCE_IP, LEAK_IP, Simulation, SimulationConfig
from pipeline.simulator.cloudtrail import write_cloudtrail
from pipeline.simulator.incidents import CI_BOOTSTRAP, Incident
from tests.cloudtrail_helpers import Imported, import_and_materialize
from tests.simulator.cases import RULE_CASES, network

START = datetime(2026, 1, 5, tzinfo=UTC)


def _run(**overrides: object) -> tuple[list[Event], list[Incident]]:
    sim = Simulation(SimulationConfig(start=START, **overrides))  # type: ignore[arg-type]
    events = list(sim.events())
    return events, sim.incidents


@pytest.fixture(scope="module")
def staged() -> tuple[list[Event], list[Incident]]:
    return _run(days=3, seed=7)


@pytest.fixture(scope="module")
def normal_week() -> list[Event]:
    return _run(days=7, seed=7, incidents=False)[0]


@pytest.fixture(scope="module")
def demo(
    staged: tuple[list[Event], list[Incident]], tmp_path_factory: pytest.TempPathFactory
) -> Imported:
    """The demo's pipeline: rendered as CloudTrail, imported and materialized."""
    base = tmp_path_factory.mktemp("incidents")
    write_cloudtrail(iter(staged[0]), base / "trail")
    return import_and_materialize(base / "imported", base / "trail")


def _incident(staged: tuple[list[Event], list[Incident]], rule: str) -> Incident:
    (found,) = [i for i in staged[1] if i.rule == rule]
    return found


# -- the ground truth -------------------------------------------------------------------


def test_the_ground_truth_lists_each_rule_once(
    staged: tuple[list[Event], list[Incident]],
) -> None:
    events, incidents = staged
    assert sorted(i.rule for i in incidents) == sorted(RULES)
    ids = {e.event_id for e in events}
    for i in incidents:
        assert i.evidence and set(i.evidence) <= ids, i.rule
        assert i.first_at <= i.last_at and i.session_ids and i.summary
        assert "None" not in i.summary


@pytest.mark.parametrize("rule", RULES)
def test_each_staged_case_has_its_rules_property(
    rule: str, staged: tuple[list[Event], list[Incident]]
) -> None:
    """The property each rule looks for holds on the staged evidence."""
    events, _ = staged
    evidence = set(_incident(staged, rule).evidence)
    found = RULE_CASES[rule](events)
    assert any(evidence & case for case in found), (rule, found)


@pytest.mark.parametrize("rule", RULES)
def test_a_normal_week_has_no_case_of(rule: str, normal_week: list[Event]) -> None:
    assert RULE_CASES[rule](normal_week) == []


def test_a_normal_week_has_no_revocation_no_root_and_one_denied_call(
    normal_week: list[Event],
) -> None:
    """What remains of the old story without incidents: mallory's one refused AssumeRole."""
    denied = [e for e in normal_week if isinstance(e, AccessRecorded) and e.outcome == "DENIED"]
    assert [(e.action, e.principal_arn) for e in denied] == [
        ("sts:AssumeRole", "arn:aws:sts::444455556666:assumed-role/ReadOnly/mallory")
    ]
    assert not any(type(e).__name__ == "SessionsRevoked" for e in normal_week)
    assert not any(e.event_id.startswith("sim-7-x") for e in normal_week)


def test_the_same_seed_gives_the_same_events_and_incidents(
    staged: tuple[list[Event], list[Incident]],
) -> None:
    assert _run(days=3, seed=7) == staged


def test_staging_leaves_the_rest_of_the_story_as_it_was(
    staged: tuple[list[Event], list[Incident]],
) -> None:
    """Incidents draw from their own ids, keys and randomness: the normal people's days
    (everything before the leak of the second day) are the same with or without them."""
    normal = _run(days=3, seed=7, incidents=False)[0]
    leak_day = START + timedelta(days=1)

    def story(events: list[Event]) -> list[Event]:
        return [
            e for e in events if e.event_time < leak_day and not e.event_id.startswith("sim-7-x")
        ]

    assert story(staged[0]) == story(normal)


def test_a_one_day_history_stages_every_case() -> None:
    assert sorted(i.rule for i in _run(days=1, seed=3)[1]) == sorted(RULES)


# -- in the materialized store (the demo's CloudTrail round trip) -----------------------


def _actions(q: Queries, ids: tuple[str, ...]) -> list[dict[str, object]]:
    rows = q.con.execute(
        "SELECT event_id, event_time, access_key_id, session_id, principal_arn, action, "
        "resources, outcome, error_code, source_ip, user_agent FROM actions "
        "WHERE event_id IN (SELECT unnest(?))",
        [list(ids)],
    ).fetchall()
    cols = [
        "event_id",
        "event_time",
        "access_key_id",
        "session_id",
        "principal_arn",
        "action",
        "resources",
        "outcome",
        "error_code",
        "source_ip",
        "user_agent",
    ]
    return [dict(zip(cols, r, strict=True)) for r in rows]


def _assumptions(q: Queries, ids: tuple[str, ...]) -> list[dict[str, object]]:
    rows = q.con.execute(
        "SELECT event_id, session_id, role_arn, via, caller_arn, caller_type, "
        "mfa_authenticated FROM role_assumptions WHERE event_id IN (SELECT unnest(?))",
        [list(ids)],
    ).fetchall()
    cols = ["event_id", "session_id", "role_arn", "via", "caller_arn", "caller_type", "mfa"]
    return [dict(zip(cols, r, strict=True)) for r in rows]


def test_every_piece_of_evidence_is_in_the_store(
    staged: tuple[list[Event], list[Incident]], demo: Imported
) -> None:
    with demo.queries() as q:
        for i in staged[1]:
            ids = i.cloudtrail_evidence()
            found = {r["event_id"] for r in _actions(q, ids) + _assumptions(q, ids)}
            assert found == set(ids), (i.rule, set(ids) - found)


def test_instance_key_used_from_a_laptop(
    staged: tuple[list[Event], list[Incident]], demo: Imported
) -> None:
    i = _incident(staged, "instance-credentials-elsewhere")
    with demo.queries() as q:
        used = _actions(q, i.cloudtrail_evidence())
        (key,) = {r["access_key_id"] for r in used}
        trace = q.trace(str(key))
        assert isinstance(trace, Trace)
        assert trace.chain[-1].via == "AWS_SERVICE"
        instance = trace.chain[-1].session_name
        # the laptop's calls: these, and its later attempts (the used-after-end case)
        laptop = [e for x in staged[1] for e in x.cloudtrail_evidence()]
        own = q.con.execute(
            "SELECT DISTINCT a.source_ip FROM actions a JOIN sessions s "
            "ON a.session_id = s.session_id OR a.access_key_id = s.access_key_ids[1] "
            "WHERE s.session_name = ? AND a.event_id NOT IN (SELECT unnest(?))",
            [instance, laptop],
        ).fetchall()
    assert own == [(INSTANCE_IP,)]
    assert {r["source_ip"] for r in used} == {LEAK_IP}
    assert all("Darwin" in str(r["user_agent"]) for r in used)


def test_used_after_end_one_success_then_denied_attempts(
    staged: tuple[list[Event], list[Incident]], demo: Imported
) -> None:
    i = _incident(staged, "used-after-end")
    with demo.queries() as q:
        ids = set(i.cloudtrail_evidence())
        marked = [
            a
            for sid in {
                str(r["session_id"] or r["access_key_id"])
                for r in _actions(q, i.cloudtrail_evidence())
            }
            for a in q.actions(sid)
            if a.event_id in ids
        ]
    assert sorted((a.lifetime, a.outcome) for a in marked) == [
        ("after exit", "ALLOWED"),
        ("after revocation", "DENIED"),
        ("after revocation", "DENIED"),
        ("after revocation", "DENIED"),
    ]


def test_one_key_from_several_networks_within_minutes(
    staged: tuple[list[Event], list[Incident]], demo: Imported
) -> None:
    i = _incident(staged, "key-many-networks")
    with demo.queries() as q:
        used = _actions(q, i.cloudtrail_evidence())
    assert len({r["access_key_id"] for r in used}) == 1
    assert len({network(str(r["source_ip"])) for r in used}) == 4
    times = sorted(r["event_time"] for r in used)  # type: ignore[type-var]
    assert times[-1] - times[0] <= timedelta(minutes=10)  # type: ignore[operator]


def test_a_burst_of_denied_get_password_data(
    staged: tuple[list[Event], list[Incident]], demo: Imported
) -> None:
    i = _incident(staged, "denied-burst")
    with demo.queries() as q:
        calls = _actions(q, i.cloudtrail_evidence())
    assert len(calls) >= 30
    assert {(r["action"], r["outcome"], r["error_code"]) for r in calls} == {
        ("ec2:GetPasswordData", "DENIED", "AccessDenied")
    }
    assert len({r["access_key_id"] for r in calls}) == 1
    times = sorted(r["event_time"] for r in calls)  # type: ignore[type-var]
    assert times[-1] - times[0] < timedelta(minutes=1)  # type: ignore[operator]


def test_assume_role_refused_across_many_roles(
    staged: tuple[list[Event], list[Incident]], demo: Imported
) -> None:
    i = _incident(staged, "role-enumeration")
    with demo.queries() as q:
        tries = _actions(q, i.cloudtrail_evidence())
    assert {(r["action"], r["outcome"], r["error_code"]) for r in tries} == {
        ("sts:AssumeRole", "DENIED", "AccessDenied")
    }
    assert len({r["principal_arn"] for r in tries}) == 1
    assert len({tuple(r["resources"]) for r in tries}) == 10  # type: ignore[arg-type]


def test_root_signs_in_and_calls(
    staged: tuple[list[Event], list[Incident]], demo: Imported
) -> None:
    i = _incident(staged, "root-used")
    root = "arn:aws:iam::444455556666:root"
    with demo.queries() as q:
        (signed,) = _assumptions(q, i.cloudtrail_evidence())
        calls = _actions(q, i.cloudtrail_evidence())
        assert (signed["via"], signed["caller_type"], signed["caller_arn"]) == (
            "CONSOLE_SIGN_IN",
            "Root",
            root,
        )
        assert len(calls) == 2
        assert {(r["principal_arn"], r["outcome"]) for r in calls} == {(root, "ALLOWED")}
        # the console key joins the root's sign-in session
        assert {r["session_id"] for r in calls} == {signed["session_id"]}
        assert q.who_held(at=i.last_at, account_id="444455556666")


def test_console_sign_in_without_mfa(
    staged: tuple[list[Event], list[Incident]], demo: Imported
) -> None:
    i = _incident(staged, "console-without-mfa")
    with demo.queries() as q:
        (signed,) = _assumptions(q, i.cloudtrail_evidence())
        signed_with_mfa = q.con.execute(
            "SELECT count(*) FROM role_assumptions WHERE via = 'CONSOLE_SIGN_IN' "
            "AND mfa_authenticated"
        ).fetchone()
    assert (signed["via"], signed["caller_type"], signed["mfa"]) == (
        "CONSOLE_SIGN_IN",
        "IAMUser",
        False,
    )
    assert signed_with_mfa is not None and signed_with_mfa[0] > 0  # the others use MFA


def test_a_ci_role_that_administers_iam_reaches_an_admin_role(
    staged: tuple[list[Event], list[Incident]], demo: Imported
) -> None:
    i = _incident(staged, "machine-iam-admin")
    with demo.queries() as q:
        hops = _assumptions(q, i.cloudtrail_evidence())
        roles = [h["role_arn"] for h in sorted(hops, key=lambda h: str(h["event_id"]))]
        assert set(roles) == {
            CI_BOOTSTRAP.arn,
            "arn:aws:iam::444455556666:role/Deploy",
            "arn:aws:iam::444455556666:role/OrgAdmin",
        }
        policy = q.con.execute(
            "SELECT policy_document FROM policy_changes WHERE target_arn = ?", [CI_BOOTSTRAP.arn]
        ).fetchone()
        assert policy is not None
        assert all(a in policy[0] for a in ("iam:PassRole", "iam:CreateRole"))
        (admin,) = [h for h in hops if str(h["role_arn"]).endswith("/OrgAdmin")]
        trace = q.trace(str(admin["session_id"]))
        assert isinstance(trace, Trace)
        assert [s.role_arn for s in trace.chain] == [
            CI_BOOTSTRAP.arn,
            "arn:aws:iam::444455556666:role/Deploy",
            "arn:aws:iam::444455556666:role/OrgAdmin",
        ]
        assert trace.chain[0].via == "WEB_IDENTITY"
        assert "token.actions.githubusercontent.com" in str(trace.origin_arn)
        assert q.con.execute(
            "SELECT count(*) FROM policy_changes WHERE target_arn = ? AND policy_arn = ?",
            [
                "arn:aws:iam::444455556666:role/OrgAdmin",
                "arn:aws:iam::aws:policy/AdministratorAccess",
            ],
        ).fetchone() == (1,)


def test_staged_sessions_start_as_simulated(staged: tuple[list[Event], list[Incident]]) -> None:
    """Every staged session is a simulated session (no id outside the history)."""
    assumed = {e.session_id for e in staged[0] if isinstance(e, RoleAssumed)}
    for i in staged[1]:
        assert set(i.session_ids) <= assumed, i.rule
    vias = {e.via for e in staged[0] if isinstance(e, RoleAssumed)}
    assert AssumeVia.WEB_IDENTITY in vias


def test_simulate_no_incidents_writes_a_normal_history(tmp_path: Path) -> None:
    def records(*flags: str) -> str:
        out = tmp_path / "-".join(("trail", *flags))
        args = ["simulate", "--days", "2", "--cloudtrail", str(out), *flags]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        return "".join(
            gzip.decompress(f.read_bytes()).decode() for f in sorted(out.rglob("*.json.gz"))
        )

    assert '"type":"Root"' in records() and '"MFAUsed":"No"' in records()
    normal = records("--no-incidents")
    assert '"type":"Root"' not in normal and '"MFAUsed":"No"' not in normal
    assert "AWSRevokeOlderSessions" not in normal and "CIBootstrap" not in normal
