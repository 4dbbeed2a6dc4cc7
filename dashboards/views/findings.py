"""Findings: the suspicious moments, newest first, each opening the evidence it rests on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash
from dash import Input, Output, State, ctx, dcc, html

from dashboards.clientside import clientside
from dashboards.links import investigate_href
from dashboards.source import QuerySource
from dashboards.widgets import (
    finding_href,
    finding_time,
    grid,
    name,
    severity_pill,
    short_name,
)
from pipeline.errors import InputError
from pipeline.findings import RULES, SEVERITIES, Finding, FindingFilter
from pipeline.queries import Queries
from pipeline.timeutil import parse_time

ROWS_SHOWN = 500
# An open page asks every 2 s whether the store grew (`rolecall serve` materializes while
# it serves) and redraws only then: new findings appear without a reload.
REFRESH_MS = 2000
FILTERS = ["findings-rule", "findings-severity", "findings-account", "findings-from", "findings-to"]
HEADERS = [
    "rule",
    "severity",
    "time (first → last evidence)",
    "account",
    "principal",
    "origin (human or service)",
    "summary",
    "evidence",
    "open",
]


URL_KEYS = {  # the URL's query names for the filters
    "findings-rule": "rule",
    "findings-severity": "severity",
    "findings-account": "account",
    "findings-from": "from",
    "findings-to": "to",
}


def layout(q: Queries, params: dict[str, list[str]] | None = None) -> html.Div:
    """The page; `params` (the URL's query: rule, severity, account, from, to) sets its
    filters, so a link opens the list its sender saw."""
    given = {k: ((params or {}).get(v) or [""])[0].strip() or None for k, v in URL_KEYS.items()}
    return html.Div(
        [
            html.Div(
                [
                    html.H2("Findings"),
                    dcc.Store(id="findings-url"),
                    html.Div(
                        [
                            dcc.Dropdown(
                                list(RULES),
                                given["findings-rule"],
                                id="findings-rule",
                                placeholder="any rule",
                                style={"width": "290px"},
                            ),
                            dcc.Dropdown(
                                list(SEVERITIES),
                                given["findings-severity"],
                                id="findings-severity",
                                placeholder="any severity",
                                style={"width": "170px"},
                            ),
                            dcc.Dropdown(
                                q.facets().accounts,
                                given["findings-account"],
                                id="findings-account",
                                placeholder="any account",
                                style={"width": "170px"},
                            ),
                            dcc.Input(
                                value=given["findings-from"],
                                id="findings-from",
                                placeholder="from 2026-01-05T00:00:00Z",
                                debounce=True,
                                style={"width": "230px"},
                            ),
                            dcc.Input(
                                value=given["findings-to"],
                                id="findings-to",
                                placeholder="to 2026-01-08T00:00:00Z",
                                debounce=True,
                                style={"width": "230px"},
                            ),
                        ],
                        className="row filters",
                    ),
                    html.Div(
                        "Newest first, kept up to date while the store grows. A finding is in "
                        "the time range when any of its evidence "
                        "is. Open one to see its session with the evidence highlighted (a "
                        "finding about a principal with no session opens its sessions).",
                        className="muted",
                        style={"marginTop": "8px"},
                    ),
                ],
                className="card",
            ),
            html.Div(
                [html.H3(id="findings-summary"), html.Div(id="findings-table")], className="card"
            ),
            dcc.Interval(id="findings-refresh", interval=REFRESH_MS),
            dcc.Store(id="findings-version"),
        ]
    )


def finding_filter(
    rule: str | None,
    severity: str | None,
    account: str | None,
    start: str | None,
    end: str | None,
) -> FindingFilter:
    """The filters as the query API takes them; a bad value is an InputError saying which."""
    level = next((s for s in SEVERITIES if s == severity), None)
    if severity and level is None:
        known = ", ".join(SEVERITIES)
        raise InputError(f"unknown severity {severity!r}; the severities are: {known}")
    return FindingFilter(
        rule=rule or None,
        severity=level,
        account_id=account or None,
        start=_time("from", start),
        end=_time("to", end),
    )


def _time(label: str, text: str | None) -> datetime | None:
    value = (text or "").strip()
    if not value:
        return None
    try:
        return parse_time(value)
    except (InputError, ValueError) as exc:
        raise InputError(f"{label}: {exc}") from None


def open_link(f: Finding) -> Any:
    """The finding's session with its evidence highlighted, else its principal's sessions."""
    if f.session_id:
        return dcc.Link(
            "open session",
            href=finding_href(f.session_id, f.finding_id),
            className="finding-open nowrap",
            title=f"open session {f.session_id} with this finding's evidence highlighted",
        )
    if f.principal_arn:
        return dcc.Link(
            "principal's sessions",
            href=investigate_href(f.principal_arn),
            className="finding-open nowrap",
            title=f.principal_arn,
        )
    return html.Span("no session or principal recorded", className="muted")


def origin_of(f: Finding) -> html.Span:
    """The origin's label, never blank: the store's label, else why it is unknown."""
    label = f.origin_label.strip() or "unknown (the record names no origin)"
    if f.origin_arn and label == f.origin_arn:
        label = short_name(f.origin_arn)  # as the other views show an ARN origin
    return html.Span(label, title=f.origin_arn or label, className="clip")


def finding_rows(findings: list[Finding]) -> list[list[Any]]:
    return [
        [
            html.Span(f.rule, className="nowrap"),
            severity_pill(f.severity),
            html.Span(finding_time(f.first_at, f.last_at), className="nowrap"),
            f.account_id or "not recorded",
            name(f.principal_arn) if f.principal_arn else "not recorded",
            origin_of(f),
            html.Span(f.summary, className="wrap"),
            html.Span(str(f.evidence_count), title="\n".join(f.evidence)),
            open_link(f),
        ]
        for f in findings
    ]


def register(app: dash.Dash, source: QuerySource) -> None:
    clientside(
        app,
        """function (rule, severity, account, from, to) {
            return window.dash_clientside.rolecall.write({rule: rule, severity: severity,
                account: account, from: from, to: to});
        }""",
        Output("findings-url", "data"),
        *[Input(f, "value") for f in FILTERS],
        prevent_initial_call=True,
    )

    @app.callback(
        Output("findings-summary", "children"),
        Output("findings-table", "children"),
        Output("findings-version", "data"),
        *[Input(f, "value") for f in FILTERS],
        Input("findings-refresh", "n_intervals"),
        State("findings-version", "data"),
    )
    def show_findings(
        rule: str | None,
        severity: str | None,
        account: str | None,
        start: str | None,
        end: str | None,
        _tick: int | None,
        seen: dict[str, Any] | None,
    ) -> tuple[Any, Any, Any]:
        # What the table on screen answers: the data's version and the filters asked.
        # A tick may skip the query only if both are unchanged, because the browser drops
        # an answer still in flight when a newer call of this callback starts: a tick
        # right after a filter change supersedes that change's answer, so it must answer it.
        shown_now: dict[str, Any] = {
            "version": None,
            "filters": [rule, severity, account, start, end],
        }
        try:
            flt = finding_filter(rule, severity, account, start, end)
            with source.queries() as q:
                shown_now["version"] = q.data_version()
                if ctx.triggered_id == "findings-refresh" and shown_now == seen:
                    return dash.no_update, dash.no_update, dash.no_update
                found = q.findings(flt, limit=ROWS_SHOWN + 1)
        except InputError as exc:
            return str(exc), "", shown_now
        shown = found[:ROWS_SHOWN]
        summary = (
            f"more than {ROWS_SHOWN} findings; showing the newest {ROWS_SHOWN}"
            if len(found) > ROWS_SHOWN
            else f"{len(shown)} finding(s), newest first"
        )
        if not shown:
            return summary, html.P("No finding matches."), shown_now
        rows = finding_rows(shown)
        classes = [f"finding {f.severity}" for f in shown]
        hide = {"account": "narrow-hide"}  # the principal's ARN names it too
        return summary, grid(HEADERS, rows, "findings-list", classes, hide=hide), shown_now
