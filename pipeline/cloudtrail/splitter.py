"""Splits JSON text into records, in time linear in its size and memory bounded by a cap.

Documents: a record is an element of a top-level array, of a top-level object's leading
`"Records"` array (CloudTrail's log file), or a whole top-level object of another shape;
documents may follow one another (`zcat *.json.gz`). Each record is parsed on its own by
the json module's C scanner, straight out of the buffer when it lies there whole. One that
does not (cut by the buffer's end, too deep, broken) is delimited first by a scanner of
strings and brackets that keeps at most `max_record` characters: a record over the cap,
nested too deeply or broken is lost alone, and the records around it still import.

JSON Lines: one value a line; a line over the cap is skipped without being held.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any

from pipeline.cloudtrail import fastjson
from pipeline.cloudtrail.damage import (
    INVALID_LINE,
    INVALID_RECORD,
    OVER_CAP,
    TOO_DEEP,
    CorruptInput,
    Lost,
)
from pipeline.cloudtrail.streams import CHUNK, ByteStream

_WS = re.compile(r"[ \t\n\r]*")
# A string's body up to its closing quote (or the text's end): backslash pairs, then runs.
_STRING_BODY = re.compile(r'[^"\\]*+(?:\\.[^"\\]*+)*+', re.DOTALL)
# Outside strings: a quote, or a run of brackets (counted as a run, walked only if needed).
_TOKEN = re.compile(r'"|[\[\]{}]+')
_RECORDS_FIRST = re.compile(r'\{[ \t\n\r]*"Records"[ \t\n\r]*:[ \t\n\r]*\[')
_DECODER = json.JSONDecoder()
_SCALAR_ROOM = 64  # longer than any number or literal: past it, a failed parse is damage
_SCALAR_END = re.compile(r"[,\]} \t\n\r]")


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class _Scan:
    """Where a JSON value ends, fed piece by piece: depth, string and escape carried over."""

    __slots__ = ("deepest", "depth", "escaped", "in_string")

    def __init__(self, depth: int = 0) -> None:
        self.depth = depth
        self.deepest = depth
        self.in_string = False
        self.escaped = False

    def run(self, text: str, i: int) -> int | None:
        """The index just past the value's end in `text`, or None if it goes on."""
        n = len(text)
        while i < n:
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                    i += 1
                    continue
                i = _STRING_BODY.match(text, i).end()  # type: ignore[union-attr]
                if i >= n:
                    return None
                if text[i] == "\\":  # the text ends inside an escape
                    self.escaped = True
                    i += 1
                    continue
                self.in_string = False
                i += 1
                if self.depth == 0:
                    return i
                continue
            token = _TOKEN.search(text, i)
            if token is None:
                return None
            run = token.group()
            if run == '"':
                self.in_string = True
                i = token.end()
                continue
            closes = run.count("]") + run.count("}")
            if closes == 0:
                self.depth += len(run)
                self.deepest = max(self.deepest, self.depth)
            elif closes == len(run) and self.depth > closes:
                self.depth -= closes
            else:  # a mixed run, or one that may close the value: bracket by bracket
                for j, bracket in enumerate(run, token.start()):
                    if bracket in "[{":
                        self.depth += 1
                        self.deepest = max(self.deepest, self.depth)
                    else:
                        self.depth -= 1
                        if self.depth <= 0:
                            return j + 1
            i = token.end()
        return None


class _Text:
    """Decoded text pulled from a byte stream, with a cursor and approximate byte offsets."""

    def __init__(self, stream: ByteStream, chunk: int) -> None:
        self.stream = stream
        self.chunk = chunk
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.buf = ""
        self.pos = 0
        self.base = stream.position  # byte offset of buf[0]
        self.piece_at = stream.position  # byte offset of the last piece pulled
        self.ended = False

    def pull(self) -> str:
        """The next piece of text, "" at the end. Bad UTF-8 ends the text as damage."""
        while not self.ended:
            pending = self.decoder.getstate()[0]
            start = self.stream.position - len(pending)
            data = self.stream.read1(self.chunk)
            try:
                text = self.decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                text = (pending + data)[: exc.start].decode("utf-8")
                self.ended = True
                self.stream.damage = "not UTF-8"
                self.stream.damage_at = start + exc.start
            if not data:
                self.ended = True
            if text:
                self.piece_at = start
                return text
        return ""

    def fill(self) -> bool:
        """Appends the next piece to what is left after the cursor; False at the end."""
        text = self.pull()
        if not text:
            return False
        rest = self.buf[self.pos :]
        self.buf = rest + text
        self.pos = 0
        self.base = self.piece_at - _utf8_len(rest)
        return True

    def restart(self, piece: str, pos: int) -> None:
        """Continues in the piece just pulled, at `pos`."""
        self.buf = piece
        self.pos = pos
        self.base = self.piece_at

    def skip_blank(self) -> bool:
        """Moves the cursor to the next non-blank character; False at the end."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return True
            if not self.fill():
                return False

    def offset(self) -> int:
        return self.base + _utf8_len(self.buf[: self.pos])


class DocumentSplitter:
    """The records of a stream of JSON documents, one by one."""

    def __init__(
        self, stream: ByteStream, *, max_record: int, max_depth: int, chunk: int = CHUNK
    ) -> None:
        self.text = _Text(stream, chunk)
        self.max_record = max_record
        self.max_depth = max_depth
        self.count = 0  # records yielded (lost ones included)

    def __iter__(self) -> Iterator[Any]:
        t = self.text
        while t.skip_blank():
            first = t.buf[t.pos]
            if first == "[":
                t.pos += 1
                yield from self._array()
            elif first == "{" and self._records_first():
                yield from self._array()
                self._rest_of_object()
            elif first == "{":
                item = self._item()
                if isinstance(item, dict) and isinstance(item.get("Records"), list):
                    for record in item["Records"]:
                        self.count += 1
                        yield record
                else:
                    self.count += 1
                    yield item
            else:
                raise self._corrupt("not JSON: a document starts with neither '{' nor '['")

    def _records_first(self) -> bool:
        t = self.text
        while len(t.buf) - t.pos < 256 and t.fill():
            pass
        found = _RECORDS_FIRST.match(t.buf, t.pos)
        if found is None:
            return False
        t.pos = found.end()
        return True

    def _array(self) -> Iterator[Any]:
        t = self.text
        if not t.skip_blank():
            raise self._truncated()
        if t.buf[t.pos] == "]":
            t.pos += 1
            return
        while True:
            item = self._item()
            self.count += 1
            yield item
            if not t.skip_blank():
                raise self._truncated()
            after = t.buf[t.pos]
            t.pos += 1
            if after == "]":
                return
            if after != ",":
                raise self._corrupt("broken JSON: a record is followed by neither ',' nor ']'")
            if not t.skip_blank():
                raise self._truncated()

    def _rest_of_object(self) -> None:
        """Skips what follows the Records array in its object (other keys), to its end."""
        self._delimit(_Scan(depth=1), keep=False)

    def _item(self) -> Any:
        t = self.text
        start = t.pos
        if t.buf[start] not in '{["':
            return self._scalar()
        try:
            value, end = _DECODER.raw_decode(t.buf, start)
        except (ValueError, RecursionError):
            pass  # cut by the buffer's end, or damaged: delimit it first
        else:
            t.pos = end
            if end - start > self.max_record:
                return self._lost(t.base + _utf8_len(t.buf[:start]), OVER_CAP, self._cap())
            return value
        offset = t.offset()
        scan = _Scan()
        record = self._delimit(scan, keep=True)
        if record is None:
            return self._lost(offset, OVER_CAP, self._cap())
        if scan.deepest > self.max_depth:
            return self._lost(offset, TOO_DEEP, f"nested deeper than {self.max_depth} levels")
        try:
            return json.loads(record)
        except RecursionError:
            return self._lost(offset, TOO_DEEP, "nested too deeply to parse")
        except ValueError as exc:
            return self._lost(offset, INVALID_RECORD, f"broken JSON: {_why(exc)}")

    def _scalar(self) -> Any:
        """A number or a literal (or garbage): parsed once something ends it, so never cut."""
        t = self.text
        while (
            _SCALAR_END.search(t.buf, t.pos) is None
            and len(t.buf) - t.pos <= _SCALAR_ROOM
            and t.fill()
        ):
            pass
        try:
            value, end = _DECODER.raw_decode(t.buf, t.pos)
        except ValueError:
            raise self._corrupt("broken JSON: not a JSON value") from None
        if end == len(t.buf):  # may be cut: at the end, no ']' can follow it anyway
            raise self._truncated() if t.ended else self._corrupt("broken JSON: a number too long")
        if _SCALAR_END.match(t.buf, end) is None:  # `1.` or `12x`: not the value it starts as
            raise self._corrupt("broken JSON: not a JSON value")
        t.pos = end
        return value

    def _delimit(self, scan: _Scan, *, keep: bool) -> str | None:
        """Moves past the value at the cursor; its text when kept and not over the cap."""
        t = self.text
        end = scan.run(t.buf, t.pos)
        if end is not None:
            text = t.buf[t.pos : end]
            t.pos = end
            return text if keep and len(text) <= self.max_record else None
        parts = [t.buf[t.pos :]]
        size = len(parts[0])
        keep = keep and size <= self.max_record
        if not keep:
            parts.clear()
        while True:
            piece = t.pull()
            if not piece:
                raise self._truncated()
            end = scan.run(piece, 0)
            size += len(piece) if end is None else end
            if keep and size > self.max_record:
                keep = False
                parts.clear()  # memory stays bounded however long the record
            if end is None:
                if keep:
                    parts.append(piece)
                continue
            t.restart(piece, end)
            if not keep:
                return None
            parts.append(piece[:end])
            return "".join(parts)

    def _cap(self) -> str:
        return f"longer than {self.max_record:,} characters"

    def _lost(self, offset: int, kind: str, reason: str) -> Lost:
        return Lost(self.count + 1, "record", offset, kind, reason)

    def _truncated(self) -> CorruptInput:
        return CorruptInput(
            f"truncated JSON: the input ends inside record {self.count + 1:,}",
            self.count,
            self.text.offset(),
        )

    def _corrupt(self, reason: str) -> CorruptInput:
        return CorruptInput(reason, self.count, self.text.offset())


def json_lines(stream: ByteStream, *, max_record: int, chunk: int = CHUNK) -> Iterator[Any]:
    """The values of a JSON Lines stream; `{"Records": [...]}` lines give their records."""
    for number, offset, line, ended in _lines(stream, max_record, chunk):
        if line is None:
            yield Lost(number, "line", offset, OVER_CAP, f"longer than {max_record:,} bytes")
            continue
        try:
            value = fastjson.loads(line)
        except RecursionError:
            yield Lost(number, "line", offset, INVALID_LINE, "nested too deeply")
            continue
        except UnicodeDecodeError:
            yield Lost(number, "line", offset, INVALID_LINE, "not UTF-8")
            continue
        except ValueError as exc:
            if not line.strip():
                continue
            if number > 1 and not ended:
                raise CorruptInput(
                    f"truncated last line {number:,}: {_why(exc)}", number - 1, offset
                ) from None
            yield Lost(number, "line", offset, INVALID_LINE, f"not JSON: {_why(exc)}")
            continue
        if isinstance(value, dict) and isinstance(value.get("Records"), list):
            yield from value["Records"]
        else:
            yield value


def _lines(
    stream: ByteStream, max_line: int, chunk: int
) -> Iterator[tuple[int, int, bytes | None, bool]]:
    """Lines as they arrive, without their newline: (number, byte offset, the line or None
    when it is over `max_line`, whether a newline ended it)."""
    pending: list[bytes] = []  # the start of a line that goes on in the next chunk
    size = 0  # of the pending line
    over = False  # the pending line is over the cap: counted, not kept
    number = 0
    at = stream.position  # byte offset of the next line
    while data := stream.read1(chunk):
        lines = data.split(b"\n")
        last = lines.pop()  # after the last newline: goes on in the next chunk
        for line in lines:
            number += 1
            length = size + len(line) + 1
            if over or length > max_line:
                yield number, at, None, True
            elif pending:
                pending.append(line)
                yield number, at, b"".join(pending), True
            else:
                yield number, at, line, True
            pending.clear()
            size, over, at = 0, False, at + length
        size += len(last)
        if over or size > max_line:
            over = True
            pending.clear()  # a line over the cap is never held
        elif last:
            pending.append(last)
    if over:
        yield number + 1, at, None, False
    elif pending:
        yield number + 1, at, b"".join(pending), False


def _why(exc: ValueError) -> str:
    """A parse error without the input: the json module's fixed message and a column."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno:,}"
    return "not valid JSON"
