"""Serving the dashboard: a threaded WSGI server that can run in the foreground or a thread."""

from __future__ import annotations

import logging
import threading

from werkzeug.serving import BaseWSGIServer, make_server

from dashboards.access import (
    AllowedHosts,
    BasicCredentials,
    require_basic_auth,
    require_known_host,
)
from dashboards.app import create_app
from dashboards.source import QuerySource
from pipeline.errors import InputError


class DashboardServer:
    """The dashboard app bound to `host:port` (port 0 picks a free one)."""

    def __init__(
        self,
        source: QuerySource,
        *,
        host: str = "127.0.0.1",
        port: int = 8050,
        credentials: BasicCredentials | None = None,
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:
        # One line per request is noise in a terminal; `-v` on the CLI still shows them.
        werkzeug_log = logging.getLogger("werkzeug")
        if werkzeug_log.level == logging.NOTSET:
            werkzeug_log.setLevel(logging.getLogger().getEffectiveLevel())
        host = host.strip("[]")  # `[::1]` as in a URL: the IPv6 address
        self.app = create_app(source)
        # The Host check first: a foreign name gets 400 whether or not it has the password.
        require_known_host(self.app.server, AllowedHosts(host, allowed_hosts))
        if credentials is not None:
            require_basic_auth(self.app.server, credentials)
        try:
            self._server: BaseWSGIServer = make_server(host, port, self.app.server, threaded=True)
        except OSError as exc:
            raise InputError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://[{name}]:{port}/" if ":" in name else f"http://{name}:{port}/"

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def start(self) -> DashboardServer:
        """Serve from a daemon thread (tests, and `serve` next to the materializer)."""
        self._thread = threading.Thread(target=self.serve_forever, name="dashboard", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for a serve_forever() to end
            self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
