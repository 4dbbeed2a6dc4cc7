"""Encoded messages packed for appending: each one's partition, key length and bytes.

A parallel import's workers encode; one process appends, on the same cores. Handed over
as (key, value, event type) tuples, every message cost that process a tuple and two byte
strings to unpickle, a checksum of its key for its partition and a pass of Python to count
it: a quarter of the import's rate on two cores (BENCHMARKS.md). Packed by the worker,
a message is one byte string (its key and value joined) beside two integer arrays, which
pickle as plain bytes, and the appending process only frames it.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

# (partition key, encoded value, event type), as `EventLog.append_encoded` takes them.
Encoded = tuple[bytes | None, bytes, str]


@dataclass(slots=True)
class PackedMessages:
    """Messages in order: message i is `payloads[i]`, its key the first `key_lengths[i]`
    bytes and its value the rest, of type `types[i]`, for partition `parts[i]` of a log
    with `partitions` partitions (`pipeline.log.filelog.partition_for`)."""

    partitions: int
    parts: array[int]
    key_lengths: array[int]
    payloads: list[bytes]
    types: list[str]

    def __len__(self) -> int:
        return len(self.payloads)

    def messages(self) -> list[Encoded]:
        """The (key, value, event type) tuples, for a log that takes nothing else."""
        return [
            (payload[:n], payload[n:], event_type)
            for n, payload, event_type in zip(
                self.key_lengths, self.payloads, self.types, strict=True
            )
        ]

    def extend(self, other: PackedMessages) -> None:
        """`other`'s messages after these (packed for the same partition count)."""
        if other.partitions != self.partitions:
            raise ValueError(f"packed for {other.partitions} partitions, not {self.partitions}")
        self.parts.extend(other.parts)
        self.key_lengths.extend(other.key_lengths)
        self.payloads.extend(other.payloads)
        self.types.extend(other.types)

    def without(self, spans: Sequence[tuple[int, int]]) -> PackedMessages:
        """These messages but those of the `[start, end)` spans (in order, disjoint)."""
        out = empty(self.partitions)
        start = 0
        for begin, end in (*spans, (len(self), len(self))):
            out.parts.extend(self.parts[start:begin])
            out.key_lengths.extend(self.key_lengths[start:begin])
            out.payloads.extend(self.payloads[start:begin])
            out.types.extend(self.types[start:begin])
            start = end
        return out


def empty(partitions: int) -> PackedMessages:
    return PackedMessages(partitions, array("I"), array("I"), [], [])


def pack(messages: Sequence[Encoded], partitions: int) -> PackedMessages:
    """`messages` packed for a log of `partitions` partitions (a missing key is empty)."""
    keys = [key or b"" for key, _, _ in messages]
    crc32 = zlib.crc32
    return PackedMessages(
        partitions,
        array("I", [crc32(key) % partitions for key in keys]),  # filelog.partition_for
        array("I", map(len, keys)),
        [key + value for key, (_, value, _) in zip(keys, messages, strict=True)],
        [event_type for _, _, event_type in messages],
    )
