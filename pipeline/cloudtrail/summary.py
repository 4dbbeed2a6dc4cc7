"""What an import read, emitted and skipped, and why (and where, for damage)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pipeline.cloudtrail.damage import CorruptInput, Lost

LOST_LISTED = 1000  # damaged records listed one by one; all of them are counted


@dataclass
class ImportSummary:
    """Counts of one import; every record read is either mapped or skipped with a reason."""

    files_read: int = 0
    records_read: int = 0
    records_mapped: int = 0
    events_emitted: Counter[str] = field(default_factory=Counter)
    inferred_sessions: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    not_role_related: Counter[str] = field(default_factory=Counter)
    # (file, reason): the reason says where the damage starts; the place is also kept
    # as (records before it, approximate byte offset), one entry per corrupt file.
    corrupt_files: list[tuple[str, str]] = field(default_factory=list)
    corrupt_places: list[tuple[int, int | None]] = field(default_factory=list)
    lost: list[tuple[str, Lost]] = field(default_factory=list)  # the first LOST_LISTED
    records_lost: int = 0
    skipped_inputs: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    seconds: float = 0.0
    # CPU time of worker processes (`--jobs`), which the importing process cannot see in
    # its own figures (they are the fork server's children, not its own).
    worker_cpu_seconds: float = 0.0

    def add_lost(self, file: str, lost: Lost) -> None:
        self.records_lost += 1
        if len(self.lost) < LOST_LISTED:
            self.lost.append((file, lost))

    def add_corrupt(self, file: str, exc: CorruptInput) -> None:
        self.corrupt_files.append((file, exc.located()))
        self.corrupt_places.append((exc.records_before, exc.byte))

    @property
    def records_skipped(self) -> int:
        return sum(self.skipped.values())

    @property
    def events_total(self) -> int:
        return sum(self.events_emitted.values())

    @property
    def rate(self) -> float:
        return self.records_read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        places = self.corrupt_places
        corrupt = [
            {"file": f, "reason": r, "records_before": n, "byte": b}
            for i, (f, r) in enumerate(self.corrupt_files)
            for n, b in [places[i] if i < len(places) else (None, None)]
        ]
        return {
            "files_read": self.files_read,
            "records_read": self.records_read,
            "records_mapped": self.records_mapped,
            "records_skipped": self.records_skipped,
            "events_emitted": self.events_total,
            "events_by_type": dict(sorted(self.events_emitted.items())),
            "inferred_sessions": self.inferred_sessions,
            "skipped_by_reason": dict(self.skipped.most_common()),
            "not_role_related_by_event": dict(self.not_role_related.most_common()),
            "corrupt_files": corrupt,
            "records_lost": self.records_lost,
            "lost_records": [
                {"file": f, x.unit: x.index, "byte": x.byte, "kind": x.kind, "reason": x.reason}
                for f, x in self.lost
            ],
            "skipped_inputs": [{"path": p, "reason": r} for p, r in self.skipped_inputs],
            "seconds": round(self.seconds, 3),
            "records_per_second": round(self.rate, 1),
        }
