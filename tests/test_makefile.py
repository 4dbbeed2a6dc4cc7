"""The Makefile waits for the package manager's lock, and `make fuzz` runs the fuzzer."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_apt_get_waits_for_the_dpkg_lock() -> None:
    text = (ROOT / "Makefile").read_text()
    calls = [c for c in re.findall(r"^.*apt-get.*$", text, flags=re.MULTILINE) if "#" not in c]
    assert calls
    for line in calls:
        assert "DPkg::Lock::Timeout=" in line or "$(APT_GET)" in line, line
    assert re.search(r"^APT_GET :=.*apt-get -o DPkg::Lock::Timeout=\d+", text, re.MULTILINE)
    recipe = text.split("$(CHROMIUM):", 1)[1].split("\n\n", 1)[0]
    assert "$(APT_GET) update" in recipe and "$(APT_GET) install" in recipe


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_fuzz_runs_the_fuzzer_on_100000_records() -> None:
    out = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed-dev", "fuzz"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert "-m tests.reliability.fuzz_import --records 100000" in out.stdout
