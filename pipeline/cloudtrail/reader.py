"""Streams CloudTrail records out of files, archives, directory trees and stdin.

Shapes read, with bounded memory:
- a CloudTrail log file, `{"Records": [...]}` (streamed record by record with ijson's C
  backend, so a file of any size is never held whole), plain or gzipped;
- a JSON array of records;
- JSON Lines, including Logstash exports (time in `@timestamp`, the record possibly
  nested) and lines that are themselves `{"Records": [...]}`;
- directory trees in CloudTrail's S3 layout (`AWSLogs/<account>/CloudTrail/<region>/
  YYYY/MM/DD/*.json.gz`, also with an organization's `<o-id>/`), digests left out;
- `-` for standard input.

A file that is truncated or corrupt raises `CorruptInput` after yielding every record
read before the damage; the importer reports it and goes on with the next file.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import ijson

STDIN = "-"
_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".gz")
_PEEK = 1 << 16
_CHUNK = 1 << 13
_BRACKETS = re.compile(rb"[\[\]{}]")
MAX_NESTING = 512  # CloudTrail records nest a few dozen levels at most
WHOLE_FILE_LIMIT = 16 << 20  # decompressed bytes parsed in one piece
_RECORDS_FIRST = re.compile(rb'^\s*\{\s*"Records"\s*:\s*\[')
# Where a Logstash or EventBridge export nests the CloudTrail record.
_NESTS = ("cloudtrail", "detail", "_source", "aws", "event", "json", "message")


class CorruptInput(Exception):
    """A file could not be read to its end (truncated gzip, broken JSON...)."""


@dataclass(frozen=True, slots=True)
class Source:
    """One input: a file path, or standard input."""

    name: str
    path: Path | None  # None: standard input

    def open(self) -> IO[bytes]:
        if self.path is None:
            return sys.stdin.buffer
        return self.path.open("rb")


def sources(paths: Iterable[str]) -> list[Source]:
    """Every file named by `paths`, directories walked in a stable order."""
    found: list[Source] = []
    for raw in paths:
        if raw == STDIN:
            found.append(Source("<stdin>", None))
            continue
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                # Digest files sign the logs; they hold no records.
                dirs[:] = sorted(d for d in dirs if d != "CloudTrail-Digest")
                for name in sorted(files):
                    if name.endswith(_SUFFIXES):
                        file = Path(root) / name
                        found.append(Source(str(file), file))
        else:
            found.append(Source(str(path), path))
    return found


def read_records(source: Source) -> Iterator[Any]:
    """The records of one input, in file order. Raises `CorruptInput` on damage."""
    opened: list[IO[bytes]] = []
    try:
        if source.path is None:
            base: IO[bytes] = sys.stdin.buffer
        else:
            base = io.BufferedReader(source.path.open("rb", buffering=0), buffer_size=_PEEK)
            opened.append(base)
        yield from _records(base, opened)
    except CorruptInput:
        raise
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise CorruptInput(f"corrupt or truncated gzip: {exc or type(exc).__name__}") from None
    except ijson.JSONError as exc:
        raise CorruptInput(f"broken JSON: {str(exc)[:200]}") from None
    except UnicodeDecodeError as exc:
        raise CorruptInput(f"not UTF-8: {exc.reason}") from None
    except OSError as exc:
        raise CorruptInput(f"cannot read: {exc.strerror or exc}") from None
    finally:
        for stream in reversed(opened):
            stream.close()


def _records(stream: IO[bytes], opened: list[IO[bytes]]) -> Iterator[Any]:
    peek = getattr(stream, "peek", None)
    if peek is None:  # a pipe without a buffer of its own
        stream = io.BufferedReader(stream, buffer_size=_PEEK)  # type: ignore[type-var]
    if stream.peek(2)[:2] == b"\x1f\x8b":  # type: ignore[attr-defined]
        unzipped = gzip.GzipFile(fileobj=stream)
        stream = io.BufferedReader(unzipped, buffer_size=_PEEK)
        opened.append(stream)
    head = stream.peek(_PEEK)  # type: ignore[attr-defined]
    first = head.lstrip()[:1]
    if not first:
        return
    # CloudTrail delivers files of a few megabytes: parsed whole, they read twice as fast
    # as streamed. Anything larger is streamed, so memory stays bounded at any size.
    data = stream.read(WHOLE_FILE_LIMIT + 1)
    whole = len(data) <= WHOLE_FILE_LIMIT
    rest: IO[bytes] = io.BytesIO(data) if whole else _Chain(data, stream)  # type: ignore[assignment]
    records_first = bool(_RECORDS_FIRST.match(head)) and not _first_line_is_complete(head)
    if first == b"[" or records_first:
        if whole:
            parsed = _parse_whole(data)
            if parsed is not None:
                yield from parsed
                return
        prefix = "item" if first == b"[" else "Records.item"
        # Streamed (or re-read to salvage the records before the damage).
        yield from ijson.items(_NestingGuard(rest), prefix, use_float=True, multiple_values=True)
    elif first == b"{" or _first_line_is_complete(head):
        yield from _json_lines(rest)
    else:
        raise CorruptInput(f"not JSON: starts with {head[:20]!r}")


def _parse_whole(data: bytes) -> list[Any] | None:
    """The records of a whole document, or None when it does not parse as one."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise CorruptInput("JSON nested too deeply") from None
    except ValueError:
        return None
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and isinstance(value.get("Records"), list):
        records: list[Any] = value["Records"]
        return records
    return [value]


class _Chain:
    """The bytes already read, then the rest of the stream."""

    def __init__(self, first: bytes, rest: IO[bytes]) -> None:
        self.first = io.BytesIO(first)
        self.rest = rest

    def read(self, size: int = -1) -> bytes:
        data = self.first.read(size)
        if data:
            return data
        return self.rest.read(size)

    def __iter__(self) -> Iterator[bytes]:
        carry = b""
        for line in self.first:
            if not line.endswith(b"\n"):
                carry = line  # a line cut where the first piece ends
                break
            yield line
        for line in self.rest:
            yield carry + line
            carry = b""
        if carry:
            yield carry


class _NestingGuard:
    """Refuses JSON nested deeper than `limit` before the parser sees it.

    ijson keeps a prefix string per level, so memory grows with the square of the depth:
    a few kilobytes of `[[[[...` would exhaust the machine. Counting brackets per small
    chunk costs next to nothing; the exact walk runs only when a chunk could go too deep.
    Brackets inside strings are counted too, which only makes the guard stricter.
    """

    def __init__(self, stream: IO[bytes], limit: int = MAX_NESTING) -> None:
        self.stream = stream
        self.limit = limit
        self.depth = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(_CHUNK if size is None or size < 0 else min(size, _CHUNK))
        opens = data.count(b"[") + data.count(b"{")
        if self.depth + opens > self.limit:
            self._walk(data)
        self.depth = max(0, self.depth + opens - data.count(b"]") - data.count(b"}"))
        return data

    def _walk(self, data: bytes) -> None:
        depth = self.depth
        for match in _BRACKETS.finditer(data):
            depth = depth + 1 if match.group() in (b"[", b"{") else max(0, depth - 1)
            if depth > self.limit:
                raise CorruptInput(f"JSON nested deeper than {self.limit} levels")


def _first_line_is_complete(head: bytes) -> bool:
    """A JSON Lines file whose first line is a whole object (maybe a small Records file)."""
    end = head.find(b"\n")
    if end < 0:
        return False
    try:
        json.loads(head[:end])
    except ValueError:
        return False
    return True


def _json_lines(stream: IO[bytes]) -> Iterator[Any]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except RecursionError:
            yield InvalidLine(number, "nested too deeply")
            continue
        except ValueError as exc:
            if number > 1 and not line.endswith(b"\n"):
                raise CorruptInput(f"truncated last line {number}: {exc}") from None
            yield InvalidLine(number, str(exc)[:120])
            continue
        if isinstance(value, dict) and isinstance(value.get("Records"), list):
            yield from value["Records"]
        else:
            yield value


@dataclass(frozen=True, slots=True)
class InvalidLine:
    """A line of a JSON Lines file that is not JSON: skipped, and counted with its reason."""

    line: int
    reason: str


def unwrap(record: dict[str, Any]) -> dict[str, Any]:
    """The CloudTrail record inside a Logstash or EventBridge envelope (or the record itself)."""
    if "eventName" in record:
        return record
    for key in _NESTS:
        inner = record.get(key)
        if isinstance(inner, str) and inner[:1] == "{":
            try:
                inner = json.loads(inner)
            except ValueError:
                continue
        if isinstance(inner, dict) and "eventName" in inner:
            if "eventTime" not in inner and "@timestamp" in record:
                inner = {**inner, "@timestamp": record["@timestamp"]}
            return inner
    return record
