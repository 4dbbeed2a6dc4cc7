"""A report's rows as text cells: what the terminal table, the CSV and the dashboard show.

Unknowns are words ("unknown"); an estimated end says so with its basis."""

from __future__ import annotations

import csv
import io

from pipeline.reports.model import OriginSummary, Report, ReportSession
from pipeline.timeutil import iso_z

SESSION_HEADER = (
    "session",
    "principal",
    "origin",
    "role",
    "account",
    "how assumed",
    "start",
    "end",
    "MFA",
    "source IPs",
    "actions",
    "denied",
    "privilege",
)
ORIGIN_HEADER = (
    "origin",
    "sessions",
    "hours held",
    "without MFA",
    "MFA unknown",
    "estimated ends",
    "first start",
    "last end",
)


def _estimated(basis: str) -> str:
    return basis if basis.startswith("estimated") else f"estimated: {basis}"


def start_text(s: ReportSession) -> str:
    at = iso_z(s.started_at)
    return f"{at} ({_estimated(s.started_at_basis)})" if s.started_at_estimated else at


def end_text(s: ReportSession) -> str:
    at = iso_z(s.ends_at)
    if s.ends_at_estimated:
        return f"{at} ({_estimated(s.ends_at_basis)})"
    return f"{at} ({s.end_reason})"


def session_cells(s: ReportSession) -> tuple[str, ...]:
    return (
        s.session_id,
        s.principal_label,
        s.origin_label,
        s.role_arn or "unknown",
        s.account_id or "unknown",
        s.via or "unknown",
        start_text(s),
        end_text(s),
        s.mfa,
        " ".join(s.source_ips) or "unknown",
        str(s.actions),
        str(s.denied_actions),
        s.privilege,
    )


def origin_cells(o: OriginSummary) -> tuple[str, ...]:
    return (
        o.origin_label,
        str(o.sessions),
        f"{o.hours_held:.2f}",
        str(o.without_mfa),
        str(o.mfa_unknown),
        str(o.estimated_ends),
        iso_z(o.first_start),
        iso_z(o.last_end),
    )


def sessions_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SESSION_HEADER)
    writer.writerows(session_cells(s) for s in report.sessions)
    return buffer.getvalue()


def origins_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ORIGIN_HEADER)
    writer.writerows(origin_cells(o) for o in report.origins)
    return buffer.getvalue()
