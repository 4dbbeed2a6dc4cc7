"""Shared by the findings tests: CloudTrail records read raw, and findings read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.findings import Finding
from pipeline.queries import Queries


def records(*paths: Path) -> list[dict[str, Any]]:
    """Every CloudTrail record of `paths` (files, or folders of them), as read by hand."""
    out: list[dict[str, Any]] = []
    for path in paths:
        for file in sorted(path.rglob("*.json*")) if path.is_dir() else [path]:
            text = file.read_text()
            try:
                data = json.loads(text)
                out += data["Records"] if isinstance(data, dict) else data
            except json.JSONDecodeError:
                out += [json.loads(line) for line in text.splitlines() if line.strip()]
    return out


def ct_ids(recs: list[dict[str, Any]]) -> set[str]:
    return {f"ct:{r['eventID']}" for r in recs}


def all_findings(db: Path) -> list[Finding]:
    with Queries.open(db) as q:
        return q.findings()


def of_rule(found: list[Finding], rule: str) -> list[Finding]:
    return [f for f in found if f.rule == rule]
