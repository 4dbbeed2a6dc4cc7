"""The replay reads agree with `who_held`, respect every filter, and treat input as data."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.errors import InputError
from pipeline.events import AssumeVia, Event
from pipeline.queries import Queries
from pipeline.replay import SessionFilter
from tests import builders as b


def test_active_sessions_equal_who_held_at_random_moments(org: Queries) -> None:
    span = org.time_range()
    assert span is not None
    rng = random.Random(6)
    seconds = int((span[1] - span[0]).total_seconds())
    for _ in range(25):
        at = span[0] + timedelta(seconds=rng.randrange(seconds))
        active = org.active_sessions(at, limit=None)
        held = org.who_held(at=at)
        assert active.total == len(held)
        assert {s.session_id for s in active.sessions} == {s.session_id for s in held}


def test_filters_match_who_held(org: Queries) -> None:
    span = org.time_range()
    assert span is not None
    at = span[0] + timedelta(hours=12)
    held = org.who_held(at=at)
    origin = next(s.origin_arn for s in held if s.depth > 0)
    role = held[0].role_arn
    via = held[-1].via
    cases = [
        (SessionFilter(principal=origin), {"principal_arn": origin}),
        (SessionFilter(role_arn=role), {"role_arn": role}),
        (SessionFilter(via=via), {"via": via}),
        (SessionFilter(account_id="444455556666"), {"account_id": "444455556666"}),
    ]
    for flt, kwargs in cases:
        got = {s.session_id for s in org.active_sessions(at, flt, limit=None).sessions}
        want = {s.session_id for s in org.who_held(at=at, **kwargs)}  # type: ignore[arg-type]
        assert got == want and got, flt


def test_limit_keeps_the_total(org: Queries) -> None:
    span = org.time_range()
    assert span is not None
    at = span[0] + timedelta(hours=12)
    small = org.active_sessions(at, limit=3)
    assert len(small.sessions) == 3
    assert small.total == len(org.who_held(at=at)) > 3


@pytest.mark.parametrize(
    "hostile",
    ["' OR 1=1 --", "x'); DROP TABLE sessions; --", "%", "\u202e\u0000ARN", "a" * 5000],
)
def test_hostile_filters_are_data(org: Queries, hostile: str) -> None:
    span = org.time_range()
    assert span is not None
    flt = SessionFilter(account_id=hostile, role_arn=hostile, principal=hostile, via=hostile)
    assert org.active_sessions(span[0] + timedelta(hours=12), flt).total == 0
    assert org.timeline(span[0], span[1], SessionFilter(principal=hostile)).total == 0
    assert org.replay_events(span[0], span[1], SessionFilter(role_arn=hostile)) == []
    assert org.counts()["sessions"] > 0


def test_timeline_bars_or_buckets(org: Queries) -> None:
    span = org.time_range()
    assert span is not None
    start, end = span[0], span[0] + timedelta(hours=24)
    bars = org.timeline(start, end)
    assert bars.total == len(bars.bars) > 0 and not bars.aggregated
    assert all(b.started_at < end and b.ends_at > start for b in bars.bars)
    buckets = org.timeline(start, end, max_bars=10)
    assert buckets.aggregated and buckets.total == bars.total
    # The busiest bucket cannot hold more sessions than the window does.
    assert 0 < max(b.sessions for b in buckets.buckets) <= bars.total
    by_role = org.timeline(start, end, lane="role")
    roles = {s.role_arn or "(no role)" for s in org.sessions_of(SessionFilter(), limit=10_000)[1]}
    assert {b.lane for b in by_role.bars} <= roles
    with pytest.raises(InputError):
        org.timeline(end, start)


def test_replay_events_are_ordered_and_consistent(org: Queries) -> None:
    span = org.time_range()
    assert span is not None
    start, end = span[0], span[1] + timedelta(days=1)
    events = org.replay_events(start, end)
    assert [e.time for e in events] == sorted(e.time for e in events)
    starts = [e for e in events if e.kind == "start"]
    ends = [e for e in events if e.kind != "start"]
    assert len(starts) == len(ends) == org.counts()["sessions"]
    assert {e.kind for e in ends} >= {"expiry", "revocation"}
    # Replaying up to a moment and counting starts minus ends gives who held then.
    at = span[0] + timedelta(hours=30)
    open_ = {e.session_id for e in events if e.kind == "start" and e.time <= at} - {
        e.session_id for e in events if e.kind != "start" and e.time <= at
    }
    assert open_ == {s.session_id for s in org.who_held(at=at)}


def test_replay_command(org_db: Path) -> None:
    args = ["replay", "--from", "2026-01-06T12:00:00Z", "--to", "2026-01-06T15:00:00Z"]
    r = CliRunner().invoke(main, [*args, "--db", str(org_db), "--json"])
    assert r.exit_code == 0, r.output
    events = json.loads(r.output)
    assert (
        events and {"time", "kind", "principal_arn", "role_arn", "origin_arn"} <= events[0].keys()
    )
    assert any(e["kind"] == "revocation" for e in events)
    text = CliRunner().invoke(main, [*args, "--db", str(org_db), "--via", "ASSUME_ROLE"])
    assert text.exit_code == 0
    lines = [ln for ln in text.output.splitlines() if ln.startswith("2026-")]
    assert lines and all("via ASSUME_ROLE" in ln for ln in lines)
    bad = CliRunner().invoke(
        main, ["replay", "--from", "2026-01-06", "--to", "2026-01-05", "--db", str(org_db)]
    )
    assert bad.exit_code != 0


def test_chain_older_than_the_near_period_still_resolves(
    materialized: Callable[[Sequence[Event]], Queries],
) -> None:
    """A chain link issued long before the moment falls back to the whole history."""
    saml = "arn:aws:iam::111122223333:saml-provider/Okta#alice@example.com"
    week = 7 * 24 * 60
    q = materialized(
        [
            *b.session(
                "ASIAOLDPARENT001",
                "Engineer",
                0,
                hours=24 * 10,
                via=AssumeVia.SAML,
                caller_arn=saml,
            ),
            *b.session(
                "ASIACHILDNOW0002",
                "Deploy",
                week,
                caller_key="ASIAOLDPARENT001",
                caller_arn="arn:aws:sts::111122223333:assumed-role/Engineer/alice",
            ),
        ]
    )
    at = b.at(week + 10)
    active = q.active_sessions(at, limit=None)
    child = next(s for s in active.sessions if s.session_id == "ASIACHILDNOW0002")
    assert child.origin_arn == saml and child.origin_resolved
    assert child.parent_session_id == "ASIAOLDPARENT001"
    assert q.active_sessions(at, SessionFilter(principal=saml)).total == 2
    events = q.replay_events(b.at(week - 1), b.at(week + 1))
    assert [(e.kind, e.origin_arn) for e in events] == [("start", saml)]
