"""Timeline: a Gantt of a window's sessions by principal or role; click one to open it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from dashboards.clientside import clientside
from dashboards.figures import timeline_figure
from dashboards.links import session_href
from dashboards.source import QuerySource
from dashboards.widgets import filter_controls, session_filter
from pipeline.errors import RolecallError
from pipeline.queries import Queries
from pipeline.timeutil import iso, parse_time

FILTERS = ["timeline-account", "timeline-role", "timeline-principal", "timeline-via"]


def _given(params: dict[str, list[str]], key: str) -> str | None:
    return (params.get(key) or [""])[0].strip() or None


def layout(q: Queries, params: dict[str, list[str]] | None = None) -> html.Div:
    """The page; `params` (the URL's query: `from`, `to`, `lane`, `account`, `role`,
    `principal`, `via`) sets its window and filters, so a link opens what was seen."""
    params = params or {}
    span = q.time_range()
    if span is None:
        return html.Div([html.H2("Timeline"), html.P("The store holds no sessions yet.")])
    start = span[0].replace(minute=0, second=0, microsecond=0)
    end = min(span[1], start + timedelta(hours=24))
    lane = "role" if _given(params, "lane") == "role" else "principal"
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.Label("From"),
                            dcc.Input(
                                id="timeline-from",
                                value=_given(params, "from") or iso(start),
                                debounce=True,
                                style={"width": "200px"},
                            ),
                            html.Label("to"),
                            dcc.Input(
                                id="timeline-to",
                                value=_given(params, "to") or iso(end),
                                debounce=True,
                                style={"width": "200px"},
                            ),
                            html.Label("lanes by"),
                            dcc.RadioItems(
                                ["principal", "role"],
                                lane,
                                id="timeline-lane",
                                inline=True,
                            ),
                        ],
                        className="row",
                    ),
                    html.Div(
                        filter_controls(
                            "timeline",
                            q.facets(),
                            {k: _given(params, k) for k in ("account", "role", "principal", "via")},
                        ),
                        style={"marginTop": "10px"},
                    ),
                    dcc.Store(id="timeline-url"),
                ],
                className="card",
            ),
            html.Div(
                [
                    html.H3(id="timeline-summary"),
                    html.Div(
                        "Bars are sessions coloured by how they were assumed; markers show how "
                        "each ended (| exited, ○ expired, x revoked); ticks on a bar are its "
                        "calls (dark allowed, red denied). Sessions of one lane that overlap "
                        "lie side by side on numbered sub-lanes. Click a bar to open it.",
                        className="muted",
                    ),
                    dcc.Graph(id="timeline-graph", config={"displayModeBar": False}),
                ],
                className="card",
            ),
        ]
    )


def register(app: dash.Dash, source: QuerySource) -> None:
    clientside(
        app,
        """function (from, to, lane, account, role, principal, via) {
            return window.dash_clientside.rolecall.write({from: from, to: to, lane: lane,
                account: account, role: role, principal: principal, via: via});
        }""",
        Output("timeline-url", "data"),
        Input("timeline-from", "value"),
        Input("timeline-to", "value"),
        Input("timeline-lane", "value"),
        *[Input(f, "value") for f in FILTERS],
        prevent_initial_call=True,
    )

    @app.callback(
        Output("timeline-graph", "figure"),
        Output("timeline-summary", "children"),
        Input("timeline-from", "value"),
        Input("timeline-to", "value"),
        Input("timeline-lane", "value"),
        *[Input(f, "value") for f in FILTERS],
    )
    def draw(
        start_text: str,
        end_text: str,
        lane: str,
        account: str | None,
        role: str | None,
        principal: str | None,
        via: str | None,
    ) -> tuple[Any, str]:
        try:
            start, end = parse_time(start_text or ""), parse_time(end_text or "")
            with source.queries() as q:
                tl = q.timeline(
                    start,
                    end,
                    session_filter(account, role, principal, via),
                    lane="role" if lane == "role" else "principal",
                )
                calls = q.calls_of_sessions([b.session_id for b in tl.bars], start, end)
        except RolecallError as exc:
            return dash.no_update, str(exc)
        how = (
            f"shown as counts per {tl.bucket_seconds // 60} min (too many for one bar each)"
            if tl.aggregated
            else "one bar each"
        )
        return timeline_figure(
            tl, calls
        ), f"{tl.total} session(s) from {iso(start)} to {iso(end)}: {how}"

    @app.callback(
        Output("url", "href", allow_duplicate=True),
        Input("timeline-graph", "clickData"),
        State("url", "href"),
        prevent_initial_call=True,
    )
    def open_session(click: dict[str, Any] | None, _href: str) -> str:
        points = (click or {}).get("points") or []
        data = points[0].get("customdata") if points else None
        if not data:
            return dash.no_update  # type: ignore[return-value]
        return session_href(str(data[0]))
