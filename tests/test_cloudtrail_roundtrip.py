"""Simulate -> CloudTrail files -> import -> materialize == materialize the simulation.

What CloudTrail cannot carry (see pipeline/simulator/cloudtrail.py) is set aside here,
each exception named: `*` resources. What it carries beyond the simulation is named too:
the IAM users' own calls made with long-term keys.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.events import Event
from pipeline.queries import Queries
from pipeline.sessions import Selection
from pipeline.simulator import SimulationConfig, simulate
from pipeline.simulator.cloudtrail import write_cloudtrail
from tests.cloudtrail_helpers import import_and_materialize

CONFIG = SimulationConfig(start=datetime(2026, 1, 5, tzinfo=UTC), days=3, seed=11)


def _sessions(q: Queries) -> list[Any]:
    return q.sessions.all(Selection())


def _actions(q: Queries) -> Counter[tuple[Any, ...]]:
    rows = q.con.execute(
        "SELECT event_time, access_key_id, principal_arn, action, "
        "list_filter(resources, lambda r: r <> '*'), outcome, error_code, source_ip, region "
        "FROM actions WHERE access_key_id NOT LIKE 'AKIA%'"
    ).fetchall()
    return Counter(tuple(tuple(v) if isinstance(v, list) else v for v in r) for r in rows)


def test_the_simulation_survives_a_trip_through_cloudtrail(
    tmp_path: Path, materialized: Callable[[Sequence[Event]], Queries]
) -> None:
    events = list(simulate(CONFIG))
    writer = write_cloudtrail(iter(events), tmp_path / "trail")
    assert writer.files > 100
    files = list((tmp_path / "trail" / "AWSLogs").rglob("*_CloudTrail_us-east-1_*.json.gz"))
    assert len(files) == writer.files
    imported = import_and_materialize(tmp_path / "imported", tmp_path / "trail")
    assert imported.summary.records_read == writer.records
    assert not imported.summary.skipped and not imported.summary.corrupt_files

    direct, via_trail = materialized(events), imported.queries()
    try:
        expected = _sessions(direct)
        assert any(s.via == "CONSOLE_SWITCH_ROLE" for s in expected)
        # console switch-role keys join their switch: no session of their own
        got = _sessions(via_trail)
        assert len(got) == len(expected)

        def shape(s: Any) -> tuple[Any, ...]:
            keys = s.access_key_ids
            return (
                s.session_id,
                s.account_id,
                s.role_arn,
                s.session_arn,
                s.via,
                s.principal_arn,
                s.principal_type,
                s.caller_access_key_id,
                s.origin_arn,
                s.origin_type,
                s.parent_session_id,
                s.source_identity,
                s.started_at,
                s.ends_at,
                s.end_reason,
                tuple(keys),
                tuple(sorted(s.session_tags.items())),
                tuple(s.transitive_tag_keys),
            )

        assert sorted(map(shape, got), key=repr) == sorted(map(shape, expected), key=repr)
        assert _actions(via_trail) == _actions(direct)
        own = via_trail.con.execute(
            "SELECT DISTINCT principal_arn FROM actions WHERE access_key_id LIKE 'AKIA%'"
        ).fetchall()
        assert own and all(":user/" in p for (p,) in own)  # the IAM users' own calls
        for table in ("revocations", "policy_changes"):
            cols = (
                "event_time, role_arn, issued_before"
                if table == "revocations"
                else "event_time, target_arn, change_type, policy_arn, policy_name, policy_document"
            )
            sql = f"SELECT {cols} FROM {table}"  # noqa: S608 - constant table names
            assert Counter(via_trail.con.execute(sql).fetchall()) == Counter(
                direct.con.execute(sql).fetchall()
            ), table
    finally:
        direct.close()
        via_trail.close()
