"""The access rule: loopback by default; elsewhere only with the operator's credentials."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# Host, Origin and callback input (issue 18, finding 8). Flask's test client sends the
# headers an attacker's page or script would.

_HOSTILE_VALUES: list[Any] = [
    5,
    -1.5,
    True,
    [],
    ["a", 1],
    {},
    {"points": "x"},
    {"points": [5]},
    {"points": [{"x": []}]},
    {"points": [{"customdata": 7}]},
    "x" * 10_000,
    "2026-13-45T99:00:00Z",
    "\x00\ud7ff",
    ["ASIA", {"$ne": 1}],
]


@pytest.fixture(scope="module")
def served(org_db: Path) -> Iterator[DashboardServer]:
    source = QuerySource.open_read_only(org_db)
    server = DashboardServer(
        source, host="127.0.0.1", port=0, allowed_hosts=("rolecall.corp.example", "proxy:8443")
    ).start()
    yield server
    server.stop()
    source.close()


def _host(server: DashboardServer) -> str:
    return server.url.removeprefix("http://").rstrip("/")


def _body(app: Any, key: str, values: Iterator[Any]) -> dict[str, Any]:
    cb = app.callback_map[key]
    outputs = cb["output"] if isinstance(cb["output"], list) else [cb["output"]]

    def items(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"id": s["id"], "property": s["property"], "value": next(values)} for s in specs]

    inputs = items(cb["inputs"])
    described = [{"id": o.component_id, "property": o.component_property} for o in outputs]
    return {
        "output": key,
        "outputs": described if isinstance(cb["output"], list) else described[0],
        "inputs": inputs,
        "state": items(cb["state"]),
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs[:1]],
    }


def test_a_foreign_host_gets_400_the_served_address_200(served: DashboardServer) -> None:
    client = served.app.server.test_client()
    port = _host(served).rsplit(":", 1)[1]
    for host in (f"attacker.example:{port}", "attacker.example", "127.0.0.1.attacker.example", ""):
        for path in ("/", "/_dash-layout", "/_dash-dependencies"):
            assert client.get(path, headers={"Host": host}).status_code == 400, (host, path)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "127.0.0.1:9000", "[::1]:9000"):
        assert client.get("/_dash-layout", headers={"Host": host}).status_code == 200, host
    # The reverse proxy's names, a port given only where it was configured.
    for host in ("rolecall.corp.example", "ROLECALL.corp.example:443", "proxy:8443"):
        assert client.get("/_dash-layout", headers={"Host": host}).status_code == 200, host
    assert client.get("/_dash-layout", headers={"Host": "proxy:8444"}).status_code == 400


def test_a_callback_from_a_foreign_origin_gets_403(served: DashboardServer) -> None:
    client = served.app.server.test_client()
    host = _host(served)
    body = _body(served.app, "investigate-result.children", iter([1, "ASIAEXAMPLE", "key"]))
    for origin in (
        f"http://attacker.example:{host.rsplit(':', 1)[1]}",
        "null",
        "http://127.0.0.1:1",
    ):
        r = client.post(
            "/_dash-update-component", json=body, headers={"Host": host, "Origin": origin}
        )
        assert r.status_code == 403, origin
    for origin in (f"http://{host}", "https://rolecall.corp.example"):
        r = client.post(
            "/_dash-update-component", json=body, headers={"Host": host, "Origin": origin}
        )
        assert r.status_code == 200, (origin, r.data[:200])


def test_callbacks_refuse_wrongly_typed_input_with_400_and_no_traceback(
    served: DashboardServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = served.app.server.test_client()
    headers = {"Host": _host(served)}
    # A string where one is due still works; a number or a list is refused.
    key = "investigate-result.children"
    ok = client.post(
        "/_dash-update-component",
        json=_body(served.app, key, iter([1, "x", "key"])),
        headers=headers,
    )
    assert ok.status_code == 200
    for text in (5, ["ASIA"], {"a": 1}):
        body = _body(served.app, key, iter([1, text, "key"]))
        r = client.post("/_dash-update-component", json=body, headers=headers)
        assert r.status_code == 400 and b"text must be" in r.data, (text, r.data[:200])
    # Every callback, every argument, each hostile value.
    statuses = set()
    for key in served.app.callback_map:
        specs = len(served.app.callback_map[key]["inputs"]) + len(
            served.app.callback_map[key]["state"]
        )
        for hostile in _HOSTILE_VALUES:
            for at in range(specs):
                values = iter([hostile if i == at else None for i in range(specs)])
                body = _body(served.app, key, values)
                r = client.post("/_dash-update-component", json=body, headers=headers)
                statuses.add(r.status_code)
                assert r.status_code in (200, 204, 400), (key, at, hostile, r.data[:300])
    assert 400 in statuses
    # A body that is not Dash's shape.
    for bad in (
        [],
        "x",
        {"output": 5},
        {"output": "nope"},
        {"output": key, "inputs": "x"},
        {"output": key, "inputs": [5]},
        {"output": key, "outputs": 5},
        {"output": key, "changedPropIds": [1]},
    ):
        r = client.post("/_dash-update-component", json=bad, headers=headers)
        assert r.status_code == 400, (bad, r.data[:200])
    r = client.post("/_dash-update-component", data=b"\xff{", headers=headers)
    assert r.status_code == 400
    assert not [rec for rec in caplog.records if rec.exc_info], "a traceback was logged"
    assert all("Traceback" not in rec.getMessage() for rec in caplog.records)


def test_dashboard_cli_serves_ipv6_loopback_and_allowed_hosts(org_db: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLECALL_DASHBOARD_")}
    env["ROLECALL_DASHBOARD_ALLOWED_HOSTS"] = "from-env.example, other.example:8443"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "dashboard",
            "--db",
            str(org_db),
            "--host",
            "[::1]",
            "--port",
            "0",
            "--allowed-host",
            "proxy.example",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("dashboard at http://[::1]:"), line + (
            proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
        )
        url = line.split()[2]
        port = url.rsplit(":", 1)[1].rstrip("/")
        assert _get(url + "_dash-layout") == 200
        for host, status in (
            ("attacker.example:" + port, 400),
            ("proxy.example", 200),
            ("from-env.example:" + port, 200),
            ("other.example:8443", 200),
        ):
            request = urllib.request.Request(url + "_dash-layout", headers={"Host": host})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    got = int(response.status)
            except urllib.error.HTTPError as exc:
                got = exc.code
            assert got == status, host
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err


def test_a_bad_allowed_host_is_one_line(org_db: Path) -> None:
    r = CliRunner().invoke(main, ["dashboard", "--db", str(org_db), "--allowed-host", "a b/c"])
    assert r.exit_code != 0
    assert "bad allowed host 'a b/c'" in r.output and "Traceback" not in r.output
