"""A slice of `make fuzz` in every test run: 2,000 hostile CloudTrail records through the
real importer, log and store, with no crash, no hang and no planted secret stored."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.fuzz_import import MARKER, Mutator, run, scan


def test_two_thousand_hostile_records_crash_hang_and_leak_nothing(tmp_path: Path) -> None:
    figures = run(2_000, 18, tmp_path, bound=300)
    assert figures.crashes == [] and figures.hangs == [] and figures.secrets == [], figures.report()
    assert figures.records == 2_000 and figures.planted > 500
    assert figures.read >= 2_000 - 30 * figures.corrupt_files  # a corrupt file loses its tail only
    assert figures.unaccounted == 0
    assert (
        figures.mapped > 500 and figures.stored_events > 500
    )  # the mutations leave records to map


def test_the_scan_finds_a_planted_value(tmp_path: Path) -> None:
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "00.seg").write_bytes(b"x" + MARKER.encode() + b"abc+/9 y")
    assert [s.split(" in ")[0] for s in scan(tmp_path / "log", tmp_path / "none.duckdb")] == [
        MARKER + "abc+/9"
    ]


def test_mutations_plant_secrets_and_break_every_kind_of_field() -> None:
    import random

    mutator = Mutator(random.Random(1))
    secrets = {mutator.secret() for _ in range(100)}
    assert len(secrets) == 100 and all(MARKER in s for s in secrets)
    assert any(s.startswith("IQoJb3JpZ2lu") for s in secrets)
