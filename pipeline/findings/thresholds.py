"""Every threshold of the findings rules, with its documented default (README "Findings").

One frozen object: the projection takes it, so a store can be derived with other values;
`Thresholds.from_env()` reads `ROLECALL_FINDINGS_<NAME>` overrides (seconds for windows).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import Any

from pipeline.errors import InputError

# User agents of a workstation's tools: an instance's own calls do not come from a Mac or
# a Windows desktop (substrings, case-insensitive).
WORKSTATION_AGENTS = ("darwin/", "macos", "mac os x", "mac_os_x", "macintosh", "windows")


@dataclass(frozen=True)
class Thresholds:
    """The findings rules' thresholds (see README "Findings" for what each bounds)."""

    # instance-credentials-elsewhere: the instance's own networks (its other sessions'
    # calls) and other identities' networks are looked for this far either side of a call.
    elsewhere_window: timedelta = timedelta(hours=24)
    workstation_agents: tuple[str, ...] = WORKSTATION_AGENTS
    # key-many-networks: this many distinct networks (IPv4 /24, IPv6 /64) ...
    networks_min: int = 2
    # ... within this window, for one temporary key.
    networks_window: timedelta = timedelta(minutes=10)
    # denied-burst: this many denied calls from one session or principal ...
    denied_burst_min: int = 20
    # ... within this window.
    denied_burst_window: timedelta = timedelta(seconds=60)
    # role-enumeration: denied AssumeRole* on this many distinct roles by one principal ...
    enumeration_min_roles: int = 3
    # ... within this window.
    enumeration_window: timedelta = timedelta(minutes=10)
    # At most this many event ids kept as a finding's evidence (the earliest ones); the
    # summary says how many calls there were in all.
    max_evidence: int = 100

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Thresholds:
        """Defaults, overridden by `ROLECALL_FINDINGS_<FIELD>` (windows in seconds)."""
        env = dict(os.environ if environ is None else environ)
        out = cls()
        for f in fields(cls):
            raw = env.get(f"ROLECALL_FINDINGS_{f.name.upper()}")
            if raw is None or f.name == "workstation_agents":
                continue
            try:
                number = int(raw)
            except ValueError:
                raise InputError(
                    f"ROLECALL_FINDINGS_{f.name.upper()}={raw!r}: expected a whole number"
                ) from None
            if number < 1:
                raise InputError(f"ROLECALL_FINDINGS_{f.name.upper()}={raw!r}: must be >= 1")
            value: Any = timedelta(seconds=number) if f.name.endswith("window") else number
            out = replace(out, **{f.name: value})
        return out


DEFAULT_THRESHOLDS = Thresholds()
