"""A privileged-access report as data: its sessions, the summary per origin, and the
evidence it was computed from. The JSON form (`Report.as_json`) is what `--json` prints,
what the HTML embeds, and what `report verify` and `report diff` read back."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.errors import InputError
from pipeline.timeutil import UtcIso

REPORT_FORMAT = "rolecall-report/1"
MAX_REPORT_BYTES = 512 * 1024 * 1024
EMBED_ID = "rolecall-report"  # the HTML's <script type="application/json"> holding the JSON
_EMBEDDED = re.compile(
    r'<script type="application/json" id="' + EMBED_ID + r'">(.*?)</script>', re.S
)


def embedded_json(html_text: str) -> str | None:
    """The report JSON an HTML report carries, or None (its "<" are written "\\u003c")."""
    found = _EMBEDDED.search(html_text)
    return None if found is None else found.group(1)


class ReportSession(BaseModel):
    """One session that held the power in the period."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    principal_arn: str | None
    principal_label: str
    origin_arn: str | None
    origin_label: str
    origin_resolved: bool
    role_arn: str | None
    account_id: str | None
    via: str | None
    started_at: UtcIso
    started_at_estimated: bool
    started_at_basis: str
    ends_at: UtcIso
    ends_at_estimated: bool
    ends_at_basis: str
    end_reason: str
    mfa_authenticated: bool | None
    source_ips: list[str]
    actions: int  # recorded calls in the period (allowed and denied)
    denied_actions: int
    privilege: str  # what it could do: "iam:*", "*:*", the action, the policy ARN

    @property
    def mfa(self) -> str:
        if self.mfa_authenticated is None:
            return "unknown"
        return "yes" if self.mfa_authenticated else "no"


class OriginSummary(BaseModel):
    """One origin (the human or service behind the chains) over the period."""

    model_config = ConfigDict(frozen=True)

    origin_arn: str | None
    origin_label: str
    sessions: int
    # Hours in the period during which at least one of its sessions held the power (the
    # union of their intervals, clipped to the period).
    hours_held: float
    without_mfa: int  # sessions whose record says MFA was not used
    mfa_unknown: int  # sessions whose record does not say
    estimated_ends: int  # sessions whose end is an estimate
    first_start: UtcIso
    last_end: UtcIso


class Undecided(BaseModel):
    """A session active in the period whose power could not be decided (and why)."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    role_arn: str | None
    origin_label: str
    reason: str


class KnownAt(BaseModel):
    """What "as known at" selected: the log positions ingested up to the moment."""

    model_config = ConfigDict(frozen=True)

    at: UtcIso
    log_name: str
    positions: dict[str, int]  # partition -> next offset (records below it were known)
    unknown_ingest_time: int  # records with no ingest time, counted as known (see docs)
    note: str


class Evidence(BaseModel):
    """What the report was computed from, so that anyone can recompute and compare."""

    model_config = ConfigDict(frozen=True)

    rolecall_version: str
    command: str
    generated_at: UtcIso
    log_url: str | None  # the log the report names for recomputing (None: not given)
    # log name -> partition -> the next offset the store had consumed: the log prefix
    # the report was computed from
    positions: dict[str, dict[str, int]]
    digest: dict[str, Any]  # what `rolecall digest --json` prints, taken with the report
    known_at: KnownAt | None = None


class Report(BaseModel):
    """The privileged-access report."""

    model_config = ConfigDict(frozen=True)

    format: str = REPORT_FORMAT
    period_from: UtcIso
    period_to: UtcIso
    privilege: dict[str, Any]
    sessions: list[ReportSession]
    origins: list[OriginSummary]
    undecided: list[Undecided]
    evidence: Evidence

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def period(self) -> tuple[datetime, datetime]:
        return self.period_from, self.period_to


def load_report(path: str) -> Report:
    """A report from its JSON (`report --json`) or its HTML (which embeds the JSON)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read report {path}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_REPORT_BYTES:
        raise InputError(f"{path} is over {MAX_REPORT_BYTES // 2**20} MiB: not a report")
    text = raw.decode("utf-8", "replace")
    if text.lstrip().startswith("<"):
        found = embedded_json(text)
        if found is None:
            raise InputError(f"{path} is an HTML file without an embedded rolecall report")
        text = found
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{path} is not a rolecall report: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != REPORT_FORMAT:
        raise InputError(f"{path} is not a rolecall report (want format {REPORT_FORMAT!r})")
    try:
        return Report.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise InputError(f"{path}: malformed report at {where}: {first['msg']}") from exc
