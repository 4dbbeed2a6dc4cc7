"""bench/results.json as the Markdown table of BENCHMARKS.md.

python -m bench.report [bench/results.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.suite import RESULTS


def _num(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) >= 1 else f"{value:.3g}"


def markdown(entries: list[dict[str, Any]]) -> str:
    lines = [
        "| benchmark | value | reference | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for e in entries:
        ref = (
            ""
            if e.get("reference") is None or e.get("reference_value") is None
            else f"{e['reference']}: {_num(e['reference_value'])}"
        )
        ratio = "" if e.get("ratio") is None else f"{e['ratio']:.3g}"
        met = {True: "yes", False: "**no**", None: ""}[e.get("met")]
        lines.append(
            f"| {e['name']} | {_num(e['value'])} {e['unit']} | {ref} | {ratio} "
            f"| {e.get('goal') or ''} | {met} |"
        )
    machines = sorted({str(e.get("machine")) for e in entries if e.get("machine")})
    stamps = sorted(str(e.get("measured_at")) for e in entries if e.get("measured_at"))
    if machines:
        lines += ["", "Machine: " + "; ".join(machines) + "."]
    if stamps:
        lines.append(f"Measured {stamps[0]} to {stamps[-1]}.")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv else RESULTS
    print(markdown(json.loads(path.read_text())))


if __name__ == "__main__":
    main(sys.argv[1:])
