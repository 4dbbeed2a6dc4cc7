"""The bytes of one input as they arrive, gunzipped, with damage kept instead of raised.

Two ways to read, for two needs: `read1` returns whatever the operating system has (at
least one byte, or none at the end), so a slow pipe is parsed as it arrives; `read(n)`
waits for `n` real bytes (or the end), so format and gzip detection never decide on what
one `peek()` happened to find. A read or decompression error ends the stream and is kept
in `damage`: everything before it still parses, and the reader reports it with its place.
"""

from __future__ import annotations

import gzip
import zlib
from typing import IO

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20


class ByteStream:
    """A stream of bytes with a pushback buffer, a position and a remembered damage."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._read1 = getattr(raw, "read1", raw.read)
        self._back = b""
        self._back_at = 0
        self._ended = False
        self.position = 0  # bytes handed out so far, less those given back
        self.damage: str | None = None
        self.damage_at: int | None = None

    def read1(self, size: int = CHUNK) -> bytes:
        """Some bytes (at most `size`), waiting only for the first; b"" at the end."""
        if self._back_at < len(self._back):
            data = self._back[self._back_at : self._back_at + size]
            self._back_at += len(data)
            if self._back_at == len(self._back):
                self._back, self._back_at = b"", 0
        elif self._ended:
            return b""
        else:
            data = self._pull(size)
        self.position += len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        """Exactly `size` bytes unless the stream ends first (what `GzipFile` expects)."""
        if size is None or size < 0:
            size = 1 << 62
        pieces: list[bytes] = []
        got = 0
        while got < size:
            data = self.read1(min(size - got, CHUNK))
            if not data:
                break
            pieces.append(data)
            got += len(data)
        return b"".join(pieces)

    def unread(self, data: bytes) -> None:
        """Give bytes back: the next reads return them first."""
        if data:
            self._back = data + self._back[self._back_at :]
            self._back_at = 0
            self.position -= len(data)

    def _pull(self, size: int) -> bytes:
        try:
            data = self._read1(size)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # before OSError: a subclass
            data = b""
            self._damaged(_gzip_reason(exc))
        except OSError as exc:
            data = b""
            self._damaged(f"cannot read: {exc.strerror or type(exc).__name__}")
        if not data:
            self._ended = True
        return data

    def _damaged(self, reason: str) -> None:
        self.damage = reason
        self.damage_at = self.position


def unzipped(stream: ByteStream) -> ByteStream:
    """The stream itself, or its decompressed content when it starts as gzip does."""
    magic = stream.read(2)
    stream.unread(magic)
    if magic != GZIP_MAGIC:
        return stream
    return ByteStream(gzip.GzipFile(fileobj=stream, mode="rb"))  # type: ignore[call-overload]


def _gzip_reason(exc: BaseException) -> str:
    # Fixed words only: some gzip messages quote the bytes they found.
    if isinstance(exc, EOFError):
        return "truncated gzip: the compressed data ends early"
    message = str(exc)
    if message.startswith("Not a gzipped file"):
        return "corrupt gzip: bytes after a member are not gzip"
    if message.startswith("CRC check failed"):
        return "corrupt gzip: CRC check failed"
    if message.startswith("Incorrect length"):
        return "corrupt gzip: wrong length"
    return "corrupt gzip: cannot decompress"
