"""The importer's guarantees: no secrets, order independence, every input shape, damage."""

from __future__ import annotations

import gzip
import json
import random
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.cloudtrail import import_cloudtrail, reader
from pipeline.log import FileLog
from pipeline.producer import Producer
from pipeline.store import Store
from tests.cloudtrail_helpers import COMPOSED, FIXTURES, OTRF, STRATUS, import_and_materialize
from tests.conftest import state_of

ALL_INPUTS = sorted([*STRATUS.glob("*.json"), *OTRF.glob("*.json"), *COMPOSED.glob("*.json*")])


def _tokens() -> set[str]:
    """Every session token in the fixtures (and the parts of it long enough to mean it)."""
    found: set[str] = set()
    pattern = re.compile(r'"sessionToken"\s*:\s*"([^"]+)"')
    for path in FIXTURES.rglob("*.json*"):
        found.update(pattern.findall(path.read_text()))
    return found


def test_no_session_token_reaches_the_log_or_the_store(tmp_path: Path) -> None:
    tokens = _tokens()
    assert len(tokens) == 21  # 9 stratus, 5 OTRF, 7 composed
    imported = import_and_materialize(tmp_path, *ALL_INPUTS)
    assert imported.summary.events_total >= 250
    blobs = [p.read_bytes() for p in imported.log_dir.rglob("*") if p.is_file()]
    blobs.append(imported.db_path.read_bytes())
    with Store(imported.db_path) as store:  # decoded text too, in case pages compress
        for (body,) in store.con.execute("SELECT body FROM events").fetchall():
            blobs.append(bytes(body))
        dump = repr(store.con.execute("SELECT * FROM role_assumptions").fetchall())
        blobs.append(dump.encode())
    for token in tokens:
        needle = token.encode()
        for piece in (needle, needle[:40], needle[-40:]):
            assert not any(piece in blob for blob in blobs), "a session token leaked"


def test_order_and_repetition_do_not_change_the_state(tmp_path: Path) -> None:
    forward = import_and_materialize(tmp_path / "forward", *ALL_INPUTS)
    shuffled = list(ALL_INPUTS)
    random.Random(3).shuffle(shuffled)
    backward = import_and_materialize(tmp_path / "backward", *reversed(ALL_INPUTS), batches=7)
    mixed = import_and_materialize(tmp_path / "mixed", *shuffled, *ALL_INPUTS[:10], batches=3)
    with (
        Store(forward.db_path) as a,
        Store(backward.db_path) as b,
        Store(mixed.db_path) as c,
    ):
        expected = state_of(a)
        assert state_of(b) == expected
        assert state_of(c) == expected
        assert c.con.execute("SELECT count(*) FROM conflicts").fetchone() == (0,)


def test_importing_the_same_files_again_changes_nothing(tmp_path: Path) -> None:
    once = import_and_materialize(tmp_path / "once", *ALL_INPUTS)
    twice = import_and_materialize(tmp_path / "twice", *ALL_INPUTS, *ALL_INPUTS)
    with Store(once.db_path) as a, Store(twice.db_path) as b:
        assert state_of(a) == state_of(b)


def _records() -> list[dict[str, object]]:
    return json.loads((STRATUS / "aws.credential-access.ec2-get-password-data.json").read_text())  # type: ignore[no-any-return]


def _import(tmp_path: Path, *paths: str) -> dict[str, object]:
    log = FileLog(tmp_path / "log", partitions=2, fsync=False)
    try:
        return import_cloudtrail(paths, Producer(log)).to_dict()
    finally:
        log.close()


@pytest.mark.parametrize("whole_file_limit", [reader.WHOLE_FILE_LIMIT, 1000])
def test_every_input_shape_reads_the_same_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole_file_limit: int
) -> None:
    # A limit of 1000 bytes streams every file, as files over the real limit are.
    monkeypatch.setattr(reader, "WHOLE_FILE_LIMIT", whole_file_limit)
    records = _records()
    tree = tmp_path / "bucket" / "AWSLogs" / "o-abc123" / "457448411975" / "CloudTrail"
    day = tree / "us-east-1" / "2024" / "07" / "30"
    day.mkdir(parents=True)
    half = len(records) // 2
    for i, part in enumerate((records[:half], records[half:])):
        name = f"457448411975_CloudTrail_us-east-1_20240730T213{i}Z_abcdefgh1234567{i}.json.gz"
        with gzip.open(day / name, "wt") as f:
            json.dump({"Records": part}, f)
    digest = tmp_path / "bucket" / "AWSLogs" / "o-abc123" / "457448411975" / "CloudTrail-Digest"
    digest.mkdir()
    (digest / "digest.json.gz").write_bytes(gzip.compress(b'{"logFiles": []}'))
    (tmp_path / "pretty.json").write_text(json.dumps({"Records": records}, indent=2))
    (tmp_path / "array.json").write_text(json.dumps(records))
    (tmp_path / "lines.jsonl").write_text(
        "".join(
            json.dumps(
                {"@timestamp": r["eventTime"], "cloudtrail": {**r, "eventTime": None}}
                if i % 2
                else r
            )
            + "\n"
            for i, r in enumerate(records)
        ).replace('"eventTime": null, ', "")
    )
    expected = _import(
        tmp_path / "ref", str(STRATUS / "aws.credential-access.ec2-get-password-data.json")
    )
    for path in ("bucket", "pretty.json", "array.json", "lines.jsonl"):
        got = _import(tmp_path / "out" / path.replace(".", "_"), str(tmp_path / path))
        assert got["records_read"] == len(records), path
        assert got["events_by_type"] == expected["events_by_type"], path
        assert got["skipped_by_reason"] == expected["skipped_by_reason"], path
    assert _import(tmp_path / "out" / "tree", str(tmp_path / "bucket"))["files_read"] == 2


def test_stdin_is_read_with_a_dash(tmp_path: Path) -> None:
    data = (COMPOSED / "console.jsonl").read_bytes()
    r = CliRunner().invoke(
        main, ["import-cloudtrail", "-", "--log", f"file:{tmp_path}/log", "--json"], input=data
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["records_read"] == 5
    assert summary["events_by_type"] == {"RoleAssumed": 4, "RoleExited": 1}


def test_damaged_files_are_reported_and_the_rest_imports(tmp_path: Path) -> None:
    records = _records()
    inputs = tmp_path / "in"
    inputs.mkdir()
    whole = gzip.compress(json.dumps({"Records": records}).encode())
    (inputs / "a_truncated.json.gz").write_bytes(whole[: len(whole) // 2])
    (inputs / "b_broken.json").write_text(json.dumps({"Records": records})[:5000])
    (inputs / "c_binary.json").write_bytes(b"\x00\x01garbage")
    (inputs / "d_bad_line.jsonl").write_text('{"eventID": "x"}\nnot json\n{"half": ')
    shutil.copy(OTRF / next(p.name for p in OTRF.iterdir()), inputs / "e_good.json")
    r = CliRunner().invoke(
        main, ["import-cloudtrail", str(inputs), "--log", f"file:{tmp_path}/log", "--json"]
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    corrupt = {Path(c["file"]).name: c["reason"] for c in summary["corrupt_files"]}
    assert set(corrupt) == {
        "a_truncated.json.gz",
        "b_broken.json",
        "c_binary.json",
        "d_bad_line.jsonl",
    }
    assert "gzip" in corrupt["a_truncated.json.gz"]
    assert "JSON" in corrupt["b_broken.json"]
    assert "truncated last line" in corrupt["d_bad_line.jsonl"]
    assert summary["skipped_by_reason"]["invalid JSON line"] == 1
    assert summary["skipped_by_reason"]["missing eventName"] == 1
    assert summary["files_read"] == 5
    assert summary["events_by_type"]["AccessRecorded"] >= 11  # the good file still imported


def test_the_cli_prints_a_summary(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        main, ["import-cloudtrail", str(STRATUS), str(OTRF), "--log", f"file:{tmp_path}/log"]
    )
    assert r.exit_code == 0, r.output
    assert "imported 36 files, 413 records" in r.output
    # every record of the samples means something now: calls with long-term keys too
    assert "0 skipped" in r.output


def test_the_import_collects_young_objects_less_often_then_restores_the_collector(
    tmp_path: Path,
) -> None:
    """A file's records are thousands of dictionaries alive together: the collector's
    first generation is raised while importing, and the caller's setting comes back."""
    import gc

    from pipeline.cloudtrail.importer import _YOUNG_COLLECTION

    seen: list[tuple[int, int, int]] = []
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        log = FileLog(tmp_path / "log", partitions=4, fsync=False)
        import_cloudtrail(
            [str(p) for p in ALL_INPUTS[:3]],
            Producer(log),
            on_progress=lambda _summary, _source: seen.append(gc.get_threshold()),
        )
        log.close()
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)
    assert seen and all(t == (_YOUNG_COLLECTION, 10, 10) for t in seen)
