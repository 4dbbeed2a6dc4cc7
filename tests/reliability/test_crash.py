"""A shorter crash run in the suite: SIGKILL the real materializer process, lose nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.crash_harness import run_harness


@pytest.mark.slow
def test_killed_materializer_ends_in_the_clean_state(tmp_path: Path) -> None:
    report = run_harness(
        log_url=f"file:{tmp_path / 'log'}",
        workdir=tmp_path,
        events=20_000,
        kills=5,
        seed=11,
        batch_size=1000,
        say=lambda _line: None,
    )
    assert report.events == 20_000
    assert report.kills == 5, report.lines()
    assert report.equal, report.lines()
