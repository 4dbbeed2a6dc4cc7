"""Callbacks take only well-formed, well-typed input: anything else is a 400, not a 500.

A callback request (`POST /_dash-update-component`) is whatever its sender wrote: a body
that is not Dash's shape, a number where a view expects a string, a `clickData` whose
points are not objects. Checked here, once for every view:

- the body's shape, before Dash reads it: the inputs, state and outputs the callback it
  names declared (this dashboard has no pattern-matching callbacks);
- each argument against the callback's own annotation (`text: str | None` takes a string
  or nothing), strictly: no coercion, so what the view receives is what it declared;
- what the annotation cannot say (the inside of a `dict[str, Any]`, a well-typed string
  that is no time): a callback that fails with TypeError, ValueError, LookupError,
  AttributeError or rolecall's InputError was given input it cannot use, and answers 400
  with one line in the log, not a traceback. (Any other failure stays a 500 with its
  traceback: that is a fault of the dashboard's, not of the request.)
"""

from __future__ import annotations

import functools
import inspect
import logging
import typing
from collections.abc import Callable
from typing import Any

import dash
import flask
from pydantic import TypeAdapter, ValidationError

from pipeline.errors import InputError

log = logging.getLogger(__name__)

UPDATE_COMPONENT = "_dash-update-component"
# The failures of a callback that mean its input was unusable (see the module doc); an
# InputError is rolecall's own word for it (a malformed time...).
_INPUT_FAILURES = (TypeError, ValueError, LookupError, AttributeError, InputError)


class BadCallbackInput(Exception):
    """A callback request the dashboard will not run: answered 400 with the reason."""


def validate_callbacks(app: dash.Dash) -> None:
    """Check every callback registered from now on, and the body of every callback request.

    Call it right after creating the app, before any `@app.callback`."""
    register = app.callback

    def callback(*args: Any, **kwargs: Any) -> Callable[..., Any]:
        decorate = register(*args, **kwargs)
        return lambda func: decorate(_checked(func))

    app.callback = callback  # type: ignore[method-assign]
    server: flask.Flask = app.server
    endpoint = app.config.routes_pathname_prefix + UPDATE_COMPONENT
    dispatch = server.view_functions[endpoint]

    # The view, not a before_request hook: the Host, Origin and login checks run first.
    @functools.wraps(dispatch)
    def checked_dispatch(*args: Any, **kwargs: Any) -> Any:
        _check_body(flask.request.get_json(silent=True), app.callback_map)
        return dispatch(*args, **kwargs)

    server.view_functions[endpoint] = checked_dispatch

    @server.errorhandler(BadCallbackInput)
    def _bad_input(exc: BadCallbackInput) -> flask.Response:
        return flask.Response(
            f"rolecall: bad callback input: {exc}\n", status=400, mimetype="text/plain"
        )


def _check_body(body: Any, callbacks: dict[str, Any]) -> None:
    """Dash's shape, for the callback it names: its inputs and state, in their order, and
    its outputs (a list for several, one object for one)."""
    if not isinstance(body, dict):
        raise BadCallbackInput("the body is not a JSON object")
    output = body.get("output")
    if not isinstance(output, str) or output not in callbacks:
        raise BadCallbackInput("unknown output")
    declared = callbacks[output]
    if "callback" not in declared:  # a clientside callback: it runs in the browser only
        raise BadCallbackInput("that callback runs in the browser")
    for key in ("inputs", "state"):
        items = body.get(key, [])
        if not isinstance(items, list):
            raise BadCallbackInput(f"{key} is not a list")
        expected = [(d["id"], d["property"]) for d in declared.get(key, [])]
        got = [
            (item.get("id"), item.get("property")) if isinstance(item, dict) else None
            for item in items
        ]
        if got != expected:
            raise BadCallbackInput(f"{key} are not the callback's")
    outputs = body.get("outputs")
    several = isinstance(declared.get("output"), list)
    if several:
        if not isinstance(outputs, list) or len(outputs) != len(declared["output"]):
            raise BadCallbackInput("outputs are not the callback's")
        if not all(isinstance(o, dict) for o in outputs):
            raise BadCallbackInput("an output is not {id, property}")
    elif not isinstance(outputs, dict):
        raise BadCallbackInput("outputs is not one {id, property}")
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        raise BadCallbackInput("changedPropIds is not a list of strings")


def _checked(func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` with its positional arguments checked against its annotations."""
    try:
        hints = typing.get_type_hints(func)
    except (NameError, TypeError):  # an annotation that cannot be resolved: unchecked
        hints = {}
    names = list(inspect.signature(func).parameters)
    adapters = [
        (name, TypeAdapter(hints[name]) if name in hints else None, hints.get(name))
        for name in names
    ]

    @functools.wraps(func)
    def checked(*args: Any, **kwargs: Any) -> Any:
        for value, (name, adapter, hint) in zip(args, adapters, strict=False):
            # None is what Dash sends for a property that is not set: always accepted.
            if value is None or adapter is None:
                continue
            try:
                adapter.validate_python(value, strict=True)
            except ValidationError:
                raise BadCallbackInput(
                    f"{func.__name__}: {name} must be {_name(hint)}, not {type(value).__name__}"
                ) from None
        try:
            return func(*args, **kwargs)
        except _INPUT_FAILURES as exc:
            # One line, the message quoted and cut: it may hold what the sender wrote.
            log.warning(
                "callback %s refused its input: %s: %r",
                func.__name__,
                type(exc).__name__,
                str(exc)[:200],
            )
            raise BadCallbackInput(f"{func.__name__}: unusable input") from None

    return checked


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
