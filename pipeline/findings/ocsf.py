"""A finding as an OCSF Detection Finding (class_uid 2004), the class Amazon Security Lake
and most SIEMs read. Checked against the OCSF schema in tests/findings/test_ocsf.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline import __version__
from pipeline.findings.model import Finding

OCSF_VERSION = "1.9.0-dev"  # the schema the tests validate against (tests/fixtures/ocsf)
CLASS_UID = 2004
CATEGORY_UID = 2
ACTIVITY_CREATE = 1
SEVERITY_ID = {"low": 2, "medium": 3, "high": 4}


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def detection_finding(f: Finding) -> dict[str, Any]:
    """One finding as an OCSF Detection Finding object."""
    return {
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "type_name": "Detection Finding: Create",
        "severity_id": SEVERITY_ID[f.severity],
        "severity": f.severity.capitalize(),
        "time": _ms(f.last_at),
        "start_time": _ms(f.first_at),
        "end_time": _ms(f.last_at),
        "status_id": 1,
        "status": "New",
        "message": f.summary,
        "count": f.evidence_count,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": f.finding_id,
            "log_name": "rolecall findings",
            "product": {"name": "rolecall", "vendor_name": "rolecall", "version": __version__},
        },
        "finding_info": {
            "uid": f.finding_id,
            "title": f.rule,
            "desc": f.summary,
            "types": [f.rule],
            "first_seen_time": _ms(f.first_at),
            "last_seen_time": _ms(f.last_at),
            "analytic": {"name": f.rule, "uid": f.rule, "type_id": 1, "type": "Rule"},
            "related_events": [{"uid": e} for e in f.evidence],
            "related_events_count": f.evidence_count,
        },
        "unmapped": {
            "account_id": f.account_id,
            "session_id": f.session_id,
            "principal_arn": f.principal_arn,
            "origin_arn": f.origin_arn,
            "origin_label": f.origin_label,
        },
    }
