"""A finding: a suspicious moment, its rule and severity, and the event ids it rests on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Severity = Literal["high", "medium", "low"]

RULES: tuple[str, ...] = (
    "instance-credentials-elsewhere",
    "used-after-end",
    "key-many-networks",
    "denied-burst",
    "role-enumeration",
    "root-used",
    "console-without-mfa",
    "machine-iam-admin",
)
SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low")


@dataclass(frozen=True)
class Finding:
    """One finding. `finding_id` hashes the rule and its anchor evidence, so a store
    rebuilt from the log gives the same ids; `evidence` are stored event ids
    (`ct:<eventID>` for CloudTrail), the earliest first."""

    finding_id: str
    rule: str
    severity: Severity
    first_at: datetime
    last_at: datetime
    account_id: str | None
    session_id: str | None  # None when the rule is about a principal
    principal_arn: str | None
    origin_arn: str | None
    origin_label: str  # never blank: "unknown (...)" says why when the record does not say
    summary: str
    evidence: tuple[str, ...]
    evidence_count: int  # every piece of evidence, when more than `evidence` lists

    def as_json(self) -> dict[str, object]:
        return {
            "finding_id": self.finding_id,
            "rule": self.rule,
            "severity": self.severity,
            "first_at": self.first_at.isoformat().replace("+00:00", "Z"),
            "last_at": self.last_at.isoformat().replace("+00:00", "Z"),
            "account_id": self.account_id,
            "session_id": self.session_id,
            "principal_arn": self.principal_arn,
            "origin_arn": self.origin_arn,
            "origin_label": self.origin_label,
            "summary": self.summary,
            "evidence": list(self.evidence),
            "evidence_count": self.evidence_count,
        }


@dataclass(frozen=True)
class FindingFilter:
    """Which findings to read; every field optional (None: any)."""

    start: datetime | None = None  # last evidence at or after
    end: datetime | None = None  # first evidence before
    rule: str | None = None
    severity: Severity | None = None
    account_id: str | None = None
    session_id: str | None = None
    principal_arn: str | None = None
