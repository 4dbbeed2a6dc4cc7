"""Damage loses only what is damaged, in bounded time and memory, and says where (issue 18).

Every hostile file is generated here, in tmp_path: nothing large is committed.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import socket
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cli import main
from pipeline.cloudtrail import ImportSummary, import_cloudtrail, reader
from pipeline.cloudtrail.splitter import DocumentSplitter
from pipeline.cloudtrail.streams import ByteStream
from pipeline.errors import InputError
from pipeline.log import FileLog
from pipeline.producer import Producer
from tests.cloudtrail_helpers import STRATUS

# A session token and a secret key, as an error message or a corrupt file could carry them.
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKENvalue0123456789"
SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"


def _records() -> list[dict[str, Any]]:
    path = STRATUS / "aws.credential-access.ec2-get-password-data.json"
    records: list[dict[str, Any]] = json.loads(path.read_text())
    return records


def _import(tmp_path: Path, *paths: Path, fmt: str = "auto") -> ImportSummary:
    log = FileLog(tmp_path / "log", partitions=2, fsync=False)
    try:
        return import_cloudtrail([str(p) for p in paths], Producer(log), fmt=fmt)
    finally:
        log.close()


def _cli(tmp_path: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["import-cloudtrail", *args, "--log", f"file:{tmp_path}/log"])


def _ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["eventID"] for r in records]


# --- Finding 2: salvage -------------------------------------------------------------


@pytest.mark.parametrize("whole_file_limit", [reader.WHOLE_FILE_LIMIT, 4096])
@pytest.mark.parametrize("suffix", [".json.gz", ".jsonl.gz"])
def test_a_truncated_gzip_imports_every_record_before_the_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, whole_file_limit: int
) -> None:
    # 4096 streams the file, as files over the real whole-file limit are.
    monkeypatch.setattr(reader, "WHOLE_FILE_LIMIT", whole_file_limit)
    records = _records() * 20  # enough that half the file holds many whole records
    if suffix == ".json.gz":
        text = json.dumps({"Records": records})
    else:
        text = "".join(json.dumps(r) + "\n" for r in records)
    whole = gzip.compress(text.encode())
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole[: len(whole) // 2])
    summary = _import(tmp_path, cut)
    d = summary.to_dict()
    # Half the compressed bytes hold about half the records: they all import.
    assert len(records) // 3 < summary.records_read < len(records)
    assert summary.records_mapped + summary.records_skipped == summary.records_read
    [corrupt] = d["corrupt_files"]
    assert corrupt["file"] == str(cut)
    assert corrupt["reason"].startswith("truncated gzip")
    assert f"after record {summary.records_read:,}" in corrupt["reason"]
    assert corrupt["records_before"] == summary.records_read
    assert corrupt["byte"] > 0


def test_a_truncated_plain_file_and_a_broken_record_lose_only_what_is_damaged(
    tmp_path: Path,
) -> None:
    records = _records()
    broken = tmp_path / "broken.json"
    body = json.dumps({"Records": records})
    # The fifth record is broken inside (a bad literal): only it is lost.
    fifth = json.dumps(records[4])
    body = body.replace(fifth, fifth.replace('"eventVersion": ', '"eventVersion": tru'), 1)
    broken.write_text(body)
    cut = tmp_path / "cut.json"
    whole = json.dumps({"Records": records})
    cut.write_text(whole[:-2000])
    ends = [whole.index(json.dumps(r)) + len(json.dumps(r)) for r in records]
    before_the_cut = sum(end <= len(whole) - 2000 for end in ends)
    summary = _import(tmp_path, broken, cut)
    [(file, lost)] = summary.lost
    assert (file, lost.index, lost.kind) == (str(broken), 5, "invalid JSON record")
    assert lost.byte == body.index(fifth.replace('"eventVersion": ', '"eventVersion": tru'))
    assert summary.skipped["invalid JSON record"] == 1
    assert [f for f, _r in summary.corrupt_files] == [str(cut)]
    assert summary.records_read == len(records) + before_the_cut


def test_a_deeply_nested_record_in_a_small_file_loses_only_that_record(tmp_path: Path) -> None:
    records = _records()
    bomb = "[" * 200_000 + "]" * 200_000  # too deep for any recursive parser
    items = [json.dumps(r) for r in records[:3]] + [bomb] + [json.dumps(r) for r in records[3:]]
    small = tmp_path / "small.json"
    small.write_text('{"Records": [' + ", ".join(items) + "]}")
    assert small.stat().st_size <= reader.WHOLE_FILE_LIMIT
    summary = _import(tmp_path, small)
    assert not summary.corrupt_files
    assert summary.records_read == len(records) + 1
    assert summary.skipped["too deeply nested"] == 1
    [(_file, lost)] = summary.lost
    assert (lost.unit, lost.index) == ("record", 4)
    assert lost.reason == "nested deeper than 512 levels"
    expected = _import(
        tmp_path / "ref", STRATUS / "aws.credential-access.ec2-get-password-data.json"
    )
    assert summary.events_emitted == expected.events_emitted  # every other record imported


def test_the_json_summary_lists_what_was_lost_and_where(tmp_path: Path) -> None:
    lines = tmp_path / "lines.jsonl"
    good = json.dumps(_records()[0])
    lines.write_text(good + "\n" + "[" * 5000 + "]" * 5000 + "\n" + "{oops\n" + good + "\n")
    r = _cli(tmp_path, str(lines), "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["records_lost"] == 2
    assert d["lost_records"] == [
        {
            "file": str(lines),
            "line": 2,
            "byte": len(good) + 1,
            "kind": "invalid JSON line",
            "reason": "nested too deeply",
        },
        {
            "file": str(lines),
            "line": 3,
            "byte": len(good) + 1 + 10001,
            "kind": "invalid JSON line",
            "reason": "not JSON: Expecting property name enclosed in double quotes at column 2",
        },
    ]
    human = _cli(tmp_path, str(lines))
    assert f"lost {lines} line 3" in human.output


# --- Finding 3: linear time on streamed input -----------------------------------------


def _one_record_with_a_string(path: Path, megabytes: int, *, lines: bool = False) -> None:
    record = {**_records()[0], "userAgent": "@@"}
    before, after = json.dumps(record).encode().split(b"@@")
    with path.open("wb") as f:
        f.write(before if lines else b'{"Records": [' + before)
        block = b"a" * (1 << 20)
        for _ in range(megabytes):
            f.write(block)
        f.write(after + (b"\n" if lines else b"]}"))


def test_a_huge_string_is_read_in_linear_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 40 MB in one string, streamed (over the whole-file limit) and under a raised cap so
    # that it is parsed, not skipped. It took 77 s when ijson was fed 8 KiB at a time
    # (quadratic); linear it takes well under a second. The bound is generous for CI.
    monkeypatch.setattr(reader, "MAX_RECORD_BYTES", 64 << 20)
    big = tmp_path / "big.json"
    _one_record_with_a_string(big, 40)
    started = time.perf_counter()
    summary = _import(tmp_path, big)
    elapsed = time.perf_counter() - started
    assert summary.records_read == 1
    assert summary.records_mapped == 1
    assert not summary.corrupt_files
    assert elapsed < 15, f"{elapsed:.1f} s for a 40 MB string"


# --- Finding 4: a cap on one record's size, memory bounded ----------------------------


@pytest.mark.parametrize("lines", [True, False])
def test_a_record_over_the_cap_is_skipped_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: bool
) -> None:
    cap = 1 << 20
    monkeypatch.setattr(reader, "MAX_RECORD_BYTES", cap)
    monkeypatch.setattr(reader, "WHOLE_FILE_LIMIT", 4096)
    big = tmp_path / ("big.jsonl" if lines else "big.json")
    _one_record_with_a_string(big, 24, lines=lines)  # 24 times the cap
    good = _records()[:2]
    if lines:  # a good record on each side of the oversized line
        with big.open("rb+") as f:
            rest = f.read()
            f.seek(0)
            f.write(json.dumps(good[0]).encode() + b"\n" + rest + json.dumps(good[1]).encode())
    tracemalloc.start()
    try:
        summary = _import(tmp_path, big)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * cap, f"peak {peak / 2**20:.1f} MiB for a 24 MiB record"
    assert summary.skipped["record over the size cap"] == 1
    assert not summary.corrupt_files
    [(_file, lost)] = summary.lost
    assert lost.unit == ("line" if lines else "record")
    assert lost.index == (2 if lines else 1)
    assert lost.reason == f"longer than {cap:,} {'bytes' if lines else 'characters'}"
    assert summary.records_read == (3 if lines else 1)


# --- Finding 5: special files in a tree, unreadable directories -----------------------


def test_fifos_sockets_and_devices_in_a_tree_are_skipped_with_a_reason(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a_good.json").write_text(json.dumps({"Records": _records()}))
    fifo = tree / "b_fifo.json"
    os.mkfifo(fifo)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tree / "c_socket.json"))
    (tree / "d_device.json").symlink_to("/dev/null")
    done: list[ImportSummary] = []
    worker = threading.Thread(target=lambda: done.append(_import(tmp_path, tree)), daemon=True)
    worker.start()
    worker.join(timeout=30)
    try:
        assert done, "the import hung on a FIFO"
    finally:
        sock.close()
        if worker.is_alive():  # unblock the open() of the FIFO before the next test
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            worker.join(timeout=5)
    summary = done[0]
    assert summary.to_dict()["skipped_inputs"] == [
        {"path": str(tree / "b_fifo.json"), "reason": "not a regular file (FIFO): not opened"},
        {"path": str(tree / "c_socket.json"), "reason": "not a regular file (socket): not opened"},
        {"path": str(tree / "d_device.json"), "reason": "not a regular file (device): not opened"},
    ]
    assert summary.files_read == 1
    assert summary.records_read == len(_records())
    assert not summary.corrupt_files


def test_an_unreadable_directory_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "tree"
    locked = tree / "2026" / "locked"
    locked.mkdir(parents=True)
    (tree / "2026" / "ok.json").write_text(json.dumps({"Records": _records()}))
    (locked / "hidden.json").write_text(json.dumps({"Records": _records()}))
    if os.geteuid() == 0:  # root reads any directory: make this one fail as it would
        scandir = os.scandir

        def refusing(path: Any = ".") -> Any:
            if str(path) == str(locked):
                raise PermissionError(13, "Permission denied", str(path))
            return scandir(path)

        monkeypatch.setattr(os, "scandir", refusing)
    else:
        locked.chmod(0)
    try:
        summary = _import(tmp_path, tree)
    finally:
        locked.chmod(0o755)
    assert summary.skipped_inputs == [(str(locked), "directory not readable: Permission denied")]
    assert summary.records_read == len(_records())
    r = _cli(tmp_path / "cli", str(tree))
    assert f"not read {locked}: directory not readable" in r.output.replace("\n", " ")


# --- Finding 7 (the reader's part): reasons never echo the input -----------------------


def test_reasons_for_damage_never_echo_the_input(tmp_path: Path) -> None:
    secret = {"sessionToken": TOKEN, "secretAccessKey": SECRET}
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a_starts_with_a_token.json").write_text(TOKEN + SECRET + "\n")
    (inputs / "b_broken_after_a_token.json").write_text(
        '{"Records": [' + json.dumps(secret) + " " + TOKEN + SECRET + "]}"
    )
    (inputs / "c_lines.jsonl").write_text(
        json.dumps(_records()[0]) + "\n" + TOKEN + ", " + SECRET + "\n" + json.dumps(secret)[:-3]
    )
    gz = gzip.compress(json.dumps({"Records": [secret] * 50}).encode())
    (inputs / "d_cut.json.gz").write_bytes(gz[: len(gz) - 30])
    (inputs / "e_bad_utf8.json").write_bytes(b'{"Records": [{"x": "' + TOKEN.encode() + b'\xff"}]}')
    (inputs / "f_bad_gzip.json.gz").write_bytes(gzip.compress(b"[]") + TOKEN.encode())
    user = {"type": "IAMUser", "accountId": "111122223333", "accessKeyId": "AKIAEXAMPLE"}
    named = {**_records()[0], "eventName": f"x-{TOKEN}?{SECRET}", "userIdentity": user}
    (inputs / "g_named.json").write_text(json.dumps({"Records": [named]}))
    as_json = _cli(tmp_path / "j", str(inputs), "--json")
    human = _cli(tmp_path / "h", str(inputs))
    assert as_json.exit_code == 0, as_json.output
    corrupt = json.loads(as_json.output)["corrupt_files"]
    assert len(corrupt) == 6
    assert json.loads(as_json.output)["not_role_related_by_event"] == {"(not an event name)": 1}
    for output in (as_json.output, human.output):
        for needle in (TOKEN, SECRET):
            for piece in (needle[:12], needle[12:24], needle[-12:]):
                assert piece not in output, f"input echoed: {piece}"


# --- Issue 12, item 7: a missing path fails before anything is imported ----------------


def test_a_missing_path_fails_before_importing_anything(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"Records": _records()}))
    missing = tmp_path / "missing.json"
    r = _cli(tmp_path, str(good), str(missing))
    assert r.exit_code != 0
    assert r.output.strip().splitlines() == [
        f"rolecall: error: no such file or directory: {missing}"
    ]
    assert "Traceback" not in r.output
    assert not (tmp_path / "log").exists()  # the log was not even opened
    with pytest.raises(InputError, match=r"missing\.json"):
        _import(tmp_path / "lib", good, missing)


# --- The splitter agrees with json.loads, whatever the chunk boundaries -----------------

_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from('ab"\\/{}[],: \n\té€😀'), max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet='k"\\{]', max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(_values, max_size=6),
    chunk=st.integers(1, 9),
    shape=st.sampled_from(["array", "records", "concatenated"]),
    indent=st.sampled_from([None, 1]),
)
def test_the_splitter_agrees_with_json_at_any_chunk_size(
    records: list[Any], chunk: int, shape: str, indent: int | None
) -> None:
    if shape == "array":
        text, expected = json.dumps(records, indent=indent, ensure_ascii=False), records
    elif shape == "records":
        doc = {"Records": records, "after": {"x": "]}"}}
        text, expected = json.dumps(doc, indent=indent, ensure_ascii=False), records
    else:
        docs = [{"Records": records[:2]}, records[2:4], {"Records": records[4:]}]
        text = "\n".join(json.dumps(d, ensure_ascii=False) for d in docs)
        expected = records
    stream = ByteStream(io.BytesIO(text.encode()))
    got = list(DocumentSplitter(stream, max_record=1 << 20, max_depth=64, chunk=chunk))
    assert got == expected
