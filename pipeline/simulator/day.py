"""Builds one simulated day's events: sessions, their keys and calls, ids and keys drawn
from one source (the normal story's, or the staged incidents' own)."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pipeline.events import (
    AccessOutcome,
    AccessRecorded,
    AssumeVia,
    CredentialIssued,
    Event,
    EventSource,
    RoleAssumed,
    SessionsRevoked,
)
from pipeline.simulator import org
from pipeline.simulator.org import Role


@dataclass
class Session:
    session_id: str
    key: str
    arn: str
    role: Role
    start: datetime
    end: datetime


class Ids(Protocol):
    """Where a day's builder draws its randomness, event ids and access keys."""

    rng: random.Random

    def next_id(self) -> str: ...

    def new_key(self) -> str: ...


class IdSource:
    """Ids and keys of their own, so that staged incidents leave the normal story as is."""

    def __init__(self, rng: random.Random, prefix: str) -> None:
        self.rng = rng
        self._prefix = prefix
        self._n = 0

    def next_id(self) -> str:
        self._n += 1
        return f"{self._prefix}{self._n:010d}"

    def new_key(self) -> str:
        return new_key(self.rng)


def new_key(rng: random.Random) -> str:
    alphabet = string.ascii_uppercase + "234567"
    return "ASIA" + "".join(rng.choice(alphabet) for _ in range(16))


class Day:
    """Builds one simulated day's events with ids and keys drawn from one RNG."""

    def __init__(self, sim: Ids, day: datetime) -> None:
        self.sim = sim
        self.rng = sim.rng
        self.day = day
        self.events: list[Event] = []
        self.sessions_by_key: dict[str, Session] = {}

    def at(self, hour: float, jitter_minutes: int = 0) -> datetime:
        minutes = self.rng.randint(0, jitter_minutes) if jitter_minutes else 0
        return self.day + timedelta(hours=hour, minutes=minutes, seconds=self.rng.randint(0, 59))

    def envelope(self, when: datetime, account: str) -> dict[str, object]:
        return {
            "event_id": self.sim.next_id(),
            "event_time": when,
            "account_id": account,
            "source": EventSource.SIMULATOR,
        }

    def assume(
        self,
        *,
        role: Role,
        session_name: str,
        via: AssumeVia,
        when: datetime,
        seconds: int,
        caller_arn: str,
        caller_type: str,
        caller: Session | None = None,
        source_identity: str | None = None,
        tags: dict[str, str] | None = None,
        transitive: list[str] | None = None,
        session_policy: str | None = None,
        mfa: bool | None = None,
        source_ip: str | None = None,
        user_agent: str | None = None,
        lifecycle_key: str | None = None,
    ) -> Session:
        key = self.sim.new_key()
        session_id = f"{lifecycle_key}@{when.isoformat()}" if lifecycle_key else key
        arn = org.session_arn(role.account, role.name, session_name)
        self.events.append(
            RoleAssumed(
                **self.envelope(when, role.account),
                session_id=session_id,
                role_arn=role.arn,
                session_name=session_name,
                session_arn=arn,
                via=via,
                caller_arn=caller_arn,
                caller_type=caller_type,
                caller_access_key_id=caller.key if caller else None,
                source_identity=source_identity,
                session_tags=tags or {},
                transitive_tag_keys=transitive or [],
                session_policy=session_policy,
                mfa_authenticated=mfa,
                source_ip=source_ip,
                user_agent=user_agent,
                requested_duration_seconds=seconds,
                lifecycle_key=lifecycle_key,
            )
        )
        end = when + timedelta(seconds=seconds)
        self.events.append(
            CredentialIssued(
                **self.envelope(when, role.account),
                session_id=session_id,
                access_key_id=key,
                issued_at=when,
                expires_at=end,
            )
        )
        session = Session(session_id, key, arn, role, when, end)
        self.sessions_by_key[key] = session
        return session

    def deny_revoked_calls(self) -> None:
        """Calls of revoked sessions after their revocation are denied, as AWS does.

        "Revoke active sessions" adds an explicit deny on `aws:TokenIssueTime`, so from
        that moment every call of a session issued before it fails (IAM_REFERENCE.md 4.4).
        """
        revocations = [e for e in self.events if isinstance(e, SessionsRevoked)]
        if not revocations:
            return
        for i, e in enumerate(self.events):
            if not isinstance(e, AccessRecorded) or e.outcome is AccessOutcome.DENIED:
                continue
            s = self.sessions_by_key.get(e.access_key_id or "")
            if s is None:
                continue
            for r in revocations:
                if r.role_arn == s.role.arn and s.start < r.issued_before <= e.event_time:
                    self.events[i] = e.model_copy(
                        update={"outcome": AccessOutcome.DENIED, "error_code": "AccessDenied"}
                    )
                    break

    def chain(
        self,
        caller: Session,
        role: Role,
        person: str,
        when: datetime,
        seconds: int,
        source_ip: str,
        *,
        tags: dict[str, str] | None = None,
        mfa: bool | None = None,
    ) -> Session:
        """A CLI AssumeRole made with another session's key (role chaining)."""
        return self.assume(
            role=role,
            session_name=person,
            via=AssumeVia.ASSUME_ROLE,
            when=when,
            seconds=seconds,
            caller_arn=caller.arn,
            caller_type="AssumedRole",
            caller=caller,
            source_identity=person,
            tags=tags,
            source_ip=source_ip,
            user_agent="aws-cli/2.15.0",
            mfa=mfa,
        )

    def act(
        self,
        s: Session,
        count: int,
        actions: tuple[tuple[str, str], ...],
        source_ip: str,
        *,
        until: datetime | None = None,
    ) -> None:
        last = until or s.end
        span = max(1, int((last - s.start).total_seconds()) - 1)
        for _ in range(count):
            action, resource = self.rng.choice(actions)
            when = s.start + timedelta(seconds=self.rng.randint(1, span))
            self.events.append(
                AccessRecorded(
                    **self.envelope(when, s.role.account),
                    access_key_id=s.key,
                    # A console session's calls name it: they then share its partition.
                    session_id=s.session_id if s.session_id != s.key else None,
                    principal_arn=s.arn,
                    action=action,
                    resources=[resource],
                    outcome=AccessOutcome.ALLOWED,
                    source_ip=source_ip,
                    region="us-east-1",
                    user_agent="aws-cli/2.15.0",
                )
            )
