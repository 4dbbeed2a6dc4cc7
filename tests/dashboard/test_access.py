"""The access rule: loopback by default; elsewhere only with the operator's credentials."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from dashboards.access import BasicCredentials, access_rule, is_loopback
from dashboards.server import DashboardServer
from dashboards.source import QuerySource
from pipeline.cli import main
from pipeline.errors import InputError

ROOT = Path(__file__).resolve().parents[2]


def test_loopback_needs_no_login_elsewhere_refused_without_credentials() -> None:
    assert access_rule("127.0.0.1", None, None) is None
    assert access_rule("::1", None, None) is None
    assert is_loopback("localhost") and not is_loopback("0.0.0.0")
    for host in ("0.0.0.0", "192.0.2.10", "dashboard.example"):
        with pytest.raises(InputError, match="without credentials"):
            access_rule(host, None, None)
    with pytest.raises(InputError, match="both"):
        access_rule("0.0.0.0", "audit", None)
    assert access_rule("0.0.0.0", "audit", "s3cret") == BasicCredentials(
        user="audit", password="s3cret"
    )


def test_cli_refuses_non_loopback_without_credentials(org_db: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLECALL_DASHBOARD_")}
    r = subprocess.run(
        [sys.executable, "-m", "pipeline", "dashboard", "--db", str(org_db), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert r.returncode != 0
    assert "refusing to serve the dashboard on 0.0.0.0 without credentials" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def _get(url: str, auth: str | None = None) -> int:
    request = urllib.request.Request(url)
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_every_request_needs_basic_auth_when_configured(org_db: Path) -> None:
    source = QuerySource.open_read_only(org_db)
    creds = BasicCredentials(user="audit", password="s3cret")
    server = DashboardServer(source, host="127.0.0.1", port=0, credentials=creds).start()
    try:
        for path in ("", "_dash-layout", "_dash-update-component", "session?id=x"):
            assert _get(server.url + path) == 401
            assert _get(server.url + path, "audit:wrong") == 401
        assert _get(server.url, "audit:s3cret") == 200
        assert _get(server.url + "_dash-layout", "audit:s3cret") == 200
    finally:
        server.stop()
        source.close()


def test_serve_materializes_and_serves_in_one_process(tmp_path: Path) -> None:
    log, db = f"file:{tmp_path}/log", tmp_path / "live.duckdb"
    r = CliRunner().invoke(
        main,
        ["simulate", "--seed", "3", "--start", "2026-01-05T00:00:00Z", "--days", "1", "--log", log],
    )
    assert r.exit_code == 0, r.output
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", "--log", log, "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("dashboard at http://127.0.0.1:"), line
        url = line.split()[2].rstrip(";")
        assert _get(url) == 200
        assert _get(url + "_dash-layout") == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    from pipeline.queries import Queries

    q = Queries.open(db)
    try:
        assert q.counts()["sessions"] > 10
    finally:
        q.close()
