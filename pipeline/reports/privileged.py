"""The privileged-access report: every session that held a power in a period, with its
principal, origin, role, account, how assumed, start, end, MFA, source IPs and calls, and
a summary per origin."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from pipeline import __version__
from pipeline.evidence import digest, ledgers, store_meta
from pipeline.evidence.chain import digest_document
from pipeline.queries import Queries
from pipeline.reports.model import (
    REPORT_FORMAT,
    Evidence,
    KnownAt,
    OriginSummary,
    Report,
    ReportSession,
    Undecided,
)
from pipeline.reports.privilege import ROW_COLUMNS, Privilege, grants
from pipeline.sessions import Selection, SessionView, state_sql
from pipeline.timeutil import naive, to_utc


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        from pipeline.errors import InputError

        if not to_utc(self.start) < to_utc(self.end):
            raise InputError("the period is empty: --from must be before --to")


def _views(q: Queries, ids: list[str]) -> dict[str, SessionView]:
    out: dict[str, SessionView] = {}
    for i in range(0, len(ids), 5000):
        for v in q.sessions.stream(Selection(session_ids=ids[i : i + 5000])):
            out[v.session_id] = v
    return out


def privileged_sessions(
    q: Queries, period: Period, privilege: Privilege
) -> tuple[list[tuple[SessionView, str]], list[Undecided]]:
    """Sessions active during part of the period that held the power at their start (with
    what they could do), and those whose power could not be decided.

    Only the stored columns the decision depends on are read for every session; whole
    views are built for one session per group of alike ones, and for the answer.
    """
    selection = Selection(overlapping=(to_utc(period.start), to_utc(period.end)))
    head, params = state_sql(selection, ROW_COLUMNS, spans_files=q.sessions.spans_files)
    rows = q.con.execute(head + " SELECT * FROM picked", params).fetchall()  # noqa: S608
    decided = grants(q.con, rows, privilege, lambda ids: _views(q, ids))
    held_ids = sorted(sid for sid, g in decided.items() if g.held)
    open_ids = sorted(sid for sid, g in decided.items() if g.undecided)
    views = _views(q, held_ids + open_ids)
    held = [(views[sid], decided[sid].basis) for sid in held_ids if sid in views]
    undecided = [
        Undecided(
            session_id=sid,
            role_arn=views[sid].role_arn,
            origin_label=views[sid].origin_label,
            reason=decided[sid].basis,
        )
        for sid in open_ids
        if sid in views
    ]
    return held, undecided


_CALLS = """
WITH ids AS (SELECT unnest(?::VARCHAR[]) AS session_id),
keys AS (
    SELECT DISTINCT c.session_id, c.access_key_id FROM credentials c JOIN ids USING (session_id)
),
hits AS (
    SELECT k.session_id, a.event_id, a.outcome, a.source_ip
    FROM actions a JOIN keys k ON a.access_key_id = k.access_key_id
    WHERE a.event_time >= ? AND a.event_time < ?
    UNION
    SELECT a.session_id, a.event_id, a.outcome, a.source_ip
    FROM actions a JOIN ids USING (session_id)
    WHERE a.event_time >= ? AND a.event_time < ?
)
SELECT session_id, count(DISTINCT event_id),
       count(DISTINCT event_id) FILTER (WHERE outcome = 'DENIED'),
       list(DISTINCT source_ip ORDER BY source_ip) FILTER (WHERE source_ip IS NOT NULL)
FROM hits GROUP BY session_id
"""


def _calls(
    con: duckdb.DuckDBPyConnection, ids: list[str], period: Period
) -> dict[str, tuple[int, int, list[str]]]:
    """Per session: its recorded calls in the period, the denied ones, and their addresses."""
    if not ids:
        return {}
    s, e = naive(period.start), naive(period.end)
    rows = con.execute(_CALLS, [ids, s, e, s, e]).fetchall()
    return {r[0]: (int(r[1]), int(r[2]), list(r[3] or [])) for r in rows}


def report_session(
    view: SessionView, basis: str, calls: tuple[int, int, list[str]]
) -> ReportSession:
    count, denied, ips = calls
    addresses = sorted({*ips, *([view.source_ip] if view.source_ip else [])})
    return ReportSession(
        session_id=view.session_id,
        principal_arn=view.principal_arn,
        principal_label=view.principal_label,
        origin_arn=view.origin_arn if view.origin_resolved else None,
        origin_label=view.origin_label,
        origin_resolved=view.origin_resolved,
        role_arn=view.role_arn,
        account_id=view.account_id,
        via=view.via,
        started_at=view.started_at,
        started_at_estimated=view.started_at_estimated,
        started_at_basis=view.started_at_basis,
        ends_at=view.ends_at,
        ends_at_estimated=view.ends_at_estimated,
        ends_at_basis=view.ends_at_basis,
        end_reason=view.end_reason,
        mfa_authenticated=view.mfa_authenticated,
        source_ips=addresses,
        actions=count,
        denied_actions=denied,
        privilege=basis,
    )


def origin_summaries(sessions: Iterable[ReportSession], period: Period) -> list[OriginSummary]:
    """One row per origin: its sessions, the hours it held the power (the union of its
    sessions' intervals within the period), and how many went without MFA."""
    by_origin: dict[str, list[ReportSession]] = {}
    for s in sessions:
        by_origin.setdefault(s.origin_label, []).append(s)
    lo, hi = to_utc(period.start), to_utc(period.end)
    out = []
    for label, members in by_origin.items():
        spans = sorted((max(s.started_at, lo), min(s.ends_at, hi)) for s in members)
        seconds, cur_start, cur_end = 0.0, None, None
        for a, b in spans:
            if b <= a:
                continue
            if cur_end is None or a > cur_end:
                if cur_end is not None and cur_start is not None:
                    seconds += (cur_end - cur_start).total_seconds()
                cur_start, cur_end = a, b
            else:
                cur_end = max(cur_end, b)
        if cur_end is not None and cur_start is not None:
            seconds += (cur_end - cur_start).total_seconds()
        out.append(
            OriginSummary(
                origin_arn=members[0].origin_arn,
                origin_label=label,
                sessions=len(members),
                hours_held=round(seconds / 3600, 2),
                without_mfa=sum(1 for s in members if s.mfa_authenticated is False),
                mfa_unknown=sum(1 for s in members if s.mfa_authenticated is None),
                estimated_ends=sum(1 for s in members if s.ends_at_estimated),
                first_start=min(s.started_at for s in members),
                last_end=max(s.ends_at for s in members),
            )
        )
    return sorted(out, key=lambda o: (-o.hours_held, o.origin_label))


def store_positions(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    rows = con.execute(
        "SELECT log_name, partition, next_offset FROM positions ORDER BY 1, 2"
    ).fetchall()
    out: dict[str, dict[str, int]] = {}
    for name, partition, nxt in rows:
        out.setdefault(str(name), {})[str(partition)] = int(nxt)
    return out


def evidence_of(
    con: duckdb.DuckDBPyConnection,
    *,
    command: str,
    generated_at: datetime,
    log_url: str | None,
    known_at: KnownAt | None,
) -> Evidence:
    document: dict[str, Any] = digest_document(
        digest(con), generated_at, ledgers=ledgers(con), store_meta=store_meta(con)
    )
    return Evidence(
        rolecall_version=__version__,
        command=command,
        generated_at=generated_at,
        log_url=log_url,
        positions=store_positions(con),
        digest=document,
        known_at=known_at,
    )


def privileged_report(
    q: Queries,
    period: Period,
    privilege: Privilege,
    *,
    command: str,
    generated_at: datetime,
    log_url: str | None = None,
    known_at: KnownAt | None = None,
) -> Report:
    """The report over the store `q` reads (a whole store, or one rebuilt as known at K)."""
    held, undecided = privileged_sessions(q, period, privilege)
    calls = _calls(q.con, [v.session_id for v, _ in held], period)
    rows = [report_session(v, basis, calls.get(v.session_id, (0, 0, []))) for v, basis in held]
    rows.sort(key=lambda r: (r.started_at, r.session_id))
    return Report(
        format=REPORT_FORMAT,
        period_from=to_utc(period.start),
        period_to=to_utc(period.end),
        privilege=privilege.as_json(),
        sessions=rows,
        origins=origin_summaries(rows, period),
        undecided=sorted(undecided, key=lambda u: u.session_id),
        evidence=evidence_of(
            q.con,
            command=command,
            generated_at=generated_at,
            log_url=log_url,
            known_at=known_at,
        ),
    )
