"""The Dash app: a header, one page per view chosen by the URL, callbacks per view."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import dash
from dash import Input, Output, dcc, html

from dashboards.inputs import validate_callbacks
from dashboards.source import QuerySource
from dashboards.style import INDEX
from dashboards.views import compliance, findings, investigate, replay, session, timeline

PAGES = {
    "/": "Replay",
    "/timeline": "Timeline",
    "/findings": "Findings",
    "/investigate": "Investigate",
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
            html.Header(
                [html.Span("rolecall", className="brand"), html.Nav(id="nav", className="row")]
            ),
            html.Main(id="page"),
        ]
    )

    @app.callback(
        Output("page", "children"),
        Output("nav", "children"),
        Input("url", "pathname"),
        Input("url", "search"),
    )
    def route(pathname: str | None, search: str | None) -> tuple[Any, Any]:
        path = pathname or "/"
        nav = [
            dcc.Link(label, href=href, className="active" if href == path else "")
            for href, label in PAGES.items()
        ]
        params = parse_qs((search or "").lstrip("?"))
        with source.queries() as q:
            if path == "/timeline":
                page = timeline.layout(q)
            elif path == "/findings":
                page = findings.layout(q)
            elif path == "/compliance":
                page = compliance.layout(q)
            elif path == "/investigate":
                page = investigate.layout(q, params.get("principal", [""])[0])
            elif path == "/session":
                ids, chosen = params.get("id", [""]), params.get("finding", [""])
                page = session.layout(q, ids[0], chosen[0] or None)
            else:
                page = replay.layout(q)
        return page, nav

    replay.register(app, source)
    timeline.register(app, source)
    investigate.register(app, source)
    findings.register(app, source)
    compliance.register(app, source)
    return app
