"""Replay: move through time and see who held what, on whose behalf, at that moment."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from dashboards import fast_table as ft
from dashboards import permission_cache
from dashboards.clientside import browser, clientside
from dashboards.figures import activity_figure
from dashboards.permission_cache import PENDING
from dashboards.source import QuerySource
from dashboards.widgets import (
    filter_controls,
    session_filter,
)
from pipeline.errors import RolecallError
from pipeline.findings import Finding, FindingFilter
from pipeline.queries import Queries
from pipeline.replay import Timeline
from pipeline.sessions import SessionFilter
from pipeline.timeutil import iso, parse_time

ROWS_SHOWN = 200
MARKERS_SHOWN = 2000  # findings marked on the activity chart (the newest)
# A step shows the permissions already worked out and leaves the rest to a second request:
# evaluating one costs milliseconds, and the newest 200 sessions change at every step.
PERMISSIONS_BUDGET_S = 0.0
STEPS = {"1 min": 1, "5 min": 5, "15 min": 15, "1 hour": 60, "6 hours": 360}
FILTERS = ["replay-account", "replay-role", "replay-principal", "replay-via"]


def _initial(params: dict[str, list[str]], key: str) -> str | None:
    values = params.get(key) or [""]
    return values[0].strip() or None


def layout(
    q: Queries, params: dict[str, list[str]] | None = None, *, knowable: bool = False
) -> html.Div:
    """The page; `params` (the URL's query) sets its moment (`at`) and filters (`account`,
    `role`, `principal`, `via`), so a shared link opens what its sender saw. With
    `knowable` (the dashboard has the log), the table can answer as known at a moment
    (`known`)."""
    params = params or {}
    span = q.time_range()
    if span is None:
        return html.Div([html.H2("Replay"), html.P("The store holds no sessions yet.")])
    start = span[0].replace(second=0, microsecond=0)
    minutes = max(1, int((span[1] - start).total_seconds() // 60) + 1)
    value = min(minutes, 12 * 60)
    asked = _initial(params, "at")
    note = ""
    if asked:
        try:
            at = parse_time(asked)
            value = max(0, min(minutes, int((at - start).total_seconds() // 60)))
        except RolecallError:
            note = f"The link's moment is not a time ({asked[:40]}): shown at the default."
    marks = _marks(start, span[1])
    return html.Div(
        [
            dcc.Store(id="replay-origin", data=iso(start)),
            dcc.Store(id="replay-pending"),
            dcc.Store(id="replay-settled"),
            dcc.Store(id="replay-url"),
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
                            ),
                            html.Span(id="replay-moment", className="moment"),
                            html.Span("UTC", className="muted"),
                            html.Label("go to", htmlFor="replay-at", className="muted"),
                            dcc.Input(
                                id="replay-at",
                                placeholder="2026-01-05T12:00:00Z",
                                style={"width": "200px"},
                            ),
                            html.Span(note, id="replay-at-error", className="unknown"),
                        ],
                        className="row",
                    ),
                    _known_at_control(knowable, _initial(params, "known")),
                    html.Div(
                        dcc.Slider(
                            0,
                            minutes,
                            1,
                            value=value,
                            marks=marks,
                            id="replay-slider",
                            updatemode="mouseup",
                            allow_direct_input=False,
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
            html.Div(
                filter_controls(
                    "replay",
                    q.facets(),
                    {k: _initial(params, k) for k in ("account", "role", "principal", "via")},
                ),
                className="card",
            ),
            # Filled in the browser from `replay-html` (one string): the moment's table
            # mounts in milliseconds, where as Dash components it took seconds.
            dcc.Store(id="replay-html"),
            dcc.Store(id="replay-painted"),
            html.Div(id="replay-table", className="card html-table"),
        ]
    )


def _known_at_control(knowable: bool, value: str | None) -> html.Div:
    """ "As known at": the table answers from the log records ingested by then."""
    why = (
        "Answer from what the log held at this moment (its records ingested by then); "
        "empty: from everything known now. The chart shows everything known now."
        if knowable
        else "Needs the log: start the dashboard with --log URL, or use rolecall serve."
    )
    return html.Div(
        [
            html.Label("as known at", htmlFor="replay-known-at", className="muted"),
            dcc.Input(
                id="replay-known-at",
                value=value if knowable else None,
                placeholder="now" if knowable else "needs --log",
                debounce=True,
                disabled=not knowable,
                style={"width": "200px"},
            ),
            html.Span(why, className="muted"),
        ],
        className="row",
        style={"marginTop": "8px"},
    )


def _answering(source: QuerySource, known: str | None) -> tuple[QuerySource, str]:
    """The source for the table (the store, or what the log held at `known`), and the
    words that say which."""
    if not (known or "").strip():
        return source, ""
    src, what = source.known_at(parse_time(str(known)))
    return src, f"As known at {iso(what.at)}: {what.note}."


def _marks(start: datetime, end: datetime) -> dict[int, str]:
    """Slider labels with the year: every day (or every few days or months on a long
    range), and every 6 hours while the range is short enough."""
    days = (end - start).days + 1
    every = timedelta(hours=6) if days <= 4 else timedelta(days=max(1, days // 8))
    mark = start.replace(hour=0, minute=0)
    marks: dict[int, str] = {}
    while mark <= end:
        offset = int((mark - start).total_seconds() // 60)
        if offset >= 0:
            marks[offset] = mark.strftime("%Y-%m-%d" if mark.hour == 0 else "%H:%M")
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


def session_rows(
    q: Queries, at: datetime, sessions: list[Any], perms: list[str] | None = None
) -> list[list[str]]:
    """The table's rows as HTML cells; `perms` (one per session) are the permissions
    column when already worked out (dashboards.permission_cache), else computed here."""
    if perms is None:
        perms, _ = permission_cache.summaries(q, at, sessions)
    return [
        [
            ft.session_cell(s.session_id),
            ft.principal_cell(s),
            ft.role_cell(s),
            ft.origin_cell(s),
            ft.via_cell(s.via),
            ft.started_cell(s),
            ft.ending_cell(s),
            f'<span class="{"pending" if text == PENDING else ""}">{escape(text)}</span>',
        ]
        for s, text in zip(sessions, perms, strict=True)
    ]


# Columns hidden first on a narrow window (CSS classes on the table): "how assumed" is the
# pill's colour in the chart legend, and "since" is in the session's page.
HIDDEN_FIRST = {"how assumed": "narrow-hide", "since": "narrow-hide"}
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

    # Steps, play ticks, chart clicks and typed moments move the slider in the browser;
    # the moment's label and the chart's cursor follow there too. The server sends only
    # the table (and the chart when a filter changes).
    clientside(
        app,
        browser("step"),
        Output("replay-slider", "value"),
        Output("replay-at-error", "children"),
        Input("replay-back", "n_clicks"),
        Input("replay-forward", "n_clicks"),
        Input("replay-clock", "n_intervals"),
        Input("replay-activity", "clickData"),
        Input("replay-at", "n_submit"),
        State("replay-slider", "value"),
        State("replay-slider", "max"),
        State("replay-step", "value"),
        State("replay-origin", "data"),
        State("replay-at", "value"),
        prevent_initial_call=True,
    )
    clientside(
        app,
        browser("moment"),
        Output("replay-moment", "children"),
        Output("replay-at", "value"),
        Input("replay-slider", "value"),
        State("replay-origin", "data"),
    )
    clientside(
        app,
        browser("replayState"),
        Output("replay-url", "data"),
        Input("replay-slider", "value"),
        *[Input(f, "value") for f in FILTERS],
        Input("replay-known-at", "value"),
        State("replay-origin", "data"),
        State("replay-clock", "disabled"),
        prevent_initial_call=True,
    )

    clientside(
        app,
        browser("paint"),
        Output("replay-painted", "data"),
        Input("replay-html", "data"),
        State("replay-slider", "value"),
        *[State(f, "value") for f in FILTERS],
    )

    @app.callback(
        Output("replay-html", "data"),
        Output("replay-pending", "data"),
        Input("replay-slider", "value"),
        *[Input(f, "value") for f in FILTERS],
        Input("replay-known-at", "value"),
        State("replay-origin", "data"),
    )
    def show_moment(
        minutes: int,
        account: str | None,
        role: str | None,
        principal: str | None,
        via: str | None,
        known: str | None,
        origin: str,
    ) -> tuple[Any, ...]:
        at = _moment(origin, minutes)
        flt = session_filter(account, role, principal, via)
        view = _view(minutes, account, role, principal, via)
        try:
            answering, said = _answering(source, known)
        except RolecallError as exc:
            return {
                "view": view,
                "html": f'<p class="unknown">{escape(str(exc))}</p>',
            }, dash.no_update
        with answering.queries() as q:
            active = q.active_sessions(at, flt, limit=ROWS_SHOWN)
            perms, complete = permission_cache.summaries(
                q, at, active.sessions, budget_s=PERMISSIONS_BUDGET_S
            )
            rows = session_rows(q, at, active.sessions, perms)
        # The filler runs only when something is left for it (None would trigger it too).
        pending = dash.no_update if complete else {"at": iso(at), "minutes": minutes}
        return {"view": view, "html": _table(at, active.total, rows, said)}, pending

    clientside(
        app,
        browser("settle"),
        Output("replay-settled", "data"),
        Input("replay-pending", "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("replay-html", "data", allow_duplicate=True),
        Input("replay-settled", "data"),
        *[State(f, "value") for f in FILTERS],
        State("replay-known-at", "value"),
        prevent_initial_call=True,
    )
    def fill_permissions(
        pending: dict[str, Any] | None,
        account: str | None,
        role: str | None,
        principal: str | None,
        via: str | None,
        known: str | None,
    ) -> Any:
        """The permissions the step had no time for, worked out after the table showed."""
        if not pending:
            return dash.no_update
        at = parse_time(str(pending["at"]))
        flt = session_filter(account, role, principal, via)
        try:
            answering, said = _answering(source, known)
        except RolecallError:
            return dash.no_update  # the step itself said why
        with answering.queries() as q:
            active = q.active_sessions(at, flt, limit=ROWS_SHOWN)
            rows = session_rows(q, at, active.sessions)
        view = _view(int(pending["minutes"]), account, role, principal, via)
        return {"view": view, "html": _table(at, active.total, rows, said)}

    @app.callback(
        Output("replay-activity", "figure"),
        *[Input(f, "value") for f in FILTERS],
        State("replay-slider", "value"),
        State("replay-origin", "data"),
    )
    def draw_activity(
        account: str | None,
        role: str | None,
        principal: str | None,
        via: str | None,
        minutes: int,
        origin: str,
    ) -> Any:
        """The whole history's chart: drawn when a filter changes, not on a step."""
        flt = session_filter(account, role, principal, via)
        with source.queries() as q:
            activity = history_activity(q, flt)
            findings = history_findings(q, flt.account_id)
        return activity_figure(activity, _moment(origin, minutes), findings)


def _view(minutes: int, *filters: str | None) -> list[Any]:
    """What a table shows (the moment and filters): the browser paints a table only if it
    is still the view on screen, so a late answer never covers a newer one."""
    return [int(minutes or 0), *[f or None for f in filters]]


def _table(at: datetime, total: int, rows: list[list[str]], known: str = "") -> str:
    """The summary line (and, as known at a moment, what that selected) and the table."""
    shown = f" (showing the newest {len(rows)})" if total > len(rows) else ""
    summary = f'<h3 id="replay-summary">{total} session(s) active at {iso(at)}{shown}</h3>'
    if known:
        summary += f'<p id="replay-known-note" class="estimated">{escape(known)}</p>'
    if not rows:
        return summary + "<p>No session active.</p>"
    return summary + ft.table_html(HEADERS, rows, "replay-sessions", hide=HIDDEN_FIRST)
