"""How reading an input goes wrong: one record lost, or the rest of a file.

Reasons are built from fixed words and numbers only: never from the input's bytes, which
may hold session tokens or secret keys.
"""

from __future__ import annotations

from dataclasses import dataclass

# The kinds of lost records, as counted in the summary's `skipped_by_reason`.
INVALID_LINE = "invalid JSON line"
INVALID_RECORD = "invalid JSON record"
TOO_DEEP = "too deeply nested"
OVER_CAP = "record over the size cap"


class CorruptInput(Exception):
    """An input could not be read to its end (truncated gzip, broken JSON...).

    Raised after every record before the damage was yielded. `records_before` counts
    them; `byte` is about where the damage starts, in the (decompressed) JSON text.
    """

    def __init__(self, reason: str, records_before: int = 0, byte: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.records_before = records_before
        self.byte = byte

    def located(self) -> str:
        """The reason with where the damage is, for one line of a report."""
        where = f"after record {self.records_before:,}"
        if self.byte is not None:
            where += f", near byte {self.byte:,}"
        return f"{self.reason} ({where})"


@dataclass(frozen=True, slots=True)
class Lost:
    """One record that could not be read: skipped, counted with its kind, listed with where."""

    index: int  # 1-based: the record's place in its file, or its line in JSON Lines
    unit: str  # "record" or "line"
    byte: int | None
    kind: str  # one of the kinds above
    reason: str
