"""Pivot pages: an IAM user, an access key, a source IP or a role, and what is behind it
(its sessions, the keys used, its calls over time, its findings), from `Queries.pivot`.

`/pivot/user?arn=ARN`, `/pivot/key?id=KEY`, `/pivot/ip?addr=IP`, `/pivot/role?arn=ARN`;
`/pivot` alone is the form.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from dashboards import fast_table as ft
from dashboards.widgets import (
    arn_link,
    finding_href,
    finding_time,
    grid,
    severity_pill,
    when,
)
from pipeline.errors import RolecallError
from pipeline.pivots import Pivot
from pipeline.queries import Queries

PARAM = {"user": "arn", "key": "id", "ip": "addr", "role": "arn"}
KIND_LABELS = {
    "user": "IAM user (ARN)",
    "key": "access key id",
    "ip": "source IP",
    "role": "role (ARN or name)",
}
SESSION_HEADERS = ["session", "principal", "role", "origin", "how assumed", "since", "until"]


def href(kind: str, value: str) -> str:
    return f"/pivot/{kind}?{PARAM[kind]}=" + quote(value, safe="")


def layout(q: Queries, kind: str, params: dict[str, list[str]]) -> html.Div:
    value = (params.get(PARAM.get(kind, "value")) or [""])[0].strip()
    form = _form(kind if kind in PARAM else "user", value)
    if kind not in PARAM or not value:
        return html.Div([form])
    try:
        found = q.pivot(kind, value)
    except RolecallError as exc:
        return html.Div([form, html.Div(html.P(str(exc), id="pivot-error"), className="card")])
    return html.Div([form, *_answer(found)], id="pivot-view")


def _form(kind: str, value: str) -> html.Div:
    return html.Div(
        [
            html.H2("Pivot"),
            html.Div(
                [
                    dcc.Dropdown(
                        [{"label": v, "value": k} for k, v in KIND_LABELS.items()],
                        kind,
                        id="pivot-kind",
                        clearable=False,
                        style={"width": "210px"},
                    ),
                    dcc.Input(
                        id="pivot-value",
                        value=value or None,
                        placeholder="arn:aws:iam::111122223333:user/alice, AKIA..., 198.51.100.7",
                        style={"width": "560px"},
                    ),
                    html.Button("Go", id="pivot-go"),
                ],
                className="row",
            ),
        ],
        className="card",
    )


def _answer(p: Pivot) -> list[Any]:
    who: list[Any] = [html.Span(p.value, className="mono")]
    if p.principal_arn and p.kind == "key":
        who += [" · ", arn_link(p.principal_arn)]
    summary = (
        f"{p.sessions_total} session(s), {p.actions_total} call(s) ({p.denied_total} denied), "
        f"{len(p.keys)} key(s), {len(p.findings)} finding(s)"
    )
    shown = f" (the newest {len(p.sessions)})" if p.sessions_total > len(p.sessions) else ""
    sessions = [
        [
            ft.session_cell(s.session_id),
            ft.principal_cell(s),
            ft.role_cell(s),
            ft.origin_cell(s),
            ft.via_cell(s.via),
            ft.started_cell(s),
            ft.ending_cell(s),
        ]
        for s in p.sessions
    ]
    return [
        html.Div(
            [
                html.H3([p.label, ": ", *who], id="pivot-title"),
                html.P(summary, id="pivot-summary"),
                dcc.Graph(
                    id="pivot-activity",
                    figure=_activity(p),
                    config={"displayModeBar": False},
                ),
            ],
            className="card",
        ),
        html.Div([html.H3(f"Findings ({len(p.findings)})"), _findings(p)], className="card"),
        html.Div(
            [
                html.H3(f"Sessions: {p.sessions_total}{shown}, newest first"),
                ft.html_table(SESSION_HEADERS, sessions, "pivot-sessions", hide=_HIDE)
                if sessions
                else html.P("None recorded."),
            ],
            className="card",
        ),
        html.Div([html.H3(f"Keys used ({len(p.keys)})"), _keys(p)], className="card"),
        html.Div(
            [html.H3(f"Calls: the newest {len(p.actions)} of {p.actions_total}"), _calls(p)],
            className="card",
        ),
    ]


_HIDE = {"how assumed": "narrow-hide"}


def _activity(p: Pivot) -> go.Figure:
    """Calls per bucket, allowed and denied stacked."""
    fig = go.Figure()
    width = p.bucket_seconds * 1000
    for name, color, values in (
        ("allowed", "#1a7f37", [b.allowed for b in p.activity]),
        ("denied", "#c62828", [b.denied for b in p.activity]),
    ):
        fig.add_bar(
            x=[b.start for b in p.activity],
            y=values,
            name=name,
            marker_color=color,
            offset=0,
            width=width,
            hovertemplate="%{x|%Y-%m-%d %H:%M}: %{y} " + name + "<extra></extra>",
        )
    fig.update_layout(
        height=170,
        barmode="stack",
        bargap=0,
        margin={"l": 10, "r": 10, "t": 10, "b": 30},
        plot_bgcolor="#fff",
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
    )
    fig.update_yaxes(title_text=f"calls / {_bucket(p.bucket_seconds)}", gridcolor="#eee")
    fig.update_xaxes(type="date")
    return fig


def _bucket(seconds: int) -> str:
    if seconds % 86_400 == 0:
        return f"{seconds // 86_400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def _findings(p: Pivot) -> Any:
    if not p.findings:
        return html.P("No finding.", id="pivot-findings")
    rows = [
        [
            dcc.Link(f.rule, href=finding_href(f.session_id, f.finding_id))
            if f.session_id
            else f.rule,
            severity_pill(f.severity),
            html.Span(f.summary),
            finding_time(f.first_at, f.last_at),
        ]
        for f in p.findings
    ]
    return grid(["rule", "severity", "summary", "time"], rows, "pivot-findings")


def _keys(p: Pivot) -> Any:
    if not p.keys:
        return html.P("No key recorded.")
    rows = [
        [
            ft.key_cell(k.access_key_id),
            ft.session_cell(k.session_id)
            if k.session_id
            else ft.text(
                "none (long-term key)" if k.access_key_id.startswith("AKIA") else "unknown",
                cls="muted",
            ),
            ft.text(when(k.first_at)),
            ft.text(when(k.last_at)),
            ft.text(k.calls),
            ft.text(k.denied),
        ]
        for k in p.keys
    ]
    headers = ["key", "session", "first call", "last call", "calls", "denied"]
    return ft.html_table(headers, rows, "pivot-keys")


def _calls(p: Pivot) -> Any:
    if not p.actions:
        return html.P("No call recorded.")
    rows = [
        [
            ft.text(when(a.event_time)),
            ft.key_cell(a.access_key_id),
            ft.text(a.action),
            ft.text(", ".join(a.resources) or "none recorded", cls="mono"),
            ft.text(a.outcome.lower(), cls=a.outcome.lower()),
            ft.text(a.error_code or ""),
            ft.ip_cell(a.source_ip),
        ]
        for a in p.actions
    ]
    headers = ["time", "key", "action", "resources", "outcome", "error", "source IP"]
    return ft.html_table(headers, rows, "pivot-calls")


def register(app: dash.Dash) -> None:
    @app.callback(
        Output("url", "href", allow_duplicate=True),
        Input("pivot-go", "n_clicks"),
        Input("pivot-value", "n_submit"),
        State("pivot-kind", "value"),
        State("pivot-value", "value"),
        prevent_initial_call=True,
    )
    def go_to(_n: int | None, _s: int | None, kind: str, value: str | None) -> str:
        text = (value or "").strip()
        if kind not in PARAM or not text:
            return dash.no_update  # type: ignore[return-value]
        return href(kind, text)
