"""Findings read back from a store (a file, or a directory store's merged views)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import duckdb

from pipeline.errors import InputError
from pipeline.findings.model import RULES, SEVERITIES, Finding, FindingFilter
from pipeline.timeutil import naive

_COLUMNS = (
    "finding_id, rule, severity, first_at, last_at, account_id, session_id, principal_arn, "
    "origin_arn, origin_label, summary, evidence, evidence_count"
)


def check_filter(flt: FindingFilter) -> None:
    """An unknown rule or severity is an error that lists the known ones."""
    if flt.rule is not None and flt.rule not in RULES:
        raise InputError(f"unknown rule {flt.rule!r}; the rules are: {', '.join(RULES)}")
    if flt.severity is not None and flt.severity not in SEVERITIES:
        raise InputError(
            f"unknown severity {flt.severity!r}; the severities are: {', '.join(SEVERITIES)}"
        )


def read_findings(
    con: duckdb.DuckDBPyConnection, flt: FindingFilter | None = None, *, limit: int | None = None
) -> list[Finding]:
    """Findings matching `flt`, newest (last evidence) first."""
    flt = flt or FindingFilter()
    check_filter(flt)
    where: list[str] = []
    args: list[Any] = []
    for column, value in (
        ("rule", flt.rule),
        ("severity", flt.severity),
        ("account_id", flt.account_id),
        ("session_id", flt.session_id),
        ("principal_arn", flt.principal_arn),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if flt.start is not None:
        where.append("last_at >= ?")
        args.append(naive(flt.start))
    if flt.end is not None:
        where.append("first_at < ?")
        args.append(naive(flt.end))
    sql = f"SELECT {_COLUMNS} FROM findings"  # noqa: S608 (constant columns, bound values)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY last_at DESC, finding_id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    if not _has_findings_table(con):
        return []
    return [_finding(row) for row in con.execute(sql, args).fetchall()]


def pending_findings(con: duckdb.DuckDBPyConnection) -> int:
    """How many stored sessions, keys and principals wait for their findings to be
    recomputed: 0 when the findings are up to date with the stored events (a
    materializer catching up settles them every few batches and when it ends)."""
    if not _has_table(con, "findings_pending"):  # written before schema 8: never pending
        return 0
    ((count,),) = con.execute("SELECT count(*) FROM findings_pending").fetchall()
    return int(count)


def _has_findings_table(con: duckdb.DuckDBPyConnection) -> bool:
    # A store written before schema 6 read-only (not migrated) has no findings yet.
    return _has_table(con, "findings")


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    ((count,),) = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()
    return bool(count)


def _finding(row: tuple[Any, ...]) -> Finding:
    (fid, rule, severity, first, last, account, session, principal, origin, label, summary,
     evidence, count) = row  # fmt: skip
    return Finding(
        finding_id=fid,
        rule=rule,
        severity=severity,
        first_at=first.replace(tzinfo=UTC),
        last_at=last.replace(tzinfo=UTC),
        account_id=account,
        session_id=session,
        principal_arn=principal,
        origin_arn=origin,
        origin_label=label,
        summary=summary,
        evidence=tuple(evidence),
        evidence_count=int(count),
    )
