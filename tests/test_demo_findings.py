"""`rolecall demo` says how many findings each rule raised, and where to see them (#13)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import main
from pipeline.findings import RULES
from pipeline.queries import Queries


def test_demo_prints_the_findings_of_every_rule(tmp_path: Path) -> None:
    data = tmp_path / "d"
    r = CliRunner().invoke(main, ["demo", "--no-serve", "--data", str(data), "--days", "2"])
    assert r.exit_code == 0, r.output
    with Queries.open(data / "rolecall.duckdb") as q:
        counts = Counter(f.rule for f in q.findings())
    assert f"Findings: {sum(counts.values())} raised" in r.output
    for rule in RULES:
        line = re.search(rf"^  {re.escape(rule)} +(\d+)$", r.output, re.MULTILINE)
        assert line is not None, rule
        assert int(line.group(1)) == counts[rule] > 0, rule  # the demo stages every rule
    assert "its Findings view (/findings)" in " ".join(r.output.split())  # wrapped or not
