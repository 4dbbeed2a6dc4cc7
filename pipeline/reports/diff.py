"""What differs between two reports of one period and privilege: sessions added (learned
since), removed, and sessions whose end, origin or calls changed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline.reports.model import Report, ReportSession

# The fields whose change is worth saying, in the order they are said.
_COMPARED = (
    "ends_at",
    "ends_at_estimated",
    "end_reason",
    "started_at",
    "started_at_estimated",
    "origin_label",
    "principal_label",
    "role_arn",
    "via",
    "mfa_authenticated",
    "source_ips",
    "actions",
    "denied_actions",
    "privilege",
)


class Change(BaseModel):
    model_config = ConfigDict(frozen=True)

    session_id: str
    field: str
    before: Any
    after: Any


class ReportDiff(BaseModel):
    """`before` and `after` name what was compared (two moments, or a report and now)."""

    model_config = ConfigDict(frozen=True)

    before: str
    after: str
    added: list[ReportSession]
    removed: list[ReportSession]
    changed: list[Change]

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed)

    @property
    def ended_differently(self) -> list[str]:
        return sorted({c.session_id for c in self.changed if c.field.startswith("end")})

    def lines(self) -> list[str]:
        """The differences in words, one per line."""
        out = [f"+ {_said(s)}" for s in self.added]
        out += [f"- {_said(s)}" for s in self.removed]
        for c in self.changed:
            out.append(f"~ {c.session_id}: {c.field} {_value(c.before)} -> {_value(c.after)}")
        return out

    def as_json(self) -> dict[str, Any]:
        doc = self.model_dump(mode="json")
        doc["ended_differently"] = self.ended_differently
        doc["same"] = self.same
        return doc


def _value(v: Any) -> str:
    if v is None:
        return "unknown"
    if isinstance(v, list):
        return ", ".join(str(x) for x in v) or "none"
    if hasattr(v, "isoformat"):
        return str(v.isoformat().replace("+00:00", "Z"))
    return str(v)


def _said(s: ReportSession) -> str:
    return (
        f"{s.session_id} {s.role_arn or 'unknown role'} for {s.origin_label}, "
        f"{_value(s.started_at)} -> {_value(s.ends_at)}"
        + (" (estimated)" if s.ends_at_estimated else "")
    )


def diff_reports(before: Report, after: Report, *, names: tuple[str, str]) -> ReportDiff:
    old = {s.session_id: s for s in before.sessions}
    new = {s.session_id: s for s in after.sessions}
    changed = []
    for sid in sorted(old.keys() & new.keys()):
        a, b = old[sid], new[sid]
        for name in _COMPARED:
            va, vb = getattr(a, name), getattr(b, name)
            if va != vb:
                changed.append(Change(session_id=sid, field=name, before=va, after=vb))
    return ReportDiff(
        before=names[0],
        after=names[1],
        added=[new[s] for s in sorted(new.keys() - old.keys())],
        removed=[old[s] for s in sorted(old.keys() - new.keys())],
        changed=changed,
    )
