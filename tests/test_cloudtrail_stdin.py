"""Standard input is read as a stream, whatever its timing (issue 18, finding 6).

Real pipes: a writer thread sends the bytes with pauses, as a slow producer would; the
importer must wait for real bytes instead of deciding on one `peek()`.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.cloudtrail import ImportSummary, import_cloudtrail
from pipeline.log import FileLog
from pipeline.producer import Producer
from tests.cloudtrail_helpers import COMPOSED, STRATUS

CONSOLE = (COMPOSED / "console.jsonl").read_bytes()  # 5 records, one a line
CONSOLE_EVENTS = {"RoleAssumed": 4, "RoleExited": 1}
Steps = list[tuple[float, bytes]]  # (pause before, bytes)
Feed = Callable[[Steps], None]


class _Pipe:
    """A real pipe standing in for standard input, fed by a thread that pauses."""

    def __init__(self, steps: Steps) -> None:
        read_fd, self.write_fd = os.pipe()
        # A real BufferedReader over the pipe, as sys.stdin.buffer is; closed by the fixture.
        self.reader = open(read_fd, "rb")  # noqa: SIM115
        self.thread = threading.Thread(target=self._write, args=(steps,), daemon=True)

    def _write(self, steps: Steps) -> None:
        try:
            for pause, data in steps:
                time.sleep(pause)
                os.write(self.write_fd, data)
        except BrokenPipeError:
            pass  # the reader stopped early: the test's assertions say why
        finally:
            os.close(self.write_fd)


@pytest.fixture
def stdin_pipe(monkeypatch: pytest.MonkeyPatch) -> Iterator[Feed]:
    pipes: list[_Pipe] = []

    def start(steps: Steps) -> None:
        pipe = _Pipe(steps)
        pipes.append(pipe)
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(pipe.reader))
        pipe.thread.start()

    yield start
    for pipe in pipes:
        pipe.thread.join(timeout=10)
        pipe.reader.close()


def _import_stdin(tmp_path: Path, fmt: str = "auto") -> ImportSummary:
    log = FileLog(tmp_path / "log", partitions=2, fsync=False)
    try:
        return import_cloudtrail(["-"], Producer(log), fmt=fmt)
    finally:
        log.close()


def _assert_console(summary: ImportSummary) -> None:
    assert not summary.corrupt_files, summary.corrupt_files
    assert summary.records_read == 5
    assert dict(summary.events_emitted) == CONSOLE_EVENTS


def test_a_newline_then_data_seconds_later(tmp_path: Path, stdin_pipe: Feed) -> None:
    stdin_pipe([(0.0, b"\n"), (1.5, CONSOLE)])
    _assert_console(_import_stdin(tmp_path))


def test_lines_arriving_one_at_a_time(tmp_path: Path, stdin_pipe: Feed) -> None:
    lines = CONSOLE.splitlines(keepends=True)
    # Each line in two writes, with pauses between them.
    stdin_pipe([step for line in lines for step in ((0.1, line[:30]), (0.1, line[30:]))])
    _assert_console(_import_stdin(tmp_path))


def test_gzip_arriving_one_byte_at_a_time(tmp_path: Path, stdin_pipe: Feed) -> None:
    packed = gzip.compress(CONSOLE)
    stdin_pipe([(0.002, packed[i : i + 1]) for i in range(len(packed))])
    _assert_console(_import_stdin(tmp_path))


@pytest.mark.parametrize("body", ["lines", "document"])
def test_more_than_64_kib_of_leading_blank_space(
    tmp_path: Path, stdin_pipe: Feed, body: str
) -> None:
    blank = (b" " * 1023 + b"\n") * 100  # 100 KiB
    if body == "lines":
        data = CONSOLE
    else:
        records = [json.loads(line) for line in CONSOLE.splitlines()]
        data = json.dumps({"Records": records}, indent=2).encode()
    stdin_pipe([(0.0, blank[:70_000]), (0.3, blank[70_000:]), (0.3, data)])
    _assert_console(_import_stdin(tmp_path))


def test_a_pretty_printed_log_file_arriving_slowly(tmp_path: Path, stdin_pipe: Feed) -> None:
    records = [json.loads(line) for line in CONSOLE.splitlines()]
    data = json.dumps({"Records": records}, indent=2).encode()
    # `{` alone on the first line, then the rest later: still one CloudTrail document.
    stdin_pipe([(0.0, data[:2]), (0.5, data[2:9]), (0.3, data[9:])])
    _assert_console(_import_stdin(tmp_path))


def test_the_format_option_overrides_detection(tmp_path: Path) -> None:
    # A first line that is not JSON: detection calls the input "not JSON"; --format
    # jsonl reads it line by line, the bad line counted and the rest imported.
    data = b"garbage first line\n" + CONSOLE

    def run(*args: str) -> dict[str, object]:
        log = f"file:{tmp_path}/log-{len(args)}"
        r = CliRunner().invoke(
            main, ["import-cloudtrail", "-", *args, "--log", log, "--json"], input=data
        )
        assert r.exit_code == 0, r.output
        result: dict[str, object] = json.loads(r.output)
        return result

    auto = run()
    assert auto["records_read"] == 0
    assert [c["reason"] for c in auto["corrupt_files"]] == [  # type: ignore[attr-defined]
        "not JSON: starts with neither '{' nor '[' (after record 0, near byte 0)"
    ]
    lines = run("--format", "jsonl")
    assert lines["records_read"] == 6
    assert lines["skipped_by_reason"] == {"invalid JSON line": 1}
    assert lines["events_by_type"] == CONSOLE_EVENTS
    stratus = (STRATUS / "aws.persistence.sts-federation-token.json").read_bytes()
    r = CliRunner().invoke(
        main,
        ["import-cloudtrail", "-", "--format", "json", "--log", f"file:{tmp_path}/j", "--json"],
        input=stratus,
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["records_read"] == len(json.loads(stratus))
    bad = CliRunner().invoke(main, ["import-cloudtrail", "-", "--format", "xml"], input=b"")
    assert bad.exit_code == 2
    assert "Invalid value for '--format'" in bad.output


def test_the_command_reads_a_slow_pipe(tmp_path: Path) -> None:
    # The real command, its standard input a pipe: a blank line, then data 3 s later (the
    # command is reading by then: it starts in about a second).
    command = ["import-cloudtrail", "-", "--json", "--log", f"file:{tmp_path}/log"]
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(b"\n")
    process.stdin.flush()
    time.sleep(3.0)
    out, err = process.communicate(CONSOLE, timeout=60)
    assert process.returncode == 0, err
    summary = json.loads(out)
    assert summary["records_read"] == 5
    assert summary["events_by_type"] == CONSOLE_EVENTS
