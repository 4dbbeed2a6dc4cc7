"""Small building blocks every view shares: names, times, tables, links, filter menus."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from dash import dcc, html

from dashboards.links import (
    ip_href,
    key_href,
    principal_href,
    session_href,
)
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


def name(arn: str | None) -> html.Span | dcc.Link:
    """A short name with the full ARN on hover, linked to its page."""
    if not arn:
        return html.Span(short_name(arn), className="unknown")
    return id_link(short_name(arn), principal_href(arn), full=arn)


def when(value: datetime | None) -> str:
    return (iso(value) or "not recorded").replace("T", " ").replace("Z", "")


def origin(s: SessionView) -> html.Span | dcc.Link:
    """The human or service behind a session, or "unknown: why", with the whole on hover."""
    if s.origin_resolved and s.origin_arn:
        label = short_name(s.origin_arn) if s.origin_label == s.origin_arn else s.origin_label
        return id_link(label, principal_href(s.origin_arn), full=s.origin_label)
    return html.Span(
        s.origin_label, title=s.origin_label, className="unknown" if not s.origin_resolved else ""
    )


def principal(s: SessionView) -> html.Span | dcc.Link:
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


def session_link(session_id: str) -> dcc.Link:
    return dcc.Link(session_id, href=session_href(session_id), className="mono")


def finding_href(session_id: str, finding_id: str) -> str:
    """A session's page with one finding's evidence highlighted among its actions."""
    return session_href(session_id) + "&finding=" + quote(finding_id, safe="")


def id_link(text: str, href: str, *, full: str = "") -> dcc.Link:
    """An identifier as a link to its page (the whole identifier on hover)."""
    # dcc.Link takes no data-* attribute: the CSV takes the whole from its title.
    return dcc.Link(text, href=href, title=full or text, className="id clip")


def arn_link(arn: str | None) -> dcc.Link | html.Span:
    """A principal's, origin's or role's ARN, short, linked to its page."""
    if not arn:
        return html.Span("not recorded", className="unknown")
    return id_link(short_name(arn), principal_href(arn), full=arn)


def key_link(key: str | None) -> dcc.Link | html.Span:
    if not key:
        return html.Span("not recorded", className="unknown")
    return dcc.Link(key, href=key_href(key), className="mono id")


def ip_link(address: str | None) -> dcc.Link | html.Span:
    if not address:
        return html.Span("not recorded", className="unknown")
    return dcc.Link(address, href=ip_href(address), className="mono id")


def severity_pill(severity: str) -> html.Span:
    return html.Span(
        severity,
        className="pill severity",
        style={"background": SEVERITY_COLORS.get(severity, "#555")},
    )


def finding_time(first: datetime, last: datetime) -> str:
    """The first and last evidence, or one time when they are the same."""
    return when(first) if first == last else f"{when(first)} → {when(last)}"


_table_ids = itertools.count(1)


def _data(attrs: dict[str, str]) -> dict[str, Any]:
    """`data-*` attributes for a component (Dash takes them as keyword arguments)."""
    return attrs


def grid(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    table_id: str = "",
    row_classes: Sequence[str] = (),
    *,
    hide: dict[str, str] | None = None,
    filename: str = "",
) -> html.Div:
    """A table with a button that downloads it as CSV (the full text of shortened cells).

    `row_classes` (one per row, when given) marks rows, e.g. highlighted evidence; `hide`
    gives columns (by header) a class that hides them on a narrow window."""
    table_id = table_id or f"table-{next(_table_ids)}"
    classes = list(row_classes) or [""] * len(rows)
    column_classes = [(hide or {}).get(h, "") for h in headers]
    table = html.Table(
        [
            html.Thead(
                html.Tr(
                    [html.Th(h, className=c) for h, c in zip(headers, column_classes, strict=True)]
                )
            ),
            html.Tbody(
                [
                    html.Tr(
                        [html.Td(c, className=k) for c, k in zip(row, column_classes, strict=True)],
                        className=cls,
                    )
                    for row, cls in zip(rows, classes, strict=True)
                ]
            ),
        ],
        className="grid",
        id=table_id,
    )
    export = html.Button(
        "⤓ CSV",
        className="csv-export",
        title="Download this table as CSV",
        **_data({"data-table": table_id, "data-filename": (filename or table_id) + ".csv"}),
    )
    return html.Div([html.Div(export, className="table-tools"), table], className="table-box")


def long_text(text: str, cls: str = "") -> html.Span:
    """Text that may be cut to the column's width: the whole on hover and in the CSV."""
    return html.Span(
        text, title=text, className=("clip " + cls).strip(), **_data({"data-full": text})
    )


def filter_controls(
    prefix: str, facets: Facets, initial: dict[str, str | None] | None = None
) -> html.Div:
    """Account, role, principal/origin and how-assumed filters, set from `initial` (the
    page's URL): the address, not the browser's storage, keeps a view's state."""
    given = initial or {}
    return html.Div(
        [
            dcc.Dropdown(
                facets.accounts,
                given.get("account"),
                id=f"{prefix}-account",
                placeholder="any account",
                style={"width": "170px"},
            ),
            dcc.Dropdown(
                [{"label": short_name(r), "value": r} for r in facets.roles],
                given.get("role"),
                id=f"{prefix}-role",
                placeholder="any role",
                style={"width": "320px"},
            ),
            dcc.Input(
                value=given.get("principal"),
                id=f"{prefix}-principal",
                placeholder="principal or origin ARN",
                debounce=True,
                style={"width": "420px"},
            ),
            dcc.Dropdown(
                facets.vias,
                given.get("via"),
                id=f"{prefix}-via",
                placeholder="any way assumed",
                style={"width": "230px"},
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
