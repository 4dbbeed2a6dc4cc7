"""Streams CloudTrail records out of files, archives, directory trees and stdin.

Shapes read, with bounded memory and in time linear in the input:
- a CloudTrail log file, `{"Records": [...]}`, plain or gzipped: parsed whole when it is
  small (CloudTrail delivers a few megabytes), record by record otherwise;
- a JSON array of records, and documents one after another (`zcat *.json.gz | ...`);
- JSON Lines, including Logstash exports (time in `@timestamp`, the record possibly
  nested) and lines that are themselves `{"Records": [...]}`;
- directory trees in CloudTrail's S3 layout (`AWSLogs/<account>/CloudTrail/<region>/
  YYYY/MM/DD/*.json.gz`, also with an organization's `<o-id>/`), digests left out;
  FIFOs, sockets and devices in a tree are listed as skipped, never opened;
- `-` for standard input, read as it arrives (slow pipes, gzip a byte at a time).

Damage loses only what is damaged: a record over `MAX_RECORD_BYTES`, nested deeper than
`MAX_NESTING` or broken is yielded as a `Lost` with its place and reason, and the records
after it still come; a truncated file or gzip raises `CorruptInput` after yielding every
record before the damage. The importer reports both and goes on.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pipeline.cloudtrail import fastjson
from pipeline.cloudtrail.damage import CorruptInput, Lost
from pipeline.cloudtrail.splitter import DocumentSplitter, json_lines
from pipeline.cloudtrail.streams import ByteStream, unzipped
from pipeline.errors import InputError

__all__ = ["CorruptInput", "Lost", "Source", "read_records", "sources", "unwrap"]

STDIN = "-"
AUTO, DOCUMENTS, LINES = "auto", "json", "jsonl"
FORMATS = (AUTO, DOCUMENTS, LINES)
_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".gz")
_PEEK = 1 << 16
MAX_NESTING = 512  # CloudTrail records nest a few dozen levels at most
WHOLE_FILE_LIMIT = 16 << 20  # decompressed bytes parsed in one piece
# One record's JSON text, at most: CloudTrail events stay under 256 KB (AWS truncates
# larger request parameters), so 32 MiB is far beyond any real one, and memory stays
# bounded at a few times this whatever a line or a record claims. Longer records are
# skipped with their place and reason.
MAX_RECORD_BYTES = 32 << 20
_BLANK = b" \t\r\n"
_RECORDS_FIRST = re.compile(rb'^\{\s*"Records"\s*:\s*\[')
# Where a Logstash or EventBridge export nests the CloudTrail record.
_NESTS = ("cloudtrail", "detail", "_source", "aws", "event", "json", "message")


@dataclass(frozen=True, slots=True)
class Source:
    """One input: a file path, or standard input."""

    name: str
    path: Path | None  # None: standard input
    in_tree: bool = False  # found by walking a directory: must be a regular file


@dataclass
class Inputs:
    """The files named or found under the paths, and what was passed over, with why."""

    files: list[Source] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def unreadable(self, exc: OSError) -> None:
        """A directory the walk could not list: reported, never passed over in silence."""
        why = exc.strerror or type(exc).__name__
        self.skipped.append((str(exc.filename), f"directory not readable: {why}"))


def check_paths(paths: Iterable[str]) -> None:
    """Raises `InputError` for the first path that does not exist, before anything is read."""
    for raw in paths:
        if raw == STDIN:
            continue
        try:
            os.stat(raw)
        except FileNotFoundError:
            raise InputError(f"no such file or directory: {raw}") from None
        except OSError:
            pass  # there, but not readable: reported with the file, the rest still imports


def find_inputs(paths: Iterable[str]) -> Inputs:
    """Every file named by `paths`, directories walked in a stable order."""
    found = Inputs()
    for raw in paths:
        if raw == STDIN:
            found.files.append(Source("<stdin>", None))
            continue
        path = Path(raw)
        if not path.is_dir():
            # Named on the command line: read whatever it is (`<(zcat ...)` is a pipe).
            found.files.append(Source(str(path), path))
            continue

        for root, dirs, files in os.walk(path, onerror=found.unreadable):
            # Digest files sign the logs; they hold no records.
            dirs[:] = sorted(d for d in dirs if d != "CloudTrail-Digest")
            for name in sorted(files):
                if not name.endswith(_SUFFIXES):
                    continue
                file = Path(root) / name
                kind = _special(file)
                if kind:  # opening a FIFO would wait for a writer forever
                    found.skipped.append((str(file), f"not a regular file ({kind}): not opened"))
                else:
                    found.files.append(Source(str(file), file, in_tree=True))
    return found


def sources(paths: Iterable[str]) -> list[Source]:
    """Every file named by `paths`, directories walked in a stable order."""
    return find_inputs(paths).files


def _special(path: Path) -> str | None:
    """What a path is when it is not a regular file (None for a regular one or a dangling link)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # reported as unreadable when it is opened
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def read_records(source: Source, fmt: str = AUTO) -> Iterator[Any]:
    """The records of one input, in file order, `Lost` ones included.

    Raises `CorruptInput` on damage that ends the input, after yielding everything before it.
    """
    count = 0
    raw = _open(source)
    try:
        outer = ByteStream(raw)
        stream = unzipped(outer)
        try:
            for record in _records(stream, fmt):
                count += 1
                yield record
        except CorruptInput as exc:
            exc.records_before = count  # records, where a JSON Lines parser counts lines
            raise _damage(outer, stream, count) or exc from None
        damaged = _damage(outer, stream, count)
        if damaged:
            raise damaged
    finally:
        if source.path is not None:
            raw.close()


def _open(source: Source) -> IO[bytes]:
    if source.path is None:
        return sys.stdin.buffer
    try:
        if not source.in_tree:
            return source.path.open("rb")
        # Found in a tree: opened without waiting, in case it became a FIFO since the walk.
        fd = os.open(source.path, os.O_RDONLY | os.O_NONBLOCK)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise CorruptInput("not a regular file: not read")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except OSError as exc:
        raise CorruptInput(f"cannot read: {exc.strerror or type(exc).__name__}") from None


def _damage(outer: ByteStream, stream: ByteStream, count: int) -> CorruptInput | None:
    """The read or decompression error that ended the input early, if any."""
    for s in (outer, stream):  # a read error first: it is why the gzip ends early
        if s.damage is not None:
            at = s.damage_at if s is stream else None
            return CorruptInput(s.damage, count, at)
    return None


def _records(stream: ByteStream, fmt: str) -> Iterator[Any]:
    if fmt == AUTO:
        fmt = _detect(stream)
    if fmt == LINES:
        yield from json_lines(stream, max_record=MAX_RECORD_BYTES)
    elif fmt == DOCUMENTS:
        yield from _documents(stream)


def _detect(stream: ByteStream) -> str:
    """JSON Lines or documents, decided on real bytes: reads on until the head settles it."""
    head = b""
    blank = 0
    decided: str | None = None
    while decided is None:
        data = stream.read1(_PEEK)
        ended = not data
        if not head:
            stripped = data.lstrip(_BLANK)  # however much blank space comes first
            blank += len(data) - len(stripped)
            data = stripped
        head += data
        if head:
            decided = _decide(head, ended=ended)
        elif ended:
            decided = ""  # nothing but blank space
    stream.unread(head)
    if decided == _NOT_JSON:
        raise CorruptInput("not JSON: starts with neither '{' nor '['", 0, blank)
    return decided


_NOT_JSON = "not json"
_RECORDS_OPENING = b'{"Records":['


def _decide(head: bytes, *, ended: bool) -> str | None:
    """The format `head` shows, or None while more bytes could change the answer."""
    settled = ended or len(head) >= _PEEK
    if head[:1] == b"[":
        return DOCUMENTS
    newline = head.find(b"\n")
    if newline >= 0 and _is_json(head[:newline]):
        return LINES  # a whole value on the first line (a small Records file included)
    if _RECORDS_FIRST.match(head):
        return DOCUMENTS if newline >= 0 or settled else None
    if head[:1] == b"{":
        # `{` then blank lines may still become `{"Records": [`: a pretty-printed log file.
        compact = re.sub(rb"\s+", b"", head[: len(_RECORDS_OPENING) * 64])
        opening = _RECORDS_OPENING.startswith(compact)
        return None if opening and not settled else LINES
    return _NOT_JSON if newline >= 0 or settled else None


def _documents(stream: ByteStream) -> Iterator[Any]:
    # CloudTrail delivers files of a few megabytes: parsed whole, they read fastest.
    # Anything larger, or damaged, is split record by record.
    limit = min(WHOLE_FILE_LIMIT, MAX_RECORD_BYTES)
    data = stream.read(limit + 1)
    if len(data) <= limit and stream.damage is None:
        try:
            value = fastjson.loads(data)
        except (ValueError, RecursionError):
            pass
        else:
            if isinstance(value, dict) and isinstance(value.get("Records"), list):
                value = value["Records"]
            yield from value if isinstance(value, list) else [value]
            return
    stream.unread(data)
    yield from DocumentSplitter(stream, max_record=MAX_RECORD_BYTES, max_depth=MAX_NESTING)


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return False
    return True


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
