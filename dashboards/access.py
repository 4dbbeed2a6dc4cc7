"""Who may open the dashboard: anyone on this machine, or, bound elsewhere, the operator's user.

Bound to a loopback address the dashboard needs no login (only local users reach it).
Bound to any other address it refuses to start unless the operator configured a user and
password, and then every request must carry them (HTTP basic auth; put TLS in front of it
on a real network).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from dataclasses import dataclass

import flask

from pipeline.errors import InputError

REALM = "rolecall"


@dataclass(frozen=True, kw_only=True, repr=False)
class BasicCredentials:
    user: str
    password: str

    def matches(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        # Both compared in constant time, and both always, so timing tells nothing.
        ok_user = hmac.compare_digest(user.encode(), self.user.encode())
        ok_password = hmac.compare_digest(password.encode(), self.password.encode())
        return bool(sep) and ok_user and ok_password


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def access_rule(host: str, user: str | None, password: str | None) -> BasicCredentials | None:
    """The credentials to demand when bound to `host` (None: loopback, no login needed)."""
    if user and password:
        return BasicCredentials(user=user, password=password)
    if user or password:
        raise InputError(
            "set both ROLECALL_DASHBOARD_USER and ROLECALL_DASHBOARD_PASSWORD, or neither"
        )
    if is_loopback(host):
        return None
    raise InputError(
        f"refusing to serve the dashboard on {host} without credentials: set "
        "ROLECALL_DASHBOARD_USER and ROLECALL_DASHBOARD_PASSWORD, or bind to 127.0.0.1"
    )


def require_basic_auth(server: flask.Flask, credentials: BasicCredentials) -> None:
    """Answer 401 to every request that does not carry the operator's credentials."""

    @server.before_request
    def _check() -> flask.Response | None:
        if credentials.matches(flask.request.headers.get("Authorization")):
            return None
        return flask.Response(
            "rolecall: authentication required\n",
            status=401,
            headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
        )
