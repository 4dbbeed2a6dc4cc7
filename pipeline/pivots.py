"""Pivots: from any clue an investigator holds (an IAM user, an access key, a source IP,
a role) to what is behind it: its sessions, the keys used, its calls over time, its
findings.

One question per clue, answered by a `Pivot`. A clue the store has never seen is a
`NotFoundError`, not an empty answer. Calls are counted in time buckets (about 60 over
the clue's span, on whole minutes, hours or days) so a long history draws as one chart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict

from pipeline.errors import InputError, NotFoundError
from pipeline.findings import Finding
from pipeline.findings.reading import read_findings
from pipeline.investigation import ACTION_COLUMNS, ActionView, action_view, is_temporary_key
from pipeline.lookups import access_key, role_condition
from pipeline.sessions import Selection, SessionFilter, SessionReader, SessionView
from pipeline.timeutil import UtcIso, naive, to_utc

PivotKind = Literal["user", "key", "ip", "role"]
KINDS: tuple[PivotKind, ...] = ("user", "key", "ip", "role")
SESSIONS_SHOWN = 200
ACTIONS_SHOWN = 100
FINDINGS_READ = 10_000  # findings are few; read once and matched here
_BUCKETS = (60, 300, 900, 3600, 6 * 3600, 86_400, 7 * 86_400)  # seconds
_TARGET_BUCKETS = 60


class KeyUse(BaseModel):
    """An access key seen with the clue: its calls and, for a temporary key, its session."""

    model_config = ConfigDict(frozen=True)

    access_key_id: str
    session_id: str | None  # None for a long-term key, or a key no session claims
    first_at: UtcIso
    last_at: UtcIso
    calls: int
    denied: int


class ActivityBucket(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: UtcIso
    allowed: int
    denied: int


class Pivot(BaseModel):
    """What stands behind one clue."""

    model_config = ConfigDict(frozen=True)

    kind: PivotKind
    value: str  # the clue as the store names it (a key upper-cased, an ARN as given)
    label: str  # what it is, in words: "IAM user alice", "long-term key of ..."
    principal_arn: str | None  # the IAM user behind a user or a long-term key
    sessions_total: int
    sessions: list[SessionView]  # newest first, at most SESSIONS_SHOWN
    keys: list[KeyUse]  # most calls first
    actions_total: int
    denied_total: int
    actions: list[ActionView]  # the newest, at most ACTIONS_SHOWN, newest first
    bucket_seconds: int
    activity: list[ActivityBucket]  # calls per bucket, allowed and denied, in time order
    findings: list[Finding]  # newest first


def pivot(con: duckdb.DuckDBPyConnection, reader: SessionReader, kind: str, value: str) -> Pivot:
    """The pivot on one clue (`kind` one of user, key, ip, role)."""
    text = value.strip()
    if not text:
        raise InputError(f"give the {kind} to pivot on")
    if kind == "user":
        return _user(con, reader, text)
    if kind == "key":
        return _key(con, reader, access_key(text))
    if kind == "ip":
        return _ip(con, reader, text)
    if kind == "role":
        return _role(con, reader, text)
    raise InputError(f"unknown pivot {kind!r}: one of {', '.join(KINDS)}")


# -- each clue: which sessions, which calls ------------------------------------------


def _user(con: duckdb.DuckDBPyConnection, reader: SessionReader, arn: str) -> Pivot:
    if not (arn.startswith("arn:") and (":user/" in arn or arn.endswith(":root"))):
        raise InputError(
            f"not an IAM user's ARN: {arn[:80]!r} (e.g. arn:aws:iam::111122223333:user/alice)"
        )
    total, sessions = _sessions(reader, SessionFilter(principal=arn))
    # Its own calls (long-term keys, console) and those of the sessions it began.
    where = (
        "(a.principal_arn = ? OR a.sid IN (SELECT session_id FROM sessions WHERE caller_arn = ?))"
    )
    calls = _Calls(con, where, [arn, arn])
    if not total and not calls.total:
        raise NotFoundError(f"no session and no call of IAM user {arn!r} in the store")
    name = arn.split(":", 5)[-1]
    return _answer(con, "user", arn, f"IAM {name}", arn, total, sessions, calls)


def _key(con: duckdb.DuckDBPyConnection, reader: SessionReader, key: str) -> Pivot:
    calls = _Calls(con, "a.access_key_id = ?", [key])
    if is_temporary_key(key):
        # `key_owner`'s rule (the least session id) through the index on credentials
        owner = con.execute(
            "SELECT min(session_id) FROM credentials WHERE access_key_id = ? HAVING count(*) > 0",
            [key],
        ).fetchone()
        held = reader.get(str(owner[0])) if owner else None
        sessions = [held] if held else []
        total = len(sessions)
        label = f"temporary key of session {held.session_id}" if held else "temporary key"
        principal = held.principal_arn if held else None
    else:
        total, sessions = _sessions_where(reader, Selection(caller_access_key_id=key))
        principal = next((s.principal_arn for s in sessions if s.principal_arn), None)
        principal = principal or calls.first_principal()
        label = f"long-term key of {principal}" if principal else "long-term key"
    if not total and not calls.total:
        raise NotFoundError(f"key {key!r} held no session and made no recorded call")
    return _answer(con, "key", key, label, principal, total, sessions, calls)


def _ip(con: duckdb.DuckDBPyConnection, reader: SessionReader, address: str) -> Pivot:
    calls = _Calls(con, "a.source_ip = ?", [address])
    # Sessions begun from the address, and sessions whose keys called from it.
    ids = [
        str(r[0])
        for r in con.execute(
            "SELECT session_id FROM sessions WHERE source_ip = ? UNION "
            "SELECT DISTINCT coalesce(a.session_id, k.session_id) FROM actions a "
            "LEFT JOIN key_owner k USING (access_key_id) "
            "WHERE a.source_ip = ? AND coalesce(a.session_id, k.session_id) IS NOT NULL",
            [address, address],
        ).fetchall()
    ]
    total, sessions = _sessions_where(reader, Selection(session_ids=ids)) if ids else (0, [])
    if not total and not calls.total:
        raise NotFoundError(f"no session began and no call came from {address!r}")
    return _answer(con, "ip", address, f"source IP {address}", None, total, sessions, calls)


def _role(con: duckdb.DuckDBPyConnection, reader: SessionReader, role: str) -> Pivot:
    condition, params = role_condition(role)
    found = con.execute(
        f"SELECT any_value(role_arn) FROM sessions WHERE {condition}",  # noqa: S608
        params,
    ).fetchone()
    if not found or found[0] is None:
        raise NotFoundError(f"no session of role {role!r} in the store")
    arn = str(found[0])
    total, sessions = _sessions(reader, SessionFilter(role_arn=arn))
    calls = _Calls(
        con,
        f"a.sid IN (SELECT session_id FROM sessions WHERE {condition})",  # noqa: S608
        list(params),
    )
    name = arn.split(":", 5)[-1]
    return _answer(con, "role", arn, name, None, total, sessions, calls)


# -- shared ---------------------------------------------------------------------------


def _sessions(reader: SessionReader, flt: SessionFilter) -> tuple[int, list[SessionView]]:
    return _sessions_where(reader, Selection(filter=flt))


def _sessions_where(reader: SessionReader, sel: Selection) -> tuple[int, list[SessionView]]:
    newest = Selection(
        filter=sel.filter,
        session_ids=sel.session_ids,
        caller_access_key_id=sel.caller_access_key_id,
        order="newest",
    )
    page = reader.page(newest, limit=SESSIONS_SHOWN)
    return page.total, page.sessions


# Every call with the session its key belongs to (`sid`), then the clue's condition.
_CALLS = (
    "WITH a AS (SELECT a.*, coalesce(a.session_id, k.session_id) AS sid FROM actions a "
    "LEFT JOIN key_owner k USING (access_key_id)) "
)


class _Calls:
    """The calls a condition picks: counted, bucketed, the newest listed, keys summed."""

    def __init__(self, con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> None:
        self.con, self.where, self.params = con, where, params
        row = con.execute(
            _CALLS + "SELECT count(*), count(*) FILTER (WHERE outcome <> 'ALLOWED'), "  # noqa: S608 (constant SQL, bound values)
            f"min(event_time), max(event_time) FROM a WHERE {where}",
            params,
        ).fetchone()
        assert row is not None
        self.total, self.denied = int(row[0]), int(row[1])
        self.span = (to_utc(row[2]), to_utc(row[3])) if row[2] is not None else None

    def first_principal(self) -> str | None:
        row = self.con.execute(
            _CALLS + f"SELECT any_value(principal_arn) FROM a WHERE {self.where} "  # noqa: S608 (constant SQL, bound values)
            "AND principal_arn IS NOT NULL",
            self.params,
        ).fetchone()
        return str(row[0]) if row and row[0] else None

    def newest(self) -> list[ActionView]:
        cur = self.con.execute(
            _CALLS + f"SELECT {ACTION_COLUMNS} FROM a WHERE {self.where} "  # noqa: S608 (constant SQL, bound values)
            f"ORDER BY event_time DESC, event_id LIMIT {ACTIONS_SHOWN}",
            self.params,
        )
        names = [d[0] for d in cur.description or []]
        return [action_view(dict(zip(names, r, strict=True))) for r in cur.fetchall()]

    def keys(self) -> list[KeyUse]:
        rows = self.con.execute(
            _CALLS + "SELECT access_key_id, any_value(sid), min(event_time), max(event_time), "  # noqa: S608 (constant SQL, bound values)
            "count(*), count(*) FILTER (WHERE outcome <> 'ALLOWED') "
            f"FROM a WHERE {self.where} AND access_key_id IS NOT NULL "
            "GROUP BY access_key_id ORDER BY count(*) DESC, access_key_id LIMIT 100",
            self.params,
        ).fetchall()
        return [
            KeyUse(
                access_key_id=str(r[0]),
                session_id=str(r[1]) if r[1] and is_temporary_key(str(r[0])) else None,
                first_at=to_utc(r[2]),
                last_at=to_utc(r[3]),
                calls=int(r[4]),
                denied=int(r[5]),
            )
            for r in rows
        ]

    def activity(self) -> tuple[int, list[ActivityBucket]]:
        if self.span is None:
            return _BUCKETS[0], []
        seconds = bucket_seconds(self.span[0], self.span[1])
        rows = self.con.execute(
            _CALLS + "SELECT epoch(event_time)::BIGINT // ? * ? AS b, "  # noqa: S608 (constant SQL, bound values)
            "count(*) FILTER (WHERE outcome = 'ALLOWED'), "
            "count(*) FILTER (WHERE outcome <> 'ALLOWED') "
            f"FROM a WHERE {self.where} GROUP BY b ORDER BY b",
            [seconds, seconds, *self.params],
        ).fetchall()
        return seconds, [
            ActivityBucket(start=datetime.fromtimestamp(int(r[0]), UTC), allowed=r[1], denied=r[2])
            for r in rows
        ]


def bucket_seconds(start: datetime, end: datetime) -> int:
    """The smallest bucket that draws `start`..`end` in about 60 bars or fewer."""
    span = (end - start).total_seconds()
    return next((b for b in _BUCKETS if span / b <= _TARGET_BUCKETS), _BUCKETS[-1])


def _answer(
    con: duckdb.DuckDBPyConnection,
    kind: PivotKind,
    value: str,
    label: str,
    principal: str | None,
    total: int,
    sessions: list[SessionView],
    calls: _Calls,
) -> Pivot:
    seconds, activity = calls.activity()
    keys = calls.keys()
    return Pivot(
        kind=kind,
        value=value,
        label=label,
        principal_arn=principal,
        sessions_total=total,
        sessions=sessions,
        keys=keys,
        actions_total=calls.total,
        denied_total=calls.denied,
        actions=calls.newest(),
        bucket_seconds=seconds,
        activity=activity,
        findings=_findings(con, kind, value, sessions, keys),
    )


def _findings(
    con: duckdb.DuckDBPyConnection,
    kind: PivotKind,
    value: str,
    sessions: list[SessionView],
    keys: list[KeyUse],
) -> list[Finding]:
    """Findings about the clue's sessions, its principal, or its keys' sessions."""
    ids = {s.session_id for s in sessions} | {k.session_id for k in keys if k.session_id}
    arns = {value} if kind in ("user", "role") else set()
    arns |= {s.principal_arn for s in sessions if kind == "key" and s.principal_arn}
    return [
        f
        for f in read_findings(con, limit=FINDINGS_READ)
        if (f.session_id in ids)
        or (f.principal_arn in arns)
        or (kind == "user" and f.origin_arn == value)
    ]


class CallMark(BaseModel):
    """One call on a time axis: when, by which session, allowed or not."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    event_time: UtcIso
    action: str
    allowed: bool


def calls_of_sessions(
    con: duckdb.DuckDBPyConnection,
    session_ids: list[str],
    start: datetime,
    end: datetime,
    *,
    limit: int = 5000,
) -> list[CallMark]:
    """The calls made with these sessions' keys in `[start, end)`, in time order (at
    most `limit`, the earliest)."""
    if not session_ids:
        return []
    rows = con.execute(
        _CALLS + "SELECT sid, event_time, action, outcome = 'ALLOWED' FROM a "  # noqa: S608 (constant SQL)
        "WHERE sid IN (SELECT unnest(?)) AND event_time >= ? AND event_time < ? "
        "ORDER BY event_time, event_id LIMIT ?",
        [session_ids, naive(start), naive(end), limit],
    ).fetchall()
    return [
        CallMark(
            session_id=str(r[0]), event_time=to_utc(r[1]), action=str(r[2]), allowed=bool(r[3])
        )
        for r in rows
    ]
