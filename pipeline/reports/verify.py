"""`report verify`: does a report still hold? Its store's evidence is checked against the
digest it carries, and its answer is recomputed from the log prefix it names (or from
the store, while the store holds exactly that prefix) and compared."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pipeline.evidence import load_digest, verify
from pipeline.log.base import EventLog
from pipeline.queries import Queries
from pipeline.reports.diff import ReportDiff, diff_reports
from pipeline.reports.known_at import build_prefix_store
from pipeline.reports.model import Report
from pipeline.reports.privilege import Privilege
from pipeline.reports.privileged import Period, privileged_report, store_positions


@dataclass
class ReportCheck:
    """The verdict: what was checked, what failed, and what changed."""

    store_findings: list[str] = field(default_factory=list)
    recomputed_from: str = "not recomputed"
    diff: ReportDiff | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return (
            not self.store_findings
            and not self.problems
            and (self.diff is not None and self.diff.same)
        )

    def lines(self) -> list[str]:
        out = [
            "the report holds" if self.holds else "the report does NOT hold",
            f"recomputed from {self.recomputed_from}",
        ]
        out += [f"store: {f}" for f in self.store_findings]
        out += self.problems
        if self.diff is not None and not self.diff.same:
            out.append(
                f"changed: {len(self.diff.added)} session(s) added, {len(self.diff.removed)} "
                f"removed, {len(self.diff.ended_differently)} ended differently"
            )
            out += self.diff.lines()
        return out

    def as_json(self) -> dict[str, object]:
        return {
            "holds": self.holds,
            "recomputed_from": self.recomputed_from,
            "store_findings": self.store_findings,
            "problems": self.problems,
            "diff": self.diff.as_json() if self.diff is not None else None,
        }


def _digest_findings(q: Queries, report: Report, event_log: EventLog | None) -> list[str]:
    """The store checked against the digest the report carries (history up to it intact)."""
    fd, path = tempfile.mkstemp(prefix="rolecall-digest-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(report.evidence.digest, fh)
        kept = load_digest(path)
    finally:
        os.unlink(path)
    verdict = verify(q.con, against=kept, log=event_log)
    return [f.line() for f in verdict.findings]


def _recompute(q: Queries, report: Report, now: datetime) -> Report:
    return privileged_report(
        q,
        Period(report.period_from, report.period_to),
        Privilege.from_json(report.privilege),
        command=report.evidence.command,
        generated_at=now,
        log_url=report.evidence.log_url,
        known_at=report.evidence.known_at,
    )


def check_report(
    report: Report, db_path: str, event_log: EventLog | None, *, now: datetime
) -> ReportCheck:
    """Check the store against the report's digest, then recompute and compare."""
    result = ReportCheck()
    with Queries.open(db_path) as q:
        result.store_findings = _digest_findings(q, report, event_log)
        known = report.evidence.known_at
        wanted = (
            {known.log_name: known.positions} if known is not None else report.evidence.positions
        )
        if event_log is None:
            if store_positions(q.con) != wanted:
                result.problems.append(
                    "cannot recompute: the store no longer holds exactly the log prefix the "
                    "report was computed from; give --log to recompute from the log"
                )
                return result
            result.recomputed_from = f"the store {db_path} (it holds the report's log prefix)"
            result.diff = diff_reports(
                report, _recompute(q, report, now), names=("report", "recomputed")
            )
            return result
    limits = wanted.get(event_log.name)
    if limits is None or set(wanted) - {event_log.name}:
        result.problems.append(
            f"cannot recompute from log {event_log.name}: the report was computed from "
            f"log(s) {', '.join(sorted(wanted)) or 'none'}"
        )
        return result
    ends = event_log.end_offsets()
    short = {p: o for p, o in limits.items() if ends.get(int(p), 0) < o}
    if short:
        result.problems.append(
            "the log no longer holds the report's prefix (partition "
            + ", ".join(f"{p} ends before offset {o}" for p, o in sorted(short.items()))
            + ")"
        )
        return result
    scratch = tempfile.mkdtemp(prefix="rolecall-verify-")
    try:
        path = Path(scratch) / "prefix.duckdb"
        build_prefix_store(event_log, {int(p): o for p, o in limits.items()}, path)
        with Queries.open(path) as rebuilt:
            result.recomputed_from = (
                f"the log {event_log.name} up to the report's positions ("
                + ", ".join(f"p{p}:{o}" for p, o in sorted(limits.items()))
                + ")"
            )
            again = _recompute(rebuilt, report, now)
        heads = {
            (h["log_name"], int(h["partition"])): h["head"]
            for h in report.evidence.digest.get("heads", [])
        }
        for h in again.evidence.digest.get("heads", []):
            key = (h["log_name"], int(h["partition"]))
            if key in heads and heads[key] != h["head"]:
                result.problems.append(
                    f"the log's prefix hashes differently from the report's digest "
                    f"(partition {key[1]}): the log was altered"
                )
        result.diff = diff_reports(report, again, names=("report", "recomputed"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result
