"""A benchmark figure, its reference measured in the same run, and the goal."""

from __future__ import annotations

import contextlib
import platform
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

Goal = Literal["ratio>=", "value<=", "value>=", "none"]


@dataclass(frozen=True, kw_only=True)
class Result:
    name: str
    value: float
    unit: str
    reference: str | None = None
    reference_value: float | None = None
    goal: str | None = None  # e.g. "ratio >= 0.5", "value <= 20"
    notes: str = ""
    # CPU utilisation: CPU seconds (this process and its waited-for children) per wall
    # second while the figure was measured, so 2.0 is both cores of a two-core machine.
    cpu: float | None = None
    reference_cpu: float | None = None

    @property
    def ratio(self) -> float | None:
        if not self.reference_value:
            return None
        return self.value / self.reference_value

    @property
    def met(self) -> bool | None:
        if not self.goal:
            return None
        subject, op, bound = self.goal.split()
        actual = self.ratio if subject == "ratio" else self.value
        if actual is None:
            return None
        limit = float(bound)
        return actual >= limit if op == ">=" else actual <= limit

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = asdict(self)
        out["ratio"] = None if self.ratio is None else round(self.ratio, 4)
        out["met"] = self.met
        return out


class CpuMeter:
    """Wall time and CPU time (this process and the children it waited for) of a span.

    >>> with CpuMeter() as meter:   # doctest: +SKIP
    ...     work()
    >>> meter.seconds, meter.utilisation
    """

    def __enter__(self) -> CpuMeter:
        self._wall = time.perf_counter()
        self._cpu = _cpu_seconds()
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu_seconds = _cpu_seconds() - self._cpu

    @property
    def utilisation(self) -> float:
        return self.cpu_seconds / self.seconds if self.seconds > 0 else 0.0


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def machine() -> str:
    """The machine a figure was measured on, in one line."""
    import os

    import duckdb

    model, mem_gib = "", 0.0
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1024 / 1024
    return (
        f"{os.cpu_count()} CPUs ({model or platform.machine()}), {mem_gib:.0f} GiB, "
        f"{platform.system()}, Python {platform.python_version()}, DuckDB {duckdb.__version__}"
    )


def table(results: list[Result]) -> str:
    rows = [("benchmark", "value", "reference", "ratio", "goal", "met")]
    for r in results:
        ref = "-" if r.reference is None else f"{r.reference} = {r.reference_value:,.1f}"
        rows.append(
            (
                r.name,
                f"{r.value:,.1f} {r.unit}",
                ref,
                "-" if r.ratio is None else f"{r.ratio:.2f}",
                r.goal or "-",
                {True: "yes", False: "NO", None: "-"}[r.met],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )
