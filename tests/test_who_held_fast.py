"""who-held's fast answer is the answer the labels' own functions give (#16, point 3).

`pipeline.sessions.session_views` builds views from fetched tuples without validation,
with labels cached and times compared as stored. Here every field of every session
active at many moments of a simulated week (and of hand-made edge cases: sessions
inferred from their calls, used after their end, exited, revoked, with a requested
duration or only a default, chains whose top key is missing) is compared with a view
built the plain way: the row by name, each label from `pipeline.estimates`, and pydantic
validating the result.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline import estimates
from pipeline.events import AssumeVia, Event, RoleAssumed
from pipeline.queries import Queries
from pipeline.sessions import COLUMN_NAMES, Selection, SessionView, state_sql
from pipeline.simulator import SimulationConfig, simulate
from pipeline.timeutil import parse_time
from tests import builders as b

Build = Callable[[Sequence[Event]], Queries]

SIMULATED = SimulationConfig(start=parse_time("2026-01-05"), days=2, seed=5, scale=4)
ALICE = "arn:aws:iam::111122223333:user/alice"


def _inferred(key: str, minute: float, **fields: Any) -> RoleAssumed:
    """A session the CloudTrail import inferred from a call: it names no caller."""
    made = b.assumed(key, "Inferred", minute, via=AssumeVia.INFERRED, **fields)
    return made.model_copy(update={"caller_arn": None})


def _edge_cases() -> list[Event]:
    """Sessions whose labels take every branch, at minutes 0-200 after builders.T0."""
    return [
        # an end moved past the record by later calls, after an expiry, exit or revocation
        *b.session("ASIAFASTLATEUSE1", "Late", 0),
        b.call("ASIAFASTLATEUSE1", 75),
        *b.session("ASIAFASTLATEEXIT", "Late", 1, hours=2),
        b.exited(10, session_id="ASIAFASTLATEEXIT"),
        b.call("ASIAFASTLATEEXIT", 30),
        *b.session("ASIAFASTLATEREV1", "Revoked", 2, hours=2),
        b.revoked("Revoked", 20),
        b.call("ASIAFASTLATEREV1", 40),
        # no recorded expiry: a requested duration, or AssumeRole's default
        b.assumed("ASIAFASTREQUEST1", "Req", 3, requested_duration_seconds=5400),
        b.call("ASIAFASTREQUEST1", 100),
        b.assumed("ASIAFASTDEFAULT1", "Def", 4),
        b.assumed("ASIAFASTSWITCH01", "Switch", 4, via=AssumeVia.CONSOLE_SWITCH_ROLE),
        # recorded ends of every kind, tags and MFA
        *b.session(
            "ASIAFASTTAGGED01", "Tags", 5, session_tags={"team": "red"}, mfa_authenticated=True
        ),
        b.exited(50, session_id="ASIAFASTTAGGED01"),
        # sessions inferred from their calls: no caller, so no origin; an estimated start
        _inferred("ASIAFASTINFERRED", 6, start_estimated=True),
        b.issued("ASIAFASTINFERRED", 6),
        b.call("ASIAFASTINFERRED", 90),
        _inferred("ASIAFASTINFSWITCH", 6, lifecycle_key="alice|console"),
        b.issued("ASIAFASTINFSWITCH", 6),
        # a chain whose top session is not in the data
        *b.session("ASIAFASTCHILD001", "Child", 7, caller_key="ASIAFASTMISSING1"),
        # a chain resolved to its origin
        *b.session("ASIAFASTTOP00001", "Top", 8, caller_arn=ALICE),
        *b.session(
            "ASIAFASTMIDDLE01",
            "Middle",
            9,
            caller_key="ASIAFASTTOP00001",
            caller_arn="arn:aws:sts::111122223333:assumed-role/Top/s",
        ),
        # a key used before its recorded start
        b.call("ASIAFASTEARLY001", 10),
        *b.session("ASIAFASTEARLY001", "Early", 12),
    ]


@pytest.fixture(scope="module")
def q(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Queries]:
    from pipeline.log import FileLog
    from pipeline.materializer import materialize
    from pipeline.store import Store

    root = tmp_path_factory.mktemp("fast")
    log = FileLog(root / "log", partitions=4, fsync=False)
    log.append([*simulate(SIMULATED), *_edge_cases()])
    with Store(root / "db.duckdb") as s:
        materialize(log, s)
    log.close()
    with Queries.open(root / "db.duckdb") as queries:
        yield queries


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _plain_view(row: dict[str, Any]) -> SessionView:
    """A state row as a view, the plain way: every label from its function, validated."""
    times = {
        k: _aware(row[k])
        for k in ("started_at", "ends_at", "expires_at", "exited_at", "revoked_at", "last_used_at")
    }
    basis = row["expiry_basis"] or "recorded"
    ends_at = times["ends_at"]
    assert ends_at is not None
    ends_at_estimated, ends_at_basis = estimates.end_labels(
        estimates.EndFacts(
            end_reason=row["end_reason"],
            ends_at=ends_at,
            expires_at=times["expires_at"],
            expiry_basis=basis,
            requested_duration_seconds=row["requested_duration_seconds"],
            exited_at=times["exited_at"],
            revoked_at=times["revoked_at"],
            last_used_at=times["last_used_at"],
        )
    )
    started_at_basis = estimates.start_basis(
        start_estimated=bool(row["start_estimated"]),
        recorded_start=row["recorded_start"],
        first_used_at=row["first_used_at"],
    )
    values = {
        **{k: row[k] for k in SessionView.model_fields if k in row},
        **times,
        "origin_resolved": bool(row["origin_resolved"]),
        "origin_label": estimates.origin_label(
            origin_arn=row["origin_arn"],
            origin_type=row["origin_type"],
            resolved=bool(row["origin_resolved"]),
            top_via=row["origin_via"],
            top_session_name=row["origin_session_name"],
            top_lifecycle_key=row["origin_lifecycle_key"],
            missing_key=row["origin_missing_key"],
        ),
        "principal_label": estimates.principal_label(row["principal_arn"], row["via"]),
        "started_at_estimated": started_at_basis != "recorded",
        "started_at_basis": started_at_basis,
        "ends_at_estimated": ends_at_estimated,
        "ends_at_basis": ends_at_basis,
        "expiry_estimated": basis != "recorded",
        "session_tags": json.loads(row["session_tags"]) if row["session_tags"] else {},
    }
    for key in ("access_key_ids", "transitive_tag_keys", "session_policy_arns", "ancestor_ids"):
        values[key] = values[key] or []
    return SessionView.model_validate(values)


def _plain_answer(q: Queries, at: datetime) -> list[SessionView]:
    """Every session active at `at` in start order, read by name from every stored column."""
    head, params = state_sql(Selection(at=at), "*, coalesce(assumed_at, first_issued_at) AS rs")
    sql = head + " SELECT * FROM picked ORDER BY started_at, session_id"  # noqa: S608
    cursor = q.con.execute(sql, params)
    names = [d[0] for d in cursor.description or []]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    for r in rows:  # the stored columns under the names the read model gives them
        r.update(
            principal_arn=r["caller_arn"],
            principal_type=r["caller_type"],
            expires_at=r["expiry_at"],
            exited_at=min(
                (t for t in (r["exited_at"], r["console_exited_at"]) if t is not None),
                default=None,
            ),
            recorded_start=r["rs"],
            depth=r["depth"] or 0,
            ancestor_ids=r["ancestor_ids"] or [],
            origin_resolved=r["origin_resolved"] or False,
        )
    return [_plain_view(r) for r in rows]


def _moments(q: Queries) -> list[datetime]:
    span = q.time_range()
    assert span is not None
    step = (span[1] - span[0]) / 12
    edge = [b.at(m) for m in (5, 11, 15, 25, 45, 80, 95)]
    return [span[0] + step * i for i in range(1, 12)] + edge


def _same(fast: SessionView, plain: SessionView) -> None:
    assert fast.model_dump() == plain.model_dump()
    assert fast.model_dump(mode="json") == plain.model_dump(mode="json")
    assert fast.ancestor_ids == plain.ancestor_ids  # a field the dump leaves out
    for name in ("started_at", "ends_at", "expires_at", "exited_at", "revoked_at"):
        value = getattr(fast, name)
        assert value is None or value.utcoffset() == timedelta(0), name


def _kinds(view: SessionView) -> set[str]:
    """The label branches a view took."""
    return {
        f"end {view.end_reason}",
        f"end {view.ends_at_basis.split(':')[0]}",
        f"start {view.started_at_basis.split(':')[0]}",
        *(["used after its end"] if "last recorded use" in view.ends_at_basis else []),
        *(["requested duration"] if "requested duration" in view.ends_at_basis else []),
        *(["default duration"] if "default of" in view.ends_at_basis else []),
        *(["origin unknown"] if view.origin_label.startswith("unknown:") else []),
        *(["origin unknown beyond"] if view.origin_label.startswith("unknown beyond") else []),
        *(["principal unknown"] if view.principal_label.startswith("unknown") else []),
        *(["tags"] if view.session_tags else []),
        *(["chain"] if view.ancestor_ids else []),
    }


def test_every_field_of_every_session_equals_the_plain_view(q: Queries) -> None:
    kinds: set[str] = set()
    rows = 0
    for at in _moments(q):
        fast, plain = q.who_held(at=at), _plain_answer(q, at)
        assert [v.session_id for v in fast] == [v.session_id for v in plain]
        for f, p in zip(fast, plain, strict=True):
            _same(f, p)
            kinds |= _kinds(f)
        rows += len(fast)
    # the comparison covered many sessions and every branch of the labels
    assert rows > 1500
    assert kinds >= {
        "end expired",
        "end exited",
        "end revoked",
        "end recorded",
        "end estimated",
        "start recorded",
        "start estimated",
        "used after its end",
        "requested duration",
        "default duration",
        "origin unknown",
        "origin unknown beyond",
        "principal unknown",
        "tags",
        "chain",
    }


def test_the_edge_cases_take_their_branches(q: Queries) -> None:
    views = {v.session_id: v for v in q.who_held(at=b.at(11))}
    late = q.who_held(at=b.at(70))
    assert "after its recorded expiry" in next(
        v.ends_at_basis for v in late if v.session_id == "ASIAFASTLATEUSE1"
    )
    assert "after its recorded exit" in views["ASIAFASTLATEEXIT"].ends_at_basis
    assert views["ASIAFASTREQUEST1"].ends_at_basis.startswith("estimated: requested duration")
    assert "default of 1 h for AssumeRole" in views["ASIAFASTDEFAULT1"].ends_at_basis
    assert views["ASIAFASTINFERRED"].origin_label.startswith("unknown:")
    assert views["ASIAFASTINFERRED"].started_at_estimated
    assert views["ASIAFASTINFERRED"].principal_label.startswith("unknown:")
    assert "console switch-role by a user named s" in views["ASIAFASTINFSWITCH"].origin_label
    assert views["ASIAFASTCHILD001"].origin_label.startswith("unknown beyond")
    assert views["ASIAFASTMIDDLE01"].origin_label == ALICE
    assert views["ASIAFASTEARLY001"].started_at_basis.endswith("before its recorded start")
    revoked = q.who_held(at=b.at(30))
    assert "after its revocation" in next(
        v.ends_at_basis for v in revoked if v.session_id == "ASIAFASTLATEREV1"
    )


def test_pages_and_streams_are_the_same_views(q: Queries) -> None:
    at = _moments(q)[5]
    every = q.who_held(at=at)
    assert list(q.who_held_stream(at=at)) == every
    page = q.who_held_page(at=at, limit=100, offset=50)
    assert page.sessions == every[50:150] and page.total == len(every)


def test_a_view_is_a_model_like_any_other(q: Queries) -> None:
    view = q.who_held(at=b.at(11))[0]
    assert view.model_fields_set == set(SessionView.model_fields)
    copied = view.model_copy(update={"source_ip": "192.0.2.1"})
    assert copied.source_ip == "192.0.2.1" and view.source_ip != "192.0.2.1"
    view.access_key_ids.append("mine")  # each view owns its lists
    assert all(v.access_key_ids != ["mine"] for v in q.who_held(at=b.at(11)))


def test_the_row_layout_is_the_state_query_s(q: Queries) -> None:
    head, params = state_sql(Selection(at=b.at(11)))
    cursor = q.con.execute(head + " SELECT * FROM picked LIMIT 0", params)  # noqa: S608
    assert tuple(d[0] for d in cursor.description or []) == COLUMN_NAMES


def test_the_collector_is_left_as_the_caller_had_it(q: Queries) -> None:
    at = b.at(11)
    assert gc.isenabled()
    q.who_held(at=at)
    list(q.who_held_stream(at=at))
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        q.who_held(at=at)
        assert not gc.isenabled()
    finally:
        gc.enable()
    gc.freeze()  # an application's own frozen objects stay frozen
    try:
        frozen = gc.get_freeze_count()
        q.who_held(at=at)
        # Not unfrozen (an unfreeze empties the count) and nothing added; a frozen object
        # that another test's thread lets go of meanwhile may lower it.
        assert 0 < gc.get_freeze_count() <= frozen and gc.isenabled()
    finally:
        gc.unfreeze()
