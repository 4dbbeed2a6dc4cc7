"""Replay: move through time and see who held what, on whose behalf, at that moment."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import dash
from dash import Input, Output, State, ctx, dcc, html

from dashboards import hooks
from dashboards.figures import activity_figure
from dashboards.source import QuerySource
from dashboards.widgets import (
    ending,
    filter_controls,
    grid,
    name,
    origin,
    principal,
    session_filter,
    session_link,
    started,
    via_pill,
    when,
)
from pipeline.findings import Finding, FindingFilter
from pipeline.queries import Queries
from pipeline.replay import Timeline
from pipeline.sessions import SessionFilter
from pipeline.timeutil import iso, parse_time

ROWS_SHOWN = 200
MARKERS_SHOWN = 2000  # findings marked on the activity chart (the newest)
STEPS = {"1 min": 1, "5 min": 5, "15 min": 15, "1 hour": 60, "6 hours": 360}
FILTERS = ["replay-account", "replay-role", "replay-principal", "replay-via"]


def layout(q: Queries) -> html.Div:
    span = q.time_range()
    if span is None:
        return html.Div([html.H2("Replay"), html.P("The store holds no sessions yet.")])
    start = span[0].replace(second=0, microsecond=0)
    minutes = max(1, int((span[1] - start).total_seconds() // 60) + 1)
    marks = _marks(start, span[1])
    keep: dict[str, Any] = {"persistence": True, "persistence_type": "session"}
    return html.Div(
        [
            dcc.Store(id="replay-origin", data=iso(start)),
            dcc.Interval(id="replay-clock", interval=1000, disabled=True),
            html.Div(
                [
                    html.Div(
                        [
                            html.Button("◀ step", id="replay-back"),
                            html.Button("▶ play", id="replay-play"),
                            html.Button("step ▶", id="replay-forward"),
                            dcc.Dropdown(
                                list(STEPS),
                                "5 min",
                                id="replay-step",
                                clearable=False,
                                style={"width": "110px"},
                                **keep,
                            ),
                            html.Span(id="replay-moment", className="moment"),
                            html.Span("UTC", className="muted"),
                        ],
                        className="row",
                    ),
                    html.Div(
                        dcc.Slider(
                            0,
                            minutes,
                            1,
                            value=min(minutes, 12 * 60),
                            marks=marks,
                            id="replay-slider",
                            updatemode="mouseup",
                            **keep,
                        ),
                        style={"marginTop": "14px"},
                    ),
                    dcc.Graph(
                        id="replay-activity",
                        config={"displayModeBar": False},
                        clear_on_unhover=True,
                    ),
                    html.Div(
                        "Bars: sessions active per interval, by how they were assumed. "
                        "Diamonds: findings at their first evidence, by severity (of the "
                        "chosen account; hover for the rule and summary). "
                        "Click the chart to jump there.",
                        className="muted",
                    ),
                ],
                className="card",
            ),
            html.Div(filter_controls("replay", q.facets()), className="card"),
            html.Div([html.H3(id="replay-summary"), html.Div(id="replay-table")], className="card"),
        ]
    )


def _marks(start: datetime, end: datetime) -> dict[int, str]:
    """Slider labels: every day, and every 6 hours while the range is short enough."""
    days = (end - start).days + 1
    every = timedelta(hours=6) if days <= 4 else timedelta(days=max(1, days // 8))
    mark = start.replace(hour=0, minute=0)
    marks: dict[int, str] = {}
    while mark <= end:
        offset = int((mark - start).total_seconds() // 60)
        if offset >= 0:
            marks[offset] = mark.strftime("%b %d" if mark.hour == 0 else "%H:%M")
        mark += every
    return marks


def _moment(origin: str, minutes: int) -> datetime:
    return parse_time(origin) + timedelta(minutes=int(minutes or 0))


_activity_cache: dict[tuple[SessionFilter, int], Timeline] = {}
_activity_lock = threading.Lock()


def history_activity(q: Queries, flt: SessionFilter) -> Timeline:
    """The whole history's activity for a filter, computed once per filter and data version.

    It does not depend on the slider, and on a large store it costs more than the
    moment's sessions do, so a slider move reuses it until the materializer adds events.
    """
    key = (flt, q.data_version())
    with _activity_lock:
        cached = _activity_cache.get(key)
    if cached is not None:
        return cached
    span = q.time_range()
    now = datetime.now(UTC)
    start, end = span if span else (now, now + timedelta(hours=1))
    activity = q.timeline(start, end + timedelta(minutes=1), flt, max_bars=0)
    with _activity_lock:
        if len(_activity_cache) >= 64:
            _activity_cache.clear()
        _activity_cache[key] = activity
    return activity


_findings_cache: dict[tuple[str | None, int], list[Finding]] = {}


def history_findings(q: Queries, account: str | None) -> list[Finding]:
    """The findings marked on the activity chart (of the chosen account), read once per
    data version: a slider move does not change them."""
    key = (account, q.data_version())
    with _activity_lock:
        cached = _findings_cache.get(key)
    if cached is not None:
        return cached
    found = q.findings(FindingFilter(account_id=account), limit=MARKERS_SHOWN)
    with _activity_lock:
        if len(_findings_cache) >= 64:
            _findings_cache.clear()
        _findings_cache[key] = found
    return found


def session_rows(q: Queries, at: datetime, sessions: list[Any]) -> list[list[Any]]:
    summary = hooks.permissions_summary(q)
    return [
        [
            session_link(s.session_id),
            principal(s),
            name(s.role_arn) if s.role_arn else html.Span("(the user's own)"),
            origin(s),
            via_pill(s.via),
            html.Span(started(s), className="nowrap"),
            html.Span(ending(s), className="nowrap"),
            summary(s.session_id, at),
        ]
        for s in sessions
    ]


HEADERS = [
    "session",
    "principal",
    "role",
    "origin (human or service)",
    "how assumed",
    "since",
    "until",
    "permissions",
]


def register(app: dash.Dash, source: QuerySource) -> None:
    @app.callback(
        Output("replay-clock", "disabled"),
        Output("replay-play", "children"),
        Input("replay-play", "n_clicks"),
        State("replay-clock", "disabled"),
        prevent_initial_call=True,
    )
    def toggle_play(_n: int | None, paused: bool) -> tuple[bool, str]:
        return (False, "⏸ pause") if paused else (True, "▶ play")

    @app.callback(
        Output("replay-slider", "value"),
        Input("replay-back", "n_clicks"),
        Input("replay-forward", "n_clicks"),
        Input("replay-clock", "n_intervals"),
        Input("replay-activity", "clickData"),
        State("replay-slider", "value"),
        State("replay-slider", "max"),
        State("replay-step", "value"),
        State("replay-origin", "data"),
        prevent_initial_call=True,
    )
    def step(
        _b: Any,
        _f: Any,
        _t: Any,
        click: dict[str, Any] | None,
        value: int,
        top: int,
        size: str,
        origin: str,
    ) -> int:
        if ctx.triggered_id == "replay-activity":
            if not click or not click.get("points"):
                return dash.no_update  # type: ignore[return-value]
            x = parse_time(str(click["points"][0]["x"]))
            return max(0, min(top, int((x - parse_time(origin)).total_seconds() // 60)))
        delta = STEPS.get(size, 5) * (-1 if ctx.triggered_id == "replay-back" else 1)
        return max(0, min(top, int(value or 0) + delta))

    @app.callback(
        Output("replay-moment", "children"),
        Output("replay-summary", "children"),
        Output("replay-table", "children"),
        Output("replay-activity", "figure"),
        Input("replay-slider", "value"),
        *[Input(f, "value") for f in FILTERS],
        State("replay-origin", "data"),
    )
    def show_moment(
        minutes: int,
        account: str | None,
        role: str | None,
        principal: str | None,
        via: str | None,
        origin: str,
    ) -> tuple[Any, ...]:
        at = _moment(origin, minutes)
        flt = session_filter(account, role, principal, via)
        with source.queries() as q:
            active = q.active_sessions(at, flt, limit=ROWS_SHOWN)
            activity = history_activity(q, flt)
            findings = history_findings(q, flt.account_id)
            rows = session_rows(q, at, active.sessions)
        shown = f" (showing the newest {len(rows)})" if active.total > len(rows) else ""
        summary = f"{active.total} session(s) active at {iso(at)}{shown}"
        table = grid(HEADERS, rows, "replay-sessions") if rows else html.P("No session active.")
        return when(at), summary, table, activity_figure(activity, at, findings)
