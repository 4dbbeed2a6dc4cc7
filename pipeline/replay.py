"""Replay reads: the state at a moment, the sessions of a window, and its lifecycle events.

Part of the query layer (the dashboard and `rolecall replay` reach it through thin
methods of `Queries`). It asks the session read model (`pipeline.sessions`) for its
sessions, so a session's start, end, end reason and origin come out identical in every
view. Every value a user supplies travels as a `?` parameter; only constant fragments
are formatted in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict

from pipeline.errors import InputError
from pipeline.sessions import Selection, SessionFilter, SessionReader, SessionView, state_sql
from pipeline.timeutil import UtcIso, iso, naive, to_utc

__all__ = [
    "ActiveSessions",
    "ActivityBucket",
    "Facets",
    "LaneKind",
    "ReplayEvent",
    "SessionFilter",
    "Timeline",
    "TimelineBar",
    "active_sessions",
    "data_version",
    "facets",
    "replay_events",
    "timeline",
]

LaneKind = Literal["principal", "role"]
ANY_SESSION = SessionFilter()

# Above this many sessions a window is drawn as counts per time bucket, not one bar each.
MAX_TIMELINE_BARS = 400
DEFAULT_BUCKETS = 120


class ActiveSessions(BaseModel):
    """The sessions active at a moment (the first `limit` of `total`)."""

    model_config = ConfigDict(frozen=True)

    at: UtcIso
    total: int
    sessions: list[SessionView]


class TimelineBar(BaseModel):
    model_config = ConfigDict(frozen=True)

    session_id: str
    lane: str
    role_arn: str | None
    principal_arn: str | None
    via: str | None
    started_at: datetime
    ends_at: datetime
    end_reason: str


class ActivityBucket(BaseModel):
    """How many sessions were active during `[start, start + width)`, per way of assuming."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    via: str
    sessions: int


class Timeline(BaseModel):
    """A window's sessions: one bar each when few, else counts per bucket."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    total: int
    bars: list[TimelineBar]
    buckets: list[ActivityBucket]
    bucket_seconds: int
    revocations: list[tuple[datetime, str]]

    @property
    def aggregated(self) -> bool:
        return not self.bars and self.total > 0


class ReplayEvent(BaseModel):
    """One line of `rolecall replay`: a session starting or ending."""

    model_config = ConfigDict(frozen=True)

    time: UtcIso
    kind: Literal["start", "exit", "expiry", "revocation"]
    session_id: str
    role_arn: str | None
    principal_arn: str | None
    origin_arn: str | None
    via: str | None
    principal_label: str = ""
    origin_label: str = ""
    # For an end: whether its time is an estimate, and what it rests on.
    estimated: bool = False
    basis: str = "recorded"


class Facets(BaseModel):
    """The values a filter can take, for the dashboard's menus."""

    accounts: list[str]
    roles: list[str]
    vias: list[str]


def _rows(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _check_window(start: datetime, end: datetime) -> None:
    if end <= start:
        raise InputError(f"the window must end after it starts ({iso(start)} -> {iso(end)})")


def active_sessions(
    sessions: SessionReader,
    at: datetime,
    flt: SessionFilter = ANY_SESSION,
    *,
    limit: int | None = 200,
) -> ActiveSessions:
    """Sessions whose `[started_at, ends_at)` holds `at`, newest first (a page of the total)."""
    page = sessions.page(Selection(filter=flt, at=to_utc(at), order="newest"), limit=limit)
    return ActiveSessions(at=to_utc(at), total=page.total, sessions=page.sessions)


def replay_events(
    sessions: SessionReader,
    start: datetime,
    end: datetime,
    flt: SessionFilter = ANY_SESSION,
) -> list[ReplayEvent]:
    """Every session start and end inside `[start, end)`, in time order."""
    _check_window(start, end)
    changing = Selection(filter=flt, changing=(to_utc(start), to_utc(end)))
    kinds: dict[str, Any] = {"exited": "exit", "expired": "expiry", "revoked": "revocation"}
    out: list[ReplayEvent] = []
    for v in sessions.stream(changing):
        common = {
            "session_id": v.session_id,
            "role_arn": v.role_arn,
            "principal_arn": v.principal_arn,
            "origin_arn": v.origin_arn,
            "via": v.via,
            "principal_label": v.principal_label,
            "origin_label": v.origin_label,
        }
        if start <= v.started_at < end:
            out.append(
                ReplayEvent(
                    time=v.started_at,
                    kind="start",
                    estimated=v.started_at_estimated,
                    basis=v.started_at_basis,
                    **common,
                )
            )
        if start <= v.ends_at < end:
            out.append(
                ReplayEvent(
                    time=v.ends_at,
                    kind=kinds[v.end_reason],
                    estimated=v.ends_at_estimated,
                    basis=v.ends_at_basis,
                    **common,
                )
            )
    order = {"start": 1, "exit": 0, "expiry": 0, "revocation": 0}
    return sorted(out, key=lambda r: (r.time, order[r.kind], r.session_id))


def timeline(
    sessions: SessionReader,
    start: datetime,
    end: datetime,
    flt: SessionFilter = ANY_SESSION,
    *,
    lane: LaneKind = "principal",
    max_bars: int = MAX_TIMELINE_BARS,
    buckets: int = DEFAULT_BUCKETS,
) -> Timeline:
    """The sessions overlapping a window, as bars (few) or counts per bucket (many).

    The principal filter matches the caller, the session ARN or the stored origin (in a
    directory store, not an origin completed across partition files: see
    `pipeline.sessions`).
    """
    _check_window(start, end)
    con = sessions.con
    s, e = naive(start), naive(end)
    head, params = state_sql(
        Selection(filter=flt, overlapping=(to_utc(start), to_utc(end))),
        "session_id, caller_arn, role_arn, via, started_at, ends_at, end_reason",
        spans_files=sessions.spans_files,
    )
    lane_col = (
        "coalesce(caller_arn, 'unknown principal')"
        if lane == "principal"
        else "coalesce(role_arn, '(no role)')"
    )
    total = 0
    if max_bars > 0:
        row = con.execute(head + " SELECT count(*) FROM picked", params)
        total = int((row.fetchone() or (0,))[0])
    revocations = [
        (to_utc(r[0]), str(r[1]))
        for r in con.execute(
            "SELECT event_time, role_arn FROM revocations WHERE event_time >= ? AND event_time < ? "
            + ("AND role_arn = ? " if flt.role_arn else "")
            + "ORDER BY event_time",
            [s, e, *([flt.role_arn] if flt.role_arn else [])],
        ).fetchall()
    ]
    width = max(60, int((end - start).total_seconds() // buckets))
    if max_bars > 0 and total <= max_bars:
        rows = _rows(
            con.execute(
                head + f" SELECT session_id, {lane_col} AS lane, role_arn, "
                "caller_arn AS principal_arn, via, started_at, ends_at, end_reason FROM picked "
                "ORDER BY lane, started_at, session_id",
                params,
            )
        )
        bars = [
            TimelineBar.model_validate(
                {**r, "started_at": to_utc(r["started_at"]), "ends_at": to_utc(r["ends_at"])}
            )
            for r in rows
        ]
        return Timeline(
            start=to_utc(start),
            end=to_utc(end),
            total=total,
            bars=bars,
            buckets=[],
            bucket_seconds=width,
            revocations=revocations,
        )
    total, buckets_ = _buckets(con, head, params, s, e, width)
    return Timeline(
        start=to_utc(start),
        end=to_utc(end),
        total=total,
        bars=[],
        buckets=buckets_,
        bucket_seconds=width,
        revocations=revocations,
    )


def _buckets(
    con: duckdb.DuckDBPyConnection,
    head: str,
    params: list[Any],
    start: datetime,
    end: datetime,
    width: int,
) -> tuple[int, list[ActivityBucket]]:
    """Sessions active during each bucket, counted by bucket index arithmetic (no range join).

    Also returns how many sessions the window holds, from the same scan.
    """
    sql = (
        head
        + """
        , spans AS (
            SELECT coalesce(via, 'unknown') AS via,
                   greatest(0, floor(epoch(started_at - ?::TIMESTAMP) / ?))::BIGINT AS first_b,
                   least(floor(epoch(ends_at - ?::TIMESTAMP) / ?),
                         floor(epoch(?::TIMESTAMP - ?::TIMESTAMP) / ?) - 1)::BIGINT AS last_b,
                   count(*) OVER () AS total
            FROM picked
        )
        SELECT b, via, count(*) AS n, any_value(total) AS total
        FROM (SELECT via, total, unnest(range(first_b, last_b + 1)) AS b FROM spans)
        GROUP BY b, via ORDER BY b, via
        """
    )
    args = [*params, start, width, start, width, end, start, width]
    rows = con.execute(sql, args).fetchall()
    buckets = [
        ActivityBucket(start=to_utc(start + timedelta(seconds=int(b) * width)), via=v, sessions=n)
        for b, v, n, _total in rows
    ]
    return (int(rows[0][3]) if rows else 0), buckets


def facets(con: duckdb.DuckDBPyConnection) -> Facets:
    def distinct(column: str) -> list[str]:
        return [
            str(r[0])
            for r in con.execute(
                f"SELECT DISTINCT {column} FROM sessions WHERE {column} IS NOT NULL ORDER BY 1"
            ).fetchall()
        ]

    return Facets(accounts=distinct("account_id"), roles=distinct("role_arn"), vias=distinct("via"))


def data_version(con: duckdb.DuckDBPyConnection) -> int:
    """Grows whenever the materializer applies a batch: a cache key for derived pictures."""
    row = con.execute("SELECT coalesce(sum(next_offset), 0) FROM positions").fetchone()
    return int(row[0]) if row else 0
