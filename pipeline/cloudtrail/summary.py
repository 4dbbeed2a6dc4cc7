"""What an import read, emitted and skipped, and why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


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
    corrupt_files: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

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
            "corrupt_files": [{"file": f, "reason": r} for f, r in self.corrupt_files],
            "seconds": round(self.seconds, 3),
            "records_per_second": round(self.rate, 1),
        }
