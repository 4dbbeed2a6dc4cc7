"""Compliance: the privileged-access report for a chosen period (`pipeline.reports`), its
sessions and per-origin summary, downloadable as CSV and as the self-contained HTML."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from dashboards.source import QuerySource
from dashboards.widgets import grid
from pipeline.errors import InputError
from pipeline.queries import Queries
from pipeline.reports import Period, Privilege, Report, privileged_report
from pipeline.reports.html import render_html
from pipeline.reports.tabular import (
    ORIGIN_HEADER,
    SESSION_HEADER,
    origin_cells,
    session_cells,
    sessions_csv,
)
from pipeline.timeutil import iso_z, parse_time

ROWS_SHOWN = 500
KINDS = {
    "admin": "can administer IAM (iam:* or *:*)",
    "action": "can perform an action on a resource",
    "policy": "has a managed policy attached",
}
INPUTS = ["compliance-from", "compliance-to", "compliance-kind", "compliance-a", "compliance-b"]


def _default_period(q: Queries) -> tuple[str, str]:
    span = q.time_range()
    if span is None:
        now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return iso_z(now - timedelta(days=90)), iso_z(now)
    start = span[0].replace(hour=0, minute=0, second=0, microsecond=0)
    end = span[1].replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return iso_z(start), iso_z(end)


def layout(q: Queries) -> html.Div:
    keep: dict[str, Any] = {"persistence": True, "persistence_type": "session"}
    start, end = _default_period(q)
    return html.Div(
        [
            html.Div(
                [
                    html.H2("Compliance: privileged access"),
                    html.Div(
                        [
                            dcc.Input(
                                id="compliance-from",
                                value=start,
                                debounce=True,
                                style={"width": "210px"},
                                **keep,
                            ),
                            dcc.Input(
                                id="compliance-to",
                                value=end,
                                debounce=True,
                                style={"width": "210px"},
                                **keep,
                            ),
                            dcc.Dropdown(
                                [{"label": v, "value": k} for k, v in KINDS.items()],
                                value="admin",
                                id="compliance-kind",
                                clearable=False,
                                style={"width": "300px"},
                                **keep,
                            ),
                            dcc.Input(
                                id="compliance-a",
                                debounce=True,
                                placeholder="action (iam:CreateUser) or policy ARN",
                                style={"width": "300px"},
                                **keep,
                            ),
                            dcc.Input(
                                id="compliance-b",
                                debounce=True,
                                placeholder="resource (* or an ARN)",
                                style={"width": "220px"},
                                **keep,
                            ),
                        ],
                        className="row filters",
                    ),
                    html.Div(
                        [
                            html.Button("Download CSV", id="compliance-csv"),
                            html.Button("Download HTML", id="compliance-html"),
                            dcc.Download(id="compliance-download"),
                        ],
                        className="row",
                        style={"marginTop": "8px"},
                    ),
                    html.Div(
                        "Every session active in the period that held the power by the "
                        "policies in force at its start; estimated ends say so, with their "
                        "basis. The HTML is one file that opens offline, with its evidence "
                        "(log positions, digest): `rolecall report verify FILE` recomputes it.",
                        className="muted",
                        style={"marginTop": "8px"},
                    ),
                ],
                className="card",
            ),
            html.Div(
                [html.H3(id="compliance-summary"), html.Div(id="compliance-origins")],
                className="card",
            ),
            html.Div([html.Div(id="compliance-sessions")], className="card"),
        ]
    )


def privilege_of(kind: str | None, a: str | None, b: str | None) -> Privilege:
    """The chosen privilege; what is missing for it is an InputError saying so."""
    first, second = (a or "").strip(), (b or "").strip()
    if kind == "policy":
        if not first.startswith("arn:"):
            raise InputError("a managed policy: give its ARN (arn:aws:iam::aws:policy/...)")
        return Privilege(kind="policy", policy_arn=first)
    if kind == "action":
        if not (first and second):
            raise InputError("an action and a resource: give both (e.g. iam:CreateUser, *)")
        from pipeline.permissions.session import check_request

        check_request(first, second)
        return Privilege(kind="action", action=first, resource=second)
    if kind not in (None, "admin"):
        raise InputError(f"unknown privilege {kind!r}")
    return Privilege()


def _time(label: str, text: str | None) -> datetime:
    value = (text or "").strip()
    if not value:
        raise InputError(f"{label}: give a time (ISO 8601, UTC)")
    try:
        return parse_time(value)
    except InputError as exc:
        raise InputError(f"{label}: {exc}") from None


def equivalent_command(start: datetime, end: datetime, privilege: Privilege) -> str:
    words = ["rolecall", "report", "privileged", "--from", iso_z(start), "--to", iso_z(end)]
    if privilege.kind == "policy":
        words += ["--policy", str(privilege.policy_arn)]
    elif privilege.kind == "action":
        words += ["--action", str(privilege.action), "--resource", str(privilege.resource)]
    return "dashboard Compliance view; the same as: " + shlex.join(words)


def compliance_report(
    q: Queries, start: str | None, end: str | None, kind: str | None, a: str | None, b: str | None
) -> Report:
    """The report the view shows (an InputError for a bad period or privilege)."""
    lo, hi = _time("from", start), _time("to", end)
    privilege = privilege_of(kind, a, b)
    return privileged_report(
        q,
        Period(lo, hi),
        privilege,
        command=equivalent_command(lo, hi, privilege),
        generated_at=datetime.now(UTC),
    )


def _estimated_class(text: str) -> str:
    return "estimated" if "(estimated" in text else ""


def register(app: dash.Dash, source: QuerySource) -> None:
    @app.callback(
        Output("compliance-summary", "children"),
        Output("compliance-origins", "children"),
        Output("compliance-sessions", "children"),
        *[Input(i, "value") for i in INPUTS],
    )
    def show(
        start: str | None, end: str | None, kind: str | None, a: str | None, b: str | None
    ) -> tuple[Any, Any, Any]:
        try:
            with source.queries() as q:
                report = compliance_report(q, start, end, kind, a, b)
        except InputError as exc:
            return str(exc), "", ""
        without = sum(1 for s in report.sessions if s.mfa_authenticated is False)
        summary = (
            f"{len(report.sessions)} session(s) that {report.privilege['description']}, "
            f"from {len(report.origins)} origin(s); {without} without MFA"
            + (f"; {len(report.undecided)} could not be decided" if report.undecided else "")
        )
        origins = grid(
            ORIGIN_HEADER, [list(origin_cells(o)) for o in report.origins], "compliance-origin-list"
        )
        shown = report.sessions[:ROWS_SHOWN]
        rows = [
            [html.Span(c, className=_estimated_class(c)) for c in session_cells(s)] for s in shown
        ]
        more = (
            html.P(f"showing the first {ROWS_SHOWN}; download the CSV for all", className="muted")
            if len(report.sessions) > ROWS_SHOWN
            else ""
        )
        sessions = [
            html.H3("Sessions"),
            grid(SESSION_HEADER, rows, "compliance-session-list"),
            more,
        ]
        return summary, origins, sessions

    @app.callback(
        Output("compliance-download", "data"),
        Input("compliance-csv", "n_clicks"),
        Input("compliance-html", "n_clicks"),
        *[State(i, "value") for i in INPUTS],
        prevent_initial_call=True,
    )
    def download(
        _csv: int | None,
        _html: int | None,
        start: str | None,
        end: str | None,
        kind: str | None,
        a: str | None,
        b: str | None,
    ) -> Any:
        with source.queries() as q:
            report = compliance_report(q, start, end, kind, a, b)
        stem = f"privileged-{iso_z(report.period_from)[:10]}-{iso_z(report.period_to)[:10]}"
        # what dcc.send_string returns, written out (it is untyped)
        if dash.ctx.triggered_id == "compliance-html":
            return {"content": render_html(report), "filename": f"{stem}.html", "base64": False}
        return {"content": sessions_csv(report), "filename": f"{stem}.csv", "base64": False}
