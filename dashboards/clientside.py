"""Callbacks that run in the browser (functions in assets/rolecall.js, or inline)."""

from __future__ import annotations

from typing import Any

import dash
from dash import ClientsideFunction


def clientside(app: dash.Dash, function: str | ClientsideFunction, *deps: Any, **kw: Any) -> None:
    """`app.clientside_callback`, typed: no request reaches the server for these."""
    app.clientside_callback(function, *deps, **kw)  # type: ignore[no-untyped-call]


def browser(name: str) -> ClientsideFunction:
    """A function of the `rolecall` namespace in assets/rolecall.js."""
    return ClientsideFunction("rolecall", name)
