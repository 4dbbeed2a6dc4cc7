"""Reproducible compliance reports (issue 17): who held a power in a period, as known at
any moment, with the evidence to recompute and verify the answer.

privilege   what counts as privileged, evaluated at each session's start
privileged  the report: sessions, per-origin summary, evidence block
known_at    the store rebuilt from the log prefix ingested up to a moment
verify      recompute a report from the log (or store) and compare; check its digest
diff        what differs between two reports (learned in between)
html        one self-contained HTML file with a timeline per origin
tabular     the rows as text, for the terminal, CSV and the dashboard
"""

from pipeline.reports.diff import ReportDiff, diff_reports
from pipeline.reports.known_at import Cutoffs, PrefixLog, cutoffs, known_queries, prefix_store
from pipeline.reports.model import (
    Evidence,
    KnownAt,
    OriginSummary,
    Report,
    ReportSession,
    Undecided,
    load_report,
)
from pipeline.reports.privilege import Privilege
from pipeline.reports.privileged import Period, privileged_report
from pipeline.reports.verify import ReportCheck, check_report

__all__ = [
    "Cutoffs",
    "Evidence",
    "KnownAt",
    "OriginSummary",
    "Period",
    "PrefixLog",
    "Privilege",
    "Report",
    "ReportCheck",
    "ReportDiff",
    "ReportSession",
    "Undecided",
    "check_report",
    "cutoffs",
    "diff_reports",
    "known_queries",
    "load_report",
    "prefix_store",
    "privileged_report",
]
