"""The properties each finding rule looks for, checked on the simulator's own events.

Deliberately independent of `pipeline.findings`: these say what the simulator stages (and
what a normal week must not contain) in the simulator's terms, so that the two sides
can be checked against each other.
"""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.events import (
    AccessOutcome,
    AccessRecorded,
    AssumeVia,
    CredentialIssued,
    Event,
    PolicyChanged,
    PolicyChangeType,
    RoleAssumed,
    RoleExited,
    SessionsRevoked,
)
from pipeline.simulator import org

WORKSTATIONS = ("Darwin", "Windows", "Macintosh")
MINUTE = timedelta(minutes=1)


@dataclass
class Session:
    assumed: RoleAssumed
    keys: list[str]
    end: datetime
    depth: int = 1


def sessions(events: list[Event]) -> dict[str, Session]:
    """Every session by id, with its end (expiry, exit or revocation) and chain depth."""
    out: dict[str, Session] = {}
    by_key: dict[str, str] = {}
    for e in events:
        if isinstance(e, RoleAssumed):
            out[e.session_id] = Session(e, [], e.event_time + timedelta(hours=12))
        elif isinstance(e, CredentialIssued):
            s = out[e.session_id]
            s.keys.append(e.access_key_id)
            s.end = e.expires_at or s.end
            by_key[e.access_key_id] = e.session_id
    for s in out.values():
        caller = by_key.get(s.assumed.caller_access_key_id or "")
        s.depth = out[caller].depth + 1 if caller else 1
    for e in events:
        if isinstance(e, RoleExited) and e.lifecycle_key:
            for s in out.values():
                if (
                    s.assumed.lifecycle_key == e.lifecycle_key
                    and s.assumed.event_time <= e.event_time < s.end
                ):
                    s.end = e.event_time
        elif isinstance(e, SessionsRevoked):
            for s in out.values():
                if s.assumed.role_arn == e.role_arn and s.assumed.event_time < e.issued_before:
                    s.end = min(s.end, e.issued_before)
    return out


def calls(events: Iterable[Event]) -> list[AccessRecorded]:
    return [e for e in events if isinstance(e, AccessRecorded)]


# Addresses that stay inside a network (RFC 1918, loopback, link-local): not "elsewhere".
# The simulator's public addresses are documentation ranges (RFC 5737, RFC 3849), which
# Python's `is_private` also counts as private, hence this explicit list.
_INTERNAL = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16")
)


def network(ip: str) -> str | None:
    """A public address's network (/24, or /48 for IPv6); None for an internal one or a
    service name such as ec2.amazonaws.com."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if any(address in n for n in _INTERNAL if n.version == address.version):
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _windows(items: list[AccessRecorded], span: timedelta) -> Iterable[list[AccessRecorded]]:
    items = sorted(items, key=lambda c: c.event_time)
    for i, first in enumerate(items):
        yield [c for c in items[i:] if c.event_time - first.event_time <= span]


# -- one predicate per rule: the event ids of each case found ---------------------------


def instance_credentials_elsewhere(events: list[Event]) -> list[set[str]]:
    ss = sessions(events)
    instance_keys = {
        k: s.assumed.session_name
        for s in ss.values()
        if s.assumed.via is AssumeVia.AWS_SERVICE
        for k in s.keys
    }
    own: dict[str | None, set[str | None]] = defaultdict(set)
    for c in calls(events):
        if c.access_key_id in instance_keys and network(c.source_ip or "") is None:
            own[instance_keys[c.access_key_id]].add(c.source_ip)
    out: dict[str, set[str]] = defaultdict(set)
    for c in calls(events):
        instance = instance_keys.get(c.access_key_id or "")
        if instance is None:
            continue
        elsewhere = c.source_ip not in own[instance]
        workstation = any(w in (c.user_agent or "") for w in WORKSTATIONS)
        if elsewhere or workstation:
            out[c.access_key_id or ""].add(c.event_id)
    return list(out.values())


def used_after_end(events: list[Event]) -> list[set[str]]:
    ss = sessions(events)
    by_key = {k: s for s in ss.values() for k in s.keys}
    out: dict[str, set[str]] = defaultdict(set)
    for c in calls(events):
        s = by_key.get(c.access_key_id or "")
        if s is not None and c.event_time >= s.end:
            out[s.assumed.session_id].add(c.event_id)
    return list(out.values())


def key_many_networks(events: list[Event], *, at_least: int = 3) -> list[set[str]]:
    by_key: dict[str, list[AccessRecorded]] = defaultdict(list)
    for c in calls(events):
        if c.access_key_id and c.access_key_id.startswith("ASIA") and network(c.source_ip or ""):
            by_key[c.access_key_id].append(c)
    out = []
    for used in by_key.values():
        for window in _windows(used, 10 * MINUTE):
            if len({network(c.source_ip or "") for c in window}) >= at_least:
                out.append({c.event_id for c in used})
                break
    return out


def denied_burst(events: list[Event], *, at_least: int = 30) -> list[set[str]]:
    by_principal: dict[str, list[AccessRecorded]] = defaultdict(list)
    for c in calls(events):
        if c.outcome is AccessOutcome.DENIED:
            by_principal[c.principal_arn or ""].append(c)
    out = []
    for denied in by_principal.values():
        for window in _windows(denied, MINUTE):
            if len(window) >= at_least:
                out.append({c.event_id for c in denied})
                break
    return out


def role_enumeration(events: list[Event], *, roles: int = 3) -> list[set[str]]:
    by_principal: dict[str, list[AccessRecorded]] = defaultdict(list)
    for c in calls(events):
        if c.outcome is AccessOutcome.DENIED and c.action.startswith("sts:AssumeRole"):
            by_principal[c.principal_arn or ""].append(c)
    return [
        {c.event_id for c in tries}
        for tries in by_principal.values()
        if len({r for c in tries for r in c.resources}) >= roles
    ]


def root_used(events: list[Event]) -> list[set[str]]:
    found = {
        e.event_id
        for e in events
        if (
            isinstance(e, RoleAssumed)
            and (e.caller_type == "Root" or (e.caller_arn or "").endswith(":root"))
        )
        or (isinstance(e, AccessRecorded) and (e.principal_arn or "").endswith(":root"))
    }
    return [found] if found else []


def console_without_mfa(events: list[Event]) -> list[set[str]]:
    return [
        {e.event_id}
        for e in events
        if isinstance(e, RoleAssumed)
        and e.via is AssumeVia.CONSOLE_SIGN_IN
        and e.mfa_authenticated is not True
    ]


def _administers_iam(managed: set[str], inline: dict[str, str]) -> bool:
    if org.ADMIN in managed:
        return True
    actions: set[str] = set()
    for doc in inline.values():
        statements = json.loads(doc)["Statement"]
        for st in statements if isinstance(statements, list) else [statements]:
            if st.get("Effect") == "Allow":
                a = st.get("Action", [])
                actions |= {a} if isinstance(a, str) else set(a)
    if actions & {"*", "iam:*"}:
        return True
    return "iam:PassRole" in actions and bool(actions & {"iam:CreateRole", "iam:AttachRolePolicy"})


def machine_iam_admin(events: list[Event]) -> list[set[str]]:
    """Sessions able to administer IAM at their start, from a machine or 3+ hops down."""
    managed: dict[str, set[str]] = defaultdict(set)
    inline: dict[str, dict[str, str]] = defaultdict(dict)
    ss = sessions(events)
    by_key = {k: s for s in ss.values() for k in s.keys}
    out = []
    for e in sorted(events, key=lambda e: (e.event_time, e.event_id)):
        if isinstance(e, PolicyChanged):
            if e.change_type is PolicyChangeType.ATTACH_MANAGED_POLICY and e.policy_arn:
                managed[e.target_arn].add(e.policy_arn)
            elif e.change_type is PolicyChangeType.DETACH_MANAGED_POLICY and e.policy_arn:
                managed[e.target_arn].discard(e.policy_arn)
            elif e.change_type is PolicyChangeType.PUT_INLINE_POLICY and e.policy_name:
                inline[e.target_arn][e.policy_name] = e.policy_document or "{}"
        elif isinstance(e, RoleAssumed) and e.role_arn:
            if not _administers_iam(managed[e.role_arn], inline[e.role_arn]):
                continue
            s, origin = ss[e.session_id], e
            while origin.caller_access_key_id in by_key:
                origin = by_key[origin.caller_access_key_id or ""].assumed
            machine = origin.via in (AssumeVia.WEB_IDENTITY, AssumeVia.AWS_SERVICE)
            if machine or s.depth >= 3:
                out.append({e.event_id})
    return out


RULE_CASES: dict[str, Callable[[list[Event]], list[set[str]]]] = {
    "instance-credentials-elsewhere": instance_credentials_elsewhere,
    "used-after-end": used_after_end,
    "key-many-networks": key_many_networks,
    "denied-burst": denied_burst,
    "role-enumeration": role_enumeration,
    "root-used": root_used,
    "console-without-mfa": console_without_mfa,
    "machine-iam-admin": machine_iam_admin,
}
