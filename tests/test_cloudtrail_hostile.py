"""Hostile input: nothing crashes, and every rejected record is counted with a reason."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.cloudtrail import import_cloudtrail, reader
from pipeline.cloudtrail.mapping import RecordMapper
from pipeline.log import FileLog
from pipeline.producer import Producer
from tests.cloudtrail_helpers import COMPOSED, STRATUS

TRIED = {"records": 0}

_SEEDS: list[dict[str, Any]] = [
    *json.loads((STRATUS / "aws.credential-access.ec2-get-password-data.json").read_text())[:12],
    *json.loads((STRATUS / "aws.persistence.sts-federation-token.json").read_text()),
    *[json.loads(line) for line in (COMPOSED / "console.jsonl").read_text().splitlines()],
    *json.loads((COMPOSED / "saml.json").read_text())["Records"],
    *json.loads((COMPOSED / "policy_changes.json").read_text())["Records"],
    *json.loads((COMPOSED / "assume_role_chain.json").read_text())["Records"],
]

_weird_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80
) | st.sampled_from(
    [
        "",
        " ",
        "ASIA",
        "ASIA" + "Ω" * 30,
        "arn:aws:sts::111122223333:assumed-role/",
        "arn:aws:iam::111122223333:role/ロール",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "20131102T010628Z",
        "Feb 30, 2026, 1:00:00 PM",
        "%7B%22Statement%22%3A",
        "x" * 5000,
    ]
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _weird_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_weird_text, inner, max_size=4),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _replace(record: Any, path: tuple[Any, ...], value: Any) -> Any:
    record = copy.deepcopy(record)
    target = record
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return record


@st.composite
def _mutated(draw: st.DrawFn) -> Any:
    base = draw(st.sampled_from(_SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(base)
        if not paths:
            break
        base = _replace(base, draw(st.sampled_from(paths)), draw(_json))
    return base


def _check(records: list[Any], tmp: Path, *, objects: bool = True) -> None:
    TRIED["records"] += len(records)
    log = FileLog(tmp, partitions=2, fsync=False)
    try:
        source = tmp / "input.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in records))
        summary = import_cloudtrail([str(source)], Producer(log))
    finally:
        log.close()
    if objects:  # one object a line: each line is one record
        assert not summary.corrupt_files
        assert summary.records_read == len(records)
    assert all(reason for _file, reason in summary.corrupt_files)
    assert summary.records_mapped + summary.records_skipped == summary.records_read
    assert all(reason for reason in summary.skipped)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(_mutated(), min_size=1, max_size=8))
def test_wrong_types_in_every_field_never_crash(records: list[Any], tmp_path_factory: Any) -> None:
    _check(records, tmp_path_factory.mktemp("hostile"))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(_json, min_size=1, max_size=6))
def test_random_json_never_crashes(records: list[Any], tmp_path_factory: Any) -> None:
    _check(records, tmp_path_factory.mktemp("random"), objects=False)


def test_deeply_nested_and_huge_records_are_skipped_with_a_reason(tmp_path: Path) -> None:
    deep: Any = "leaf"
    for _ in range(5000):
        deep = {"a": deep}
    seed = copy.deepcopy(_SEEDS[0])
    seed["requestParameters"] = deep
    huge = copy.deepcopy(_SEEDS[0])
    huge["userAgent"] = "u" * 3_000_000
    huge["eventID"] = "huge-1"
    mapper = RecordMapper()
    assert mapper.map(seed)  # nesting where nothing is read does not matter
    log = FileLog(tmp_path / "log", partitions=2, fsync=False)
    try:
        nested = tmp_path / "nested.json"
        nested.write_text("[" + "[" * 100_000 + "]" * 100_000 + "]")
        lines = tmp_path / "lines.jsonl"
        lines.write_text(json.dumps(huge) + "\n" + '{"x":' * 3000 + "1" + "}" * 3000 + "\n")
        summary = import_cloudtrail([str(nested), str(lines)], Producer(log))
    finally:
        log.close()
    TRIED["records"] += 3
    assert summary.records_mapped + summary.records_skipped == summary.records_read
    assert summary.records_read == 3  # the deep record, the huge record, the deep line
    assert summary.skipped["invalid JSON line"] == 1
    assert summary.skipped["too deeply nested"] == 1  # only that record is lost
    assert not summary.corrupt_files


def test_deep_nesting_in_a_streamed_file_loses_only_that_record(
    tmp_path: Path, monkeypatch: Any
) -> None:
    # Files over the whole-file limit are streamed; the scanner delimits the bomb alone.
    monkeypatch.setattr(reader, "WHOLE_FILE_LIMIT", 1000)
    nested = tmp_path / "nested.json"
    bomb = "[" * 100_000 + "]" * 100_000
    nested.write_text('{"Records": [{"eventID": "a"}, ' + bomb + ', {"eventID": "b"}]}')
    log = FileLog(tmp_path / "log", partitions=2, fsync=False)
    try:
        summary = import_cloudtrail([str(nested)], Producer(log))
    finally:
        log.close()
    TRIED["records"] += 3
    assert not summary.corrupt_files
    assert summary.records_read == 3  # the records before and after the bomb still read
    assert summary.skipped["too deeply nested"] == 1
    assert [(x.index, x.reason) for _f, x in summary.lost] == [(2, "nested deeper than 512 levels")]


def test_report_the_number_of_inputs_tried() -> None:
    # Runs last in this module (pytest keeps file order): prints the total for the report.
    print(f"\nhostile CloudTrail inputs tried: {TRIED['records']} records")
    assert TRIED["records"] > 0
