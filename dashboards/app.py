"""The Dash app: a header, one page per view chosen by the URL, callbacks per view."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import dash
from dash import ClientsideFunction, Input, Output, dcc, html

from dashboards.clientside import clientside
from dashboards.inputs import validate_callbacks
from dashboards.source import QuerySource
from dashboards.style import INDEX
from dashboards.views import compliance, findings, investigate, pivot, replay, session, timeline

PAGES = {
    "/": "Replay",
    "/timeline": "Timeline",
    "/findings": "Findings",
    "/investigate": "Investigate",
    "/pivot": "Pivot",
    "/compliance": "Compliance",
}


def create_app(source: QuerySource) -> dash.Dash:
    app = dash.Dash(
        __name__,
        title="rolecall",
        suppress_callback_exceptions=True,  # each page's components exist only on that page
        update_title="",
        serve_locally=True,
    )
    validate_callbacks(app)  # before any callback is registered
    app.index_string = INDEX
    app.layout = html.Div(
        [
            dcc.Location(id="url", refresh="callback-nav"),
            dcc.Store(id="route"),
            html.Header(
                [html.Span("rolecall", className="brand"), html.Nav(id="nav", className="row")]
            ),
            html.Main(id="page"),
        ]
    )

    # The address changes by navigation (a link, back and forward) and when a page writes
    # its own state into it (a step, a filter): only the first rebuilds the page. The
    # browser tells them apart (assets/rolecall.js) and hands navigations on as `route`.
    clientside(
        app,
        ClientsideFunction("rolecall", "route"),
        Output("route", "data"),
        Input("url", "pathname"),
        Input("url", "search"),
    )

    @app.callback(
        Output("page", "children"),
        Output("nav", "children"),
        Input("route", "data"),
    )
    def route(where: dict[str, Any] | None) -> tuple[Any, Any]:
        if not where:
            return dash.no_update, dash.no_update
        path = str(where.get("path") or "/")
        search = str(where.get("search") or "")
        nav = [
            dcc.Link(
                label,
                href=href,
                className="active" if href == path or path.startswith(href + "/") else "",
            )
            for href, label in PAGES.items()
        ]
        params = parse_qs((search or "").lstrip("?"))
        with source.queries() as q:
            if path == "/timeline":
                page = timeline.layout(q, params)
            elif path == "/findings":
                page = findings.layout(q, params)
            elif path == "/compliance":
                page = compliance.layout(q)
            elif path == "/pivot" or path.startswith("/pivot/"):
                page = pivot.layout(q, path.removeprefix("/pivot").strip("/"), params)
            elif path == "/investigate":
                page = investigate.layout(
                    q,
                    params.get("principal", [""])[0],
                    key=params.get("key", [""])[0],
                    role=params.get("role", [""])[0],
                )
            elif path == "/session":
                ids, chosen = params.get("id", [""]), params.get("finding", [""])
                page = session.layout(q, ids[0], chosen[0] or None)
            else:
                page = replay.layout(q, params, knowable=source.log_url is not None)
        return page, nav

    replay.register(app, source)
    timeline.register(app, source)
    investigate.register(app, source)
    findings.register(app, source)
    compliance.register(app, source)
    pivot.register(app)
    return app
