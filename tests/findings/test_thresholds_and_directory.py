"""Thresholds are settable in one place; a directory store answers findings per file."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.errors import InputError
from pipeline.findings import DEFAULT_THRESHOLDS, Thresholds
from pipeline.findings.projection import rebuild
from tests.cloudtrail_helpers import COMPOSED, STRATUS, import_and_materialize
from tests.findings.helpers import all_findings, of_rule

PASSWORD_DATA = STRATUS / "aws.credential-access.ec2-get-password-data.json"


def test_thresholds_from_the_environment() -> None:
    t = Thresholds.from_env(
        {"ROLECALL_FINDINGS_DENIED_BURST_MIN": "31", "ROLECALL_FINDINGS_NETWORKS_WINDOW": "60"}
    )
    assert t.denied_burst_min == 31 and t.networks_window == timedelta(seconds=60)
    assert t.enumeration_min_roles == DEFAULT_THRESHOLDS.enumeration_min_roles
    with pytest.raises(InputError, match="ROLECALL_FINDINGS_DENIED_BURST_MIN='many'"):
        Thresholds.from_env({"ROLECALL_FINDINGS_DENIED_BURST_MIN": "many"})


def test_a_burst_needs_its_threshold(tmp_path: Path) -> None:
    imported = import_and_materialize(tmp_path, PASSWORD_DATA)
    assert len(of_rule(all_findings(imported.db_path), "denied-burst")) == 1
    con = duckdb.connect(str(imported.db_path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        rebuild(con, replace(DEFAULT_THRESHOLDS, denied_burst_min=31))  # 30 were refused
    finally:
        con.close()
    assert of_rule(all_findings(imported.db_path), "denied-burst") == []


def test_a_directory_store_reads_each_files_findings_merged(tmp_path: Path) -> None:
    single = import_and_materialize(tmp_path / "single", COMPOSED)
    result = CliRunner().invoke(
        main,
        ["materialize", "--log", f"file:{single.log_dir}", "--db", f"{tmp_path / 'parts'}/"],
    )
    assert result.exit_code == 0, result.output
    parts = all_findings(tmp_path / "parts")
    # each partition file finds what its own facts show: never more, the same ids
    assert parts
    assert {f.finding_id for f in parts} <= {f.finding_id for f in all_findings(single.db_path)}
