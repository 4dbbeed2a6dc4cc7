"""Pivots (pipeline/pivots.py, `Queries.pivot`, `rolecall pivot`) on the simulated
organization, the Replay's remembered permissions, and the Timeline's sub-lanes."""

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from dashboards import permission_cache
from dashboards.figures import sub_lanes
from dashboards.views import replay
from pipeline.cli import main
from pipeline.errors import InputError, NotFoundError
from pipeline.queries import Queries


def _clues(org: Queries) -> dict[str, str]:
    user = org.con.execute(
        "SELECT caller_arn FROM sessions WHERE caller_arn LIKE '%:user/%' LIMIT 1"
    ).fetchone()
    address = org.con.execute(
        "SELECT source_ip FROM actions GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    deepest = org.deepest_session()
    assert user and address and deepest and deepest.role_arn
    return {
        "user": str(user[0]),
        "key": deepest.access_key_ids[0],
        "ip": str(address[0]),
        "role": deepest.role_arn,
    }


def test_each_pivot_adds_up(org: Queries) -> None:
    for kind, value in _clues(org).items():
        p = org.pivot(kind, value)
        assert p.sessions_total >= len(p.sessions) > 0, kind
        assert sum(b.allowed + b.denied for b in p.activity) == p.actions_total, kind
        assert sum(b.denied for b in p.activity) == p.denied_total, kind
        assert [b.start for b in p.activity] == sorted(b.start for b in p.activity)
        assert all(b.start.timestamp() % p.bucket_seconds == 0 for b in p.activity)
        assert len(p.actions) == min(p.actions_total, 100)
        times = [a.event_time for a in p.actions]
        assert times == sorted(times, reverse=True), kind  # the newest first
        starts = [s.started_at for s in p.sessions]
        assert starts == sorted(starts, reverse=True), kind
        if kind == "ip":
            assert {a.source_ip for a in p.actions} == {value}
        if kind == "key":
            assert {a.access_key_id for a in p.actions} <= {value}
            assert [s.session_id for s in p.sessions] == [org.session(value).session.session_id]
        if kind == "role":
            assert {s.role_arn for s in p.sessions} == {value}
        if kind == "user":
            assert all(
                value in (s.principal_arn, s.origin_arn) or s.principal_arn is None
                for s in p.sessions
            )


def test_a_pivot_finds_the_findings_of_its_sessions(org: Queries) -> None:
    found = next(f for f in org.findings() if f.session_id)
    s = org.session(found.session_id or "").session
    p = org.pivot("key", s.access_key_ids[0])
    assert found.finding_id in {f.finding_id for f in p.findings}


def test_unknown_and_malformed_clues(org: Queries) -> None:
    with pytest.raises(NotFoundError):
        org.pivot("ip", "203.0.113.250")
    with pytest.raises(NotFoundError):
        org.pivot("key", "AKIAZZZZZZZZZZZZZZZZ")
    with pytest.raises(NotFoundError):
        org.pivot("role", "NoSuchRole")
    with pytest.raises(InputError):
        org.pivot("user", "alice")
    with pytest.raises(InputError):
        org.pivot("host", "x")


def test_the_cli_says_what_the_library_says(org_db: Path, org: Queries) -> None:
    clues = _clues(org)
    runner = CliRunner()
    r = runner.invoke(main, ["pivot", "ip", clues["ip"], "--db", str(org_db), "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    want = org.pivot("ip", clues["ip"])
    assert got["sessions_total"] == want.sessions_total
    assert [s["session_id"] for s in got["sessions"]] == [s.session_id for s in want.sessions]
    assert [k["access_key_id"] for k in got["keys"]] == [k.access_key_id for k in want.keys]
    assert got["actions_total"] == want.actions_total
    r = runner.invoke(
        main, ["pivot", "role", clues["role"], "--db", str(org_db), "--csv", "--list", "activity"]
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.reader(io.StringIO(r.output)))
    assert rows[0] == ["from", "allowed", "denied"]
    assert len(rows) - 1 == len(org.pivot("role", clues["role"]).activity)
    r = runner.invoke(main, ["pivot", "ip", "203.0.113.250", "--db", str(org_db)])
    assert r.exit_code != 0
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1


def test_overlapping_sessions_get_their_own_sub_lane(org: Queries) -> None:
    span = org.time_range()
    assert span is not None
    tl = org.timeline(span[0], span[0] + timedelta(hours=12), lane="role")
    rows = sub_lanes(tl.bars)
    by_row: dict[str, list[tuple[object, object]]] = {}
    for b in tl.bars:
        by_row.setdefault(rows[b.session_id], []).append((b.started_at, b.ends_at))
    assert len(by_row) > len({b.lane for b in tl.bars}), "the simulation has overlaps"
    for row, spans in by_row.items():
        spans.sort()
        for (_s1, e1), (s2, _e2) in itertools.pairwise(spans):
            assert e1 <= s2, row  # nothing on one row overlaps


def test_remembered_permissions_are_the_evaluated_ones(org: Queries) -> None:
    span = org.time_range()
    assert span is not None
    for hours in (6, 12, 30, 40):
        at = span[0] + timedelta(hours=hours)
        sessions = org.active_sessions(at).sessions
        got, complete = permission_cache.summaries(org, at, sessions)
        assert complete
        assert got == [org.permissions_summary(s.session_id, at) for s in sessions]
        # Five minutes on, the same sessions are answered from memory, in no time at all.
        later = at + timedelta(minutes=5)
        still = [s for s in sessions if s.ends_at > later]
        again, complete = permission_cache.summaries(org, later, still, budget_s=0.0)
        assert complete or permission_cache.PENDING in again
        assert again == [
            org.permissions_summary(s.session_id, later) if t != permission_cache.PENDING else t
            for s, t in zip(still, again, strict=True)
        ]


def test_the_replay_page_opens_on_the_urls_moment_and_filters(org: Queries) -> None:
    page = replay.layout(
        org, {"at": ["2026-01-06T03:00:00Z"], "account": ["444455556666"], "via": ["SAML"]}
    )
    found = {}

    def walk(c: object) -> None:
        cid = getattr(c, "id", None)
        if cid in ("replay-slider", "replay-account", "replay-via", "replay-origin"):
            found[cid] = c
        for child in getattr(c, "children", None) or []:
            if not isinstance(child, str):
                walk(child)
        inner = getattr(c, "children", None)
        if inner is not None and not isinstance(inner, (list, str)):
            walk(inner)

    walk(page)
    origin = found["replay-origin"].data  # type: ignore[attr-defined]
    minutes = found["replay-slider"].value  # type: ignore[attr-defined]
    from pipeline.timeutil import iso, parse_time

    assert iso(parse_time(origin) + timedelta(minutes=minutes)) == "2026-01-06T03:00:00Z"
    assert found["replay-account"].value == "444455556666"  # type: ignore[attr-defined]
    assert found["replay-via"].value == "SAML"  # type: ignore[attr-defined]
    bad = replay.layout(org, {"at": ["yesterday"]})
    assert "not a time" in json.dumps(bad.to_plotly_json(), default=str)
