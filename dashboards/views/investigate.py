"""Investigate: an access key to its chain; a principal's or a role's sessions; who could."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from dashboards import hooks
from dashboards.clientside import clientside
from dashboards.fast_table import html_table
from dashboards.source import QuerySource
from dashboards.views.replay import HEADERS, session_rows
from dashboards.widgets import (
    ending,
    finding_time,
    grid,
    name,
    origin,
    session_link,
    severity_pill,
    started,
    via_pill,
    when,
)
from pipeline.errors import RolecallError
from pipeline.findings import FindingFilter
from pipeline.permissions import WhoCould
from pipeline.queries import LongTermKeyTrace, Queries
from pipeline.sessions import SessionFilter
from pipeline.timeutil import parse_time

NOT_YET = "Available once the permissions query (who_could) is in the query API."
KINDS = {"key": "access key id", "principal": "principal or origin ARN", "role": "role ARN"}


def layout(q: Queries, principal: str = "", *, key: str = "", role: str = "") -> html.Div:
    """The page; with `principal` (a finding about a principal with no session links here
    with `?principal=ARN`) it opens on that principal's sessions; with `key` (`?key=`) on
    a key's trace, with `role` (`?role=`) on a role's sessions."""
    could = hooks.who_could(q) is not None
    principal, key, role = principal.strip(), key.strip(), role.strip()
    kind, asked = ("key", key) if key else ("role", role) if role else ("principal", principal)
    result: Any = None
    try:
        if key:
            result = _trace(q, key)
        elif role:
            result = _sessions(q, SessionFilter(role_arn=role), role)
        elif principal:
            result = [_principal_findings(q, principal), _principal_sessions(q, principal)]
    except RolecallError as exc:
        result = html.Div(html.P(str(exc)), className="card")
    return html.Div(
        [
            html.Div(
                [
                    html.H2("Investigate"),
                    html.Div(
                        [
                            dcc.RadioItems(
                                [{"label": v, "value": k} for k, v in KINDS.items()],
                                kind if asked else "key",
                                id="investigate-kind",
                                inline=True,
                            ),
                            dcc.Input(
                                id="investigate-query",
                                value=asked or None,
                                placeholder="ASIA... or an ARN",
                                style={"width": "560px"},
                                debounce=True,
                            ),
                            html.Button("Search", id="investigate-go"),
                        ],
                        className="row",
                    ),
                ],
                className="card",
            ),
            dcc.Store(id="investigate-url"),
            html.Div(result, id="investigate-result"),
            html.Div(
                [
                    html.H3("Who could do action A on resource R at time T"),
                    html.Div(
                        [
                            dcc.Input(
                                id="could-action",
                                placeholder="s3:GetObject",
                                style={"width": "260px"},
                            ),
                            dcc.Input(
                                id="could-resource",
                                placeholder="arn:aws:s3:::bucket/key",
                                style={"width": "260px"},
                            ),
                            dcc.Input(
                                id="could-at",
                                placeholder="2026-01-05T12:00:00Z",
                                style={"width": "260px"},
                            ),
                            html.Button("Ask", id="could-go", disabled=not could),
                        ],
                        className="row",
                    ),
                    html.Div(
                        id="could-result",
                        children="" if could else NOT_YET,
                        className="muted",
                    ),
                ],
                className="card",
            ),
        ]
    )


def _could_answer(answer: WhoCould) -> html.Div:
    """Sessions and IAM users whose permissions allowed the action, with the deciding reason."""
    rows = [
        [
            session_link(s.session_id),
            origin(s),
            name(s.role_arn) if s.role_arn else html.Span("(the user's own)"),
            via_pill(s.via),
            d.reason,
        ]
        for s, d in answer.sessions
    ]
    users = [[name(arn), d.reason] for arn, d in answer.principals]
    parts: list[Any] = [
        html.P(
            f"{len(answer.sessions)} of {answer.considered} active sessions could "
            f"({answer.action} on {answer.resource}).",
            id="could-count",
        ),
    ]
    if rows:
        parts.append(grid(["session", "origin", "role", "how", "why"], rows, "could-table"))
    if users:
        parts.append(html.H4("IAM users whose own policies allow it"))
        parts.append(grid(["user", "why"], users))
    parts.append(html.P(answer.note, className="muted"))
    return html.Div(parts)


def _trace(q: Queries, key: str) -> html.Div:
    trace = q.trace(key)
    if isinstance(trace, LongTermKeyTrace):
        return _long_term(q, trace)
    steps = [html.Li([origin(trace.chain[0]), "  origin"], className="origin")]
    for s in trace.chain:
        steps.append(
            html.Li(
                [
                    session_link(s.session_id),
                    " ",
                    via_pill(s.via),
                    " ",
                    name(s.role_arn) if s.role_arn else html.Span("(the user's own)"),
                    html.Span(["  ", started(s), " → ", ending(s)], className="muted"),
                ],
                className="current" if s.session_id == trace.session_id else "",
            )
        )
    return html.Div(
        [
            html.H3(f"{key} belongs to session {trace.session_id}"),
            html.Ul(steps, className="chain", id="investigate-chain"),
        ],
        className="card",
    )


def _long_term(q: Queries, trace: LongTermKeyTrace) -> html.Div:
    """A long-term key: its IAM user, the sessions it opened, its recorded calls."""
    sessions = trace.sessions
    rows = session_rows(q, sessions[0].started_at, sessions) if sessions else []
    calls = [
        [when(a.event_time), a.action, html.Span(a.outcome.lower(), className=a.outcome.lower())]
        for a in trace.actions[:200]
    ]
    return html.Div(
        [
            html.H3(f"{trace.access_key_id}: long-term key of {trace.principal_label}"),
            html.H4(f"{len(sessions)} session(s) it opened"),
            html_table(HEADERS, rows, "investigate-opened") if rows else html.P("None recorded."),
            html.H4(f"{trace.actions_total} recorded call(s)"),
            grid(["time", "action", "outcome"], calls) if calls else html.P("None recorded."),
        ],
        className="card",
        id="investigate-long-term",
    )


def _sessions(q: Queries, flt: SessionFilter, title: str) -> html.Div:
    total, sessions = q.sessions_of(flt, limit=200)
    body: list[Any] = [html.H3(f"{title}: {total} session(s), newest first")]
    if flt.role_arn:
        holders = q.holders(flt.role_arn)
        body.append(
            grid(
                ["origin", "sessions", "first", "last"],
                [
                    [
                        name(h["origin_arn"]) if h["origin_arn"] else h["origin_label"],
                        h["sessions"],
                        when(h["first"]),
                        when(h["last"]),
                    ]
                    for h in holders
                ],
            )
        )
        body.append(html.H3("Sessions"))
    rows = session_rows(q, sessions[0].started_at, sessions) if sessions else []
    body.append(
        html_table(HEADERS, rows, "investigate-sessions") if rows else html.P("None found.")
    )
    return html.Div(body, className="card")


def _principal_findings(q: Queries, principal: str) -> html.Div:
    """The findings about a principal, with their evidence ids: a finding with no session
    has no session page to highlight them on."""
    found = q.findings(FindingFilter(principal_arn=principal))
    rows = [
        [
            f.rule,
            severity_pill(f.severity),
            html.Span(f.summary, className="wrap"),
            html.Span(finding_time(f.first_at, f.last_at), className="nowrap"),
            session_link(f.session_id) if f.session_id else "no session",
            html.Span(", ".join(f.evidence), className="mono wrap"),
        ]
        for f in found
    ]
    headers = ["rule", "severity", "summary", "time", "session", "evidence"]
    return html.Div(
        [
            html.H3(f"Findings about {principal}: {len(found)}"),
            grid(headers, rows, "investigate-findings") if rows else html.P("None."),
        ],
        className="card",
    )


def _principal_sessions(q: Queries, principal: str) -> html.Div:
    try:
        return _sessions(q, SessionFilter(principal=principal), principal)
    except RolecallError as exc:
        return html.Div(html.P(str(exc)), className="card")


def register(app: dash.Dash, source: QuerySource) -> None:
    clientside(
        app,
        """function (_n, text, kind) {
            var params = {};
            params[kind] = (text || "").trim();
            return window.dash_clientside.rolecall.write(params);
        }""",
        Output("investigate-url", "data"),
        Input("investigate-go", "n_clicks"),
        Input("investigate-query", "value"),
        State("investigate-kind", "value"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("investigate-result", "children"),
        Input("investigate-go", "n_clicks"),
        Input("investigate-query", "value"),
        State("investigate-kind", "value"),
        prevent_initial_call=True,
    )
    def search(_n: Any, text: str | None, kind: str) -> Any:
        value = (text or "").strip()
        if not value:
            return html.P("Type an access key id or an ARN.", className="muted")
        try:
            with source.queries() as q:
                if kind == "key":
                    return _trace(q, value)
                if kind == "role":
                    return _sessions(q, SessionFilter(role_arn=value), value)
                return _principal_sessions(q, value)
        except RolecallError as exc:
            return html.Div(html.P(str(exc)), className="card")

    @app.callback(
        Output("could-result", "children"),
        Input("could-go", "n_clicks"),
        State("could-action", "value"),
        State("could-resource", "value"),
        State("could-at", "value"),
        prevent_initial_call=True,
    )
    def could(_n: Any, action: str | None, resource: str | None, at: str | None) -> Any:
        try:
            with source.queries() as q:
                ask = hooks.who_could(q)
                if ask is None:
                    return "Not available yet."
                answers = ask(action or "", resource or "", parse_time(at or ""))
        except RolecallError as exc:
            return str(exc)
        return _could_answer(answers)
