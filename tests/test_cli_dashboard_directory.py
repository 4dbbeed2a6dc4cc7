"""`rolecall dashboard --db DIR/` serves a directory store (one DuckDB file per log
partition) as it serves a single file (#14, point 8), as a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.store.directory import partition_files
from tests.cli_demo import AT, held, invoke

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def directory_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("dirstore")
    log = f"file:{base}/log"
    r = invoke(
        "simulate", "--seed", "7", "--start", "2026-01-05T00:00:00Z", "--days", "1", "--log", log
    )
    assert r.exit_code == 0, r.output
    r = invoke("materialize", "--log", log, "--db", f"{base}/store/")
    assert r.exit_code == 0, r.output
    assert len(partition_files(base / "store")) > 1
    return base / "store"


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


@pytest.mark.parametrize("spelling", ["{}/", "{}"])
def test_dashboard_serves_a_directory_store(directory_store: Path, spelling: str) -> None:
    assert held(str(directory_store), AT)  # the readers see sessions in it
    db = spelling.format(directory_store)
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "dashboard", "--db", db, "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until served, or EOF if it failed
        found = re.search(r"dashboard at (http://127\.0\.0\.1:\d+/)", line)
        assert found, f"{line!r} {process.stderr.read() if process.poll() is not None else ''}"
        url = found.group(1)
        status, page = _get(url)
        assert status == 200 and "rolecall" in page.lower()
        status, layout = _get(url + "_dash-layout")
        assert status == 200 and layout.startswith("{")
        time.sleep(0.5)
        assert process.poll() is None, "the dashboard stopped"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
    assert "Traceback" not in err, err
