"""A report over the demo's week names exactly the sessions that had AdministratorAccess,
as the simulator knows them: the roles it attached the policy to, at each session's start
(its standing grants and the mid-week grant to Deploy), from its own events."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from click.testing import CliRunner

from pipeline.cli import main
from pipeline.events import Event, PolicyChanged, PolicyChangeType, RoleAssumed
from pipeline.queries import Queries
from pipeline.reports import Period, Privilege, privileged_report
from pipeline.simulator import org
from tests.reports.conftest import END, START, Week

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def admin_sessions_by_the_simulator(events: list[Event]) -> set[str]:
    """Replay the simulator's events in time order: which roles had the policy attached
    when each RoleAssumed happened."""
    attached: set[str] = set()
    truth: set[str] = set()
    for e in sorted(events, key=lambda e: (e.event_time, not isinstance(e, PolicyChanged))):
        if isinstance(e, PolicyChanged) and e.policy_arn == ADMIN:
            if e.change_type == PolicyChangeType.ATTACH_MANAGED_POLICY:
                attached.add(e.target_arn)
            elif e.change_type == PolicyChangeType.DETACH_MANAGED_POLICY:
                attached.discard(e.target_arn)
        elif isinstance(e, RoleAssumed) and e.role_arn in attached and START <= e.event_time < END:
            truth.add(e.session_id)
    return truth


def test_the_week_report_names_exactly_the_administrator_sessions(week_master: Week) -> None:
    truth = admin_sessions_by_the_simulator(week_master.events)
    deploy = org.ROLES["Deploy"].arn
    assert any(e.role_arn == deploy for e in week_master.events if isinstance(e, RoleAssumed))
    with Queries.open(week_master.db) as q:
        report = privileged_report(
            q,
            Period(START, END),
            Privilege(kind="policy", policy_arn=ADMIN),
            command="test",
            generated_at=datetime.now(UTC),
        )
    named = {s.session_id for s in report.sessions}
    assert named == truth
    # both kinds of grant are in it: OrgAdmin's standing one, Deploy's mid-week window
    roles = {s.role_arn for s in report.sessions}
    assert roles == {org.ROLES["OrgAdmin"].arn, deploy}
    grant_day = [
        e.event_time
        for e in week_master.events
        if isinstance(e, PolicyChanged) and e.target_arn == deploy and e.policy_arn == ADMIN
    ]
    for s in report.sessions:
        if s.role_arn == deploy:
            assert min(grant_day) <= s.started_at < max(grant_day)


def test_the_default_privilege_adds_root_and_no_power_user(week_master: Week) -> None:
    """IAM administration: every AdministratorAccess session, the root sign-in, and none
    of the PowerUserAccess sessions (Deploy outside the grant, CIDeploy, Developer)."""
    truth = admin_sessions_by_the_simulator(week_master.events)
    with Queries.open(week_master.db) as q:
        report = privileged_report(
            q, Period(START, END), Privilege(), command="test", generated_at=datetime.now(UTC)
        )
    named = {s.session_id for s in report.sessions}
    extra = {s.session_id: s for s in report.sessions if s.session_id not in truth}
    assert truth <= named
    assert extra, "the root sign-in is privileged"
    assert all(s.privilege == "*:* (root)" for s in extra.values()), extra
    power_users = {org.ROLES[n].arn for n in ("CIDeploy", "Developer")}
    assert not {s.role_arn for s in report.sessions} & power_users
    # the summary per origin adds up, and says what it does not know
    assert sum(o.sessions for o in report.origins) == len(report.sessions)
    root = next(s for s in report.sessions if s.privilege == "*:* (root)")
    assert root.ends_at_estimated and root.ends_at_basis.startswith("estimated")
    assert report.undecided, "IAM users without policy history are said, not dropped"
    assert all(u.reason.startswith("unknown") for u in report.undecided)


def test_cli_json_csv_and_table_agree(week_master: Week, tmp_path: object) -> None:
    args = [
        "report", "privileged", "--from", "2026-01-05", "--to", "2026-01-12",
        "--db", str(week_master.db), "--log", f"file:{week_master.log}",
        "--policy", ADMIN,
    ]  # fmt: skip
    as_json = CliRunner().invoke(main, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.output)
    ids = {s["session_id"] for s in doc["sessions"]}
    assert ids == admin_sessions_by_the_simulator(week_master.events)
    ev = doc["evidence"]
    assert ev["rolecall_version"] and ev["command"].startswith("rolecall report privileged")
    assert ev["digest"]["format"] == "rolecall-digest/2" and ev["positions"]
    as_csv = CliRunner().invoke(main, [*args, "--csv"])
    lines = as_csv.output.strip().splitlines()
    assert lines[0].startswith("session,principal,origin,role")
    assert len(lines) == 1 + len(ids)
    assert ",," not in as_csv.output  # no empty cell: unknowns are words
    origins = CliRunner().invoke(main, [*args, "--csv", "--list", "origins"])
    assert len(origins.output.strip().splitlines()) == 1 + len(doc["origins"])
    table = CliRunner().invoke(main, args, env={"COLUMNS": "400"})
    assert table.exit_code == 0
    assert "Evidence:" in table.output and all(i in table.output for i in ids)


def test_bad_choices_are_one_line_errors(week_master: Week) -> None:
    base = ["report", "privileged", "--db", str(week_master.db)]
    for extra, said in (
        (["--from", "2026-01-12", "--to", "2026-01-05"], "period is empty"),
        (["--from", "2026-01-05", "--to", "2026-01-12", "--action", "iam:CreateUser"],
         "--action and --resource go together"),
        (["--from", "2026-01-05", "--to", "2026-01-12", "--policy", ADMIN, "--action", "x:y",
          "--resource", "*"], "--policy excludes"),
        (["--from", "yesterday", "--to", "2026-01-12"], "malformed time"),
    ):  # fmt: skip
        r = CliRunner().invoke(main, base + extra)
        assert r.exit_code != 0
        assert said in r.output, r.output
        assert "Traceback" not in r.output
