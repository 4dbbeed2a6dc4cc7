"""Replay reads: the state at a moment, the sessions of a window, and its lifecycle events.

Part of the query layer (the dashboard and `rolecall replay` reach it through thin
methods of `Queries`). It composes the same session-state SQL as `queries.py`, so a
session's start, end and end reason come out identical in every view. Every value a
user supplies travels as a `?` parameter; only constant fragments are formatted in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, field_serializer

from pipeline.errors import InputError
from pipeline.lookups import role_condition
from pipeline.queries import (
    _COLUMNS,
    _STATE,
    SessionView,
    _rows,
    resolve_callers,
    session_view,
    with_origin,
)
from pipeline.timeutil import iso, naive, to_utc

LaneKind = Literal["principal", "role"]

# Above this many sessions a window is drawn as counts per time bucket, not one bar each.
MAX_TIMELINE_BARS = 400
DEFAULT_BUCKETS = 120


@dataclass(frozen=True, kw_only=True)
class SessionFilter:
    """What an investigator narrows a replay to; `None` means any."""

    account_id: str | None = None
    role_arn: str | None = None
    principal: str | None = None  # the caller, the origin or the session ARN
    via: str | None = None

    def base_sql(self) -> tuple[list[str], list[Any]]:
        """Conditions on the sessions table itself (cheap: before chains are resolved)."""
        where: list[str] = []
        params: list[Any] = []
        if self.account_id:
            where.append("account_id = ?")
            params.append(self.account_id)
        if self.role_arn:
            sql, args = role_condition(self.role_arn, strict=False)
            where.append(sql)
            params += args
        if self.via:
            where.append("via = ?")
            params.append(self.via.upper())
        return where, params


class ActiveSessions(BaseModel):
    """The sessions active at a moment (the first `limit` of `total`)."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    total: int
    sessions: list[SessionView]

    @field_serializer("at")
    def _iso(self, value: datetime) -> str | None:
        return iso(value)


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

    time: datetime
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

    @field_serializer("time")
    def _iso(self, value: datetime) -> str | None:
        return iso(value)


class Facets(BaseModel):
    """The values a filter can take, for the dashboard's menus."""

    accounts: list[str]
    roles: list[str]
    vias: list[str]


def _check_window(start: datetime, end: datetime) -> None:
    if end <= start:
        raise InputError(f"the window must end after it starts ({iso(start)} -> {iso(end)})")


def _resolved_sessions(
    con: duckdb.DuckDBPyConnection,
    where: list[str],
    params: list[Any],
    picked_where: str,
    picked_params: list[Any],
    principal: str | None,
    *,
    order: str,
    limit: int | None,
) -> tuple[int, list[SessionView]]:
    """Sessions with their chains resolved, filtered by principal/origin, and their count.

    `where` filters the sessions table's plain columns (zone maps); `picked_where` the
    derived state (ends after revocations). A principal filter matches the caller, the
    session ARN or the origin; the origin is known only once the chain is walked, so with
    one every candidate is resolved before the limit applies.
    """
    sql = (
        _STATE.format(where=" AND ".join(where) or "TRUE")
        + f", picked AS (SELECT {_COLUMNS} FROM state WHERE {picked_where}) "
        + f"SELECT *, count(*) OVER () AS total FROM picked ORDER BY {order}"
        + (" LIMIT ?" if limit is not None and principal is None else "")
    )
    args = [*params, *picked_params, *([limit] if limit is not None and principal is None else [])]
    rows = _rows(con.execute(sql, args))
    total = int(rows[0]["total"]) if rows else 0
    callers = resolve_callers(con, {r["caller_access_key_id"] for r in rows})
    resolved = [with_origin({k: v for k, v in r.items() if k != "total"}, callers) for r in rows]
    if principal:
        resolved = [
            r
            for r in resolved
            if principal in (r["principal_arn"], r["origin_arn"], r["session_arn"])
        ]
        total = len(resolved)
        resolved = resolved[:limit] if limit is not None else resolved
    return total, [session_view(r) for r in resolved]


def active_sessions(
    con: duckdb.DuckDBPyConnection,
    at: datetime,
    flt: SessionFilter = SessionFilter(),
    *,
    limit: int | None = 200,
) -> ActiveSessions:
    """Sessions whose `[started_at, ends_at)` holds `at`, newest first."""
    t = naive(at)
    where, params = flt.base_sql()
    where = ["started_at <= ?", "base_ends_at > ?", *where]
    total, sessions = _resolved_sessions(
        con,
        where,
        [t, t, *params],
        "ends_at > ?",
        [t],
        flt.principal,
        order="started_at DESC, session_id",
        limit=limit,
    )
    return ActiveSessions(at=to_utc(at), total=total, sessions=sessions)


def replay_events(
    con: duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    flt: SessionFilter = SessionFilter(),
) -> list[ReplayEvent]:
    """Every session start and end inside `[start, end)`, in time order."""
    _check_window(start, end)
    s, e = naive(start), naive(end)
    where, params = flt.base_sql()
    # A session matters if it starts or ends in the window; revocations only shorten it,
    # so its end before revocations bounds the scan and the state gives the exact end.
    where = ["started_at < ?", "base_ends_at >= ?", *where]
    _, sessions = _resolved_sessions(
        con,
        where,
        [e, s, *params],
        "(started_at >= ? AND started_at < ?) OR (ends_at >= ? AND ends_at < ?)",
        [s, e, s, e],
        flt.principal,
        order="started_at, session_id",
        limit=None,
    )
    kinds: dict[str, Any] = {"exited": "exit", "expired": "expiry", "revoked": "revocation"}
    out: list[ReplayEvent] = []
    for v in sessions:
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
    con: duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    flt: SessionFilter = SessionFilter(),
    *,
    lane: LaneKind = "principal",
    max_bars: int = MAX_TIMELINE_BARS,
    buckets: int = DEFAULT_BUCKETS,
) -> Timeline:
    """The sessions overlapping a window, as bars (few) or counts per bucket (many).

    The principal filter here matches the caller or the session ARN, not the origin: a
    window can hold far more sessions than a moment, and resolving every chain of it would
    cost more than the picture is worth.
    """
    _check_window(start, end)
    s, e = naive(start), naive(end)
    where, params = flt.base_sql()
    where = ["started_at < ?", "base_ends_at > ?", *where]
    params = [e, s, *params]
    picked, picked_params = "ends_at > ?", list[Any]([s])
    if flt.principal:
        picked += " AND (caller_arn = ? OR session_arn = ?)"
        picked_params += [flt.principal, flt.principal]
    lane_col = (
        "coalesce(caller_arn, 'unknown principal')"
        if lane == "principal"
        else "coalesce(role_arn, '(no role)')"
    )
    head = (
        _STATE.format(where=" AND ".join(where))
        + f", picked AS (SELECT * FROM state WHERE {picked})"
    )
    total = 0
    if max_bars > 0:
        row = con.execute(head + " SELECT count(*) FROM picked", [*params, *picked_params])
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
                [*params, *picked_params],
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
    total, buckets_ = _buckets(con, head, [*params, *picked_params], s, e, width)
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


def sessions_of(
    con: duckdb.DuckDBPyConnection, flt: SessionFilter, *, limit: int = 200
) -> tuple[int, list[SessionView]]:
    """Every session matching `flt` over the whole history, newest first."""
    where, params = flt.base_sql()
    return _resolved_sessions(
        con,
        where,
        params,
        "TRUE",
        [],
        flt.principal,
        order="started_at DESC, session_id",
        limit=limit,
    )


def data_version(con: duckdb.DuckDBPyConnection) -> int:
    """Grows whenever the materializer applies a batch: a cache key for derived pictures."""
    row = con.execute("SELECT coalesce(sum(next_offset), 0) FROM positions").fetchone()
    return int(row[0]) if row else 0
