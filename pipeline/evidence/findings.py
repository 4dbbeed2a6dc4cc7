"""What verification found: the first position where the store and its evidence disagree."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Finding:
    """One disagreement, located as precisely as the evidence allows."""

    what: str
    log_name: str | None = None
    partition: int | None = None
    offset: int | None = None
    event_id: str | None = None
    table: str | None = None

    def line(self) -> str:
        where = []
        if self.table is not None:
            where.append(f"table {self.table}")
        if self.log_name is not None:
            where.append(f"log {self.log_name}")
        if self.partition is not None:
            where.append(f"partition {self.partition}")
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        if self.event_id is not None:
            where.append(f"event {self.event_id!r}")
        return f"{', '.join(where) or 'store'}: {self.what}"

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.log_name or "", self.partition or 0, self.offset or 0, self.table or "")


@dataclass(frozen=True)
class Verdict:
    """The outcome of `verify`: intact, or the findings (first one first)."""

    events: int
    partitions: int
    deep: bool
    against: bool
    findings: list[Finding] = field(default_factory=list)
    log_checked: bool = False

    @property
    def intact(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    def summary(self) -> str:
        checks = (
            "chain, bookkeeping"
            + (", facts" if self.deep else "")
            + (", digest" if self.against else "")
            + (", log" if self.log_checked else "")
        )
        if self.first is None:
            return (
                f"intact: {self.events:,} events in {self.partitions} partitions ({checks} checked)"
            )
        more = len(self.findings) - 1
        return f"tampered: {self.first.line()}" + (f" (and {more} more)" if more else "")

    def as_json(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "events": self.events,
            "partitions": self.partitions,
            "deep": self.deep,
            "against": self.against,
            "log_checked": self.log_checked,
            "findings": [asdict(f) for f in self.findings],
        }
