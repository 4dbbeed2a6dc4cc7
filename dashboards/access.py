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


# Host and Origin: against DNS rebinding, a page on attacker.example whose name the
# attacker re-points at 127.0.0.1 shares the dashboard's address but not its name.


@dataclass(frozen=True)
class AllowedHosts:
    """The names a request may address the dashboard by.

    - the address it is bound to, by name or IP; bound to loopback also `localhost` and
      any loopback IP; bound to every address (`0.0.0.0`, `::`) any IP literal (an IP
      cannot be re-pointed, only a name can);
    - the operator's `extra` names, for a reverse proxy: `name` (any port) or `name:port`.

    The port is not compared otherwise: an SSH tunnel serves the dashboard on another one.
    """

    bound: str
    extra: tuple[str, ...] = ()

    @staticmethod
    def valid(name: str) -> bool:
        """Whether `name` can be an allowed host (`name`, `name:port`, `[v6]:port`)."""
        return _split_host(name) is not None

    def allows(self, host: str | None) -> bool:
        parsed = _split_host(host)
        if parsed is None:
            return False
        name, port = parsed
        extra = {_split_host(e) for e in self.extra}
        if (name, None) in extra or (name, port) in extra:
            return True
        bound = self.bound.strip("[]").lower().rstrip(".")
        ip = _ip(name)
        if ip is not None:
            if bound in ("0.0.0.0", "::"):
                return True
            if is_loopback(bound):
                return ip.is_loopback
            return ip == _ip(bound)
        if is_loopback(bound) and (name == "localhost" or name.endswith(".localhost")):
            return True
        return name == bound

    def allows_origin(self, origin: str, host: str | None) -> bool:
        """A state-changing request's `Origin`: the dashboard's own (the same host and
        port the request was sent to) or one of the operator's names."""
        scheme, sep, netloc = origin.partition("://")
        if not sep or scheme.lower() not in ("http", "https") or "/" in netloc.rstrip("/"):
            return False
        netloc = netloc.rstrip("/")
        if host is not None and _split_host(netloc) == _split_host(host):
            return True
        parsed = _split_host(netloc)
        extra = {_split_host(e) for e in self.extra}
        return parsed is not None and ((parsed[0], None) in extra or parsed in extra)


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _split_host(value: str | None) -> tuple[str, int | None] | None:
    """`name`, `name:port`, `[v6]` or `[v6]:port` -> (lowercased name, port); None: bad."""
    if not value or len(value) > 300 or any(c.isspace() or c in "/?#@\\" for c in value):
        return None
    value = value.lower()
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        if not sep or _ip(name) is None:
            return None
        port_text = rest[1:] if rest.startswith(":") else None
        if rest and port_text is None:
            return None
    else:
        name, sep, port_text = value.partition(":")
        if not sep:
            port_text = None
    name = name.rstrip(".")
    if not name:
        return None
    if port_text is None:
        return name, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return name, int(port_text)


# Methods that change nothing, and so need no Origin check (a browser cannot read the
# answer to a cross-origin one: the dashboard sends no CORS headers).
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def require_known_host(server: flask.Flask, allowed: AllowedHosts) -> None:
    """Answer 400 to a request for a foreign `Host`, 403 to a state-changing one (a Dash
    callback) from a foreign `Origin`. Registered before basic auth: it runs first."""

    @server.before_request
    def _check() -> flask.Response | None:
        host = flask.request.headers.get("Host")
        if not allowed.allows(host):
            return flask.Response("rolecall: unknown Host\n", status=400, mimetype="text/plain")
        origin = flask.request.headers.get("Origin")
        if (
            origin is not None
            and flask.request.method not in _SAFE_METHODS
            and not allowed.allows_origin(origin, host)
        ):
            return flask.Response("rolecall: foreign Origin\n", status=403, mimetype="text/plain")
        return None
