"""Small building blocks every view shares: names, times, tables, links, filter menus."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from dash import dcc, html

from dashboards.style import END_COLORS, SEVERITY_COLORS, VIA_COLORS
from pipeline.replay import Facets
from pipeline.sessions import SessionFilter, SessionView
from pipeline.timeutil import iso


def short_name(arn: str | None) -> str:
    """An ARN as a person reads it: `role/OrgAdmin · 444455556666`, `alice@acme (Okta)`."""
    if not arn:
        return "not recorded"
    if "#" in arn:
        provider, _, subject = arn.partition("#")
        return f"{subject} ({provider.rsplit('/', 1)[-1]})"
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn":
        account, resource = parts[4], parts[5]
        return f"{resource} · {account}" if account else resource
    return arn


def name(arn: str | None) -> html.Span:
    """A short name with the full ARN on hover."""
    return html.Span(short_name(arn), title=arn or "")


def when(value: datetime | None) -> str:
    return (iso(value) or "not recorded").replace("T", " ").replace("Z", "")


def origin(s: SessionView) -> html.Span:
    """The human or service behind a session, or "unknown: why", with the whole on hover."""
    if s.origin_resolved and s.origin_arn and s.origin_label == s.origin_arn:
        return html.Span(short_name(s.origin_arn), title=s.origin_arn)
    return html.Span(
        s.origin_label, title=s.origin_label, className="unknown" if not s.origin_resolved else ""
    )


def principal(s: SessionView) -> html.Span:
    if s.principal_arn:
        return name(s.principal_arn)
    return html.Span(s.principal_label, title=s.principal_label, className="unknown")


def started(s: SessionView) -> html.Span:
    if s.started_at_estimated:
        return html.Span([when(s.started_at), " ", _estimated(s.started_at_basis)])
    return html.Span(when(s.started_at))


def ending(s: SessionView) -> html.Span:
    """The end, why it ended, and, for an estimate, what it rests on."""
    parts: list[Any] = [when(s.ends_at), " ", end_label(s.end_reason)]
    if s.ends_at_estimated:
        parts += [" ", _estimated(s.ends_at_basis)]
    return html.Span(parts)


def _estimated(basis: str) -> html.Span:
    return html.Span("(estimated)", title=basis, className="estimated")


def via_pill(via: str | None) -> html.Span:
    v = via or "unknown"
    return html.Span(
        v.replace("_", " ").lower(),
        className="pill",
        style={"background": VIA_COLORS.get(v, "#555")},
    )


def end_label(reason: str) -> html.Span:
    return html.Span(reason, style={"color": END_COLORS.get(reason, "#333")})


def session_href(session_id: str) -> str:
    return "/session?id=" + quote(session_id, safe="")


def session_link(session_id: str) -> dcc.Link:
    return dcc.Link(session_id, href=session_href(session_id), className="mono")


def finding_href(session_id: str, finding_id: str) -> str:
    """A session's page with one finding's evidence highlighted among its actions."""
    return session_href(session_id) + "&finding=" + quote(finding_id, safe="")


def investigate_href(principal_arn: str) -> str:
    """The Investigate page showing a principal's sessions."""
    return "/investigate?principal=" + quote(principal_arn, safe="")


def severity_pill(severity: str) -> html.Span:
    return html.Span(
        severity,
        className="pill severity",
        style={"background": SEVERITY_COLORS.get(severity, "#555")},
    )


def finding_time(first: datetime, last: datetime) -> str:
    """The first and last evidence, or one time when they are the same."""
    return when(first) if first == last else f"{when(first)} → {when(last)}"


def grid(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    table_id: str = "",
    row_classes: Sequence[str] = (),
) -> html.Table:
    """A table; `row_classes` (one per row, when given) marks rows, e.g. highlighted evidence."""
    attrs: dict[str, Any] = {"id": table_id} if table_id else {}
    classes = list(row_classes) or [""] * len(rows)
    return html.Table(
        [
            html.Thead(html.Tr([html.Th(h) for h in headers])),
            html.Tbody(
                [
                    html.Tr([html.Td(c) for c in row], className=cls)
                    for row, cls in zip(rows, classes, strict=True)
                ]
            ),
        ],
        className="grid",
        **attrs,
    )


def filter_controls(prefix: str, facets: Facets) -> html.Div:
    """Account, role, principal/origin and how-assumed filters, persisted per browser tab."""
    keep: dict[str, Any] = {"persistence": True, "persistence_type": "session"}
    return html.Div(
        [
            dcc.Dropdown(
                facets.accounts,
                id=f"{prefix}-account",
                placeholder="any account",
                style={"width": "170px"},
                **keep,
            ),
            dcc.Dropdown(
                [{"label": short_name(r), "value": r} for r in facets.roles],
                id=f"{prefix}-role",
                placeholder="any role",
                style={"width": "320px"},
                **keep,
            ),
            dcc.Input(
                id=f"{prefix}-principal",
                placeholder="principal or origin ARN",
                debounce=True,
                style={"width": "420px"},
                **keep,
            ),
            dcc.Dropdown(
                facets.vias,
                id=f"{prefix}-via",
                placeholder="any way assumed",
                style={"width": "230px"},
                **keep,
            ),
        ],
        className="row filters",
    )


def session_filter(
    account: str | None, role: str | None, principal: str | None, via: str | None
) -> SessionFilter:
    return SessionFilter(
        account_id=account or None,
        role_arn=role or None,
        principal=(principal or "").strip() or None,
        via=via or None,
    )
