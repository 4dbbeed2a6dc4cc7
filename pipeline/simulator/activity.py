"""A deterministic generator of an organization's role activity, as events.

People sign in through a SAML identity provider and chain into workload roles across
accounts; IAM users switch roles in the console and switch back; CI jobs arrive through
web identity; EC2 instances refresh their role's credentials every hour. The story
includes a denied assume attempt and a mid-week grant and removal of admin rights.

With `SimulationConfig.incidents` (on by default) it also stages one case of each finding
rule (`pipeline.simulator.incidents`): a leaked instance key used from a laptop followed by
"revoke active sessions", a console session reused after its exit, a key used from
several networks, a denied burst, role enumeration, root use, a console sign-in without
MFA, and a CI role able to administer IAM reaching an admin role three hops down. Each is
recorded in `Simulation.incidents`, the simulator's ground truth. Without them, a normal
week holds none of those cases.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.events import (
    AccessOutcome,
    AccessRecorded,
    AssumeVia,
    Event,
    ExitReason,
    PolicyChanged,
    PolicyChangeType,
    PolicyTargetType,
    RoleAssumed,
    RoleExited,
    SessionsRevoked,
)
from pipeline.simulator import incidents as staged
from pipeline.simulator import org
from pipeline.simulator.day import Day, IdSource, Session, new_key
from pipeline.simulator.incidents import Incident

EVENTS_PER_DAY_AT_SCALE_1 = 640  # measured on the default organization, for --events sizing
LEAK_IP = "203.0.113.50"  # TEST-NET-3: documentation addresses, never a real host
INSTANCE_IP = "10.0.1.25"  # the instances' own address (private: they call from the VPC)


@dataclass(frozen=True, kw_only=True)
class SimulationConfig:
    start: datetime
    days: int = 3
    seed: int = 7
    scale: int = 1
    events: int | None = None  # stop after this many (and size the org to reach it)
    # Stage one case of each finding rule (see the module docstring); off: a normal week.
    incidents: bool = True

    def effective_scale(self) -> int:
        if self.events is None:
            return self.scale
        per_run = EVENTS_PER_DAY_AT_SCALE_1 * max(1, self.days)
        return max(self.scale, math.ceil(self.events / per_run))


class Simulation:
    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.scale = config.effective_scale()
        self._n = 0
        # The ground truth: the cases staged so far (all of them once `events()` is spent).
        self.incidents: list[Incident] = []
        self._staged = IdSource(random.Random(config.seed * 1_000_003 + 1), f"sim-{config.seed}-x")
        self._revoked_use: tuple[str, list[AccessRecorded]] | None = None

    def next_id(self) -> str:
        self._n += 1
        return f"sim-{self.config.seed}-{self._n:010d}"

    def new_key(self) -> str:
        return new_key(self.rng)

    def people(self) -> list[str]:
        return [p if k == 0 else f"{p}{k}" for k in range(self.scale) for p in org.PEOPLE]

    def iam_users(self) -> list[str]:
        return [u if k == 0 else f"{u}{k}" for k in range(self.scale) for u in org.IAM_USERS]

    def repositories(self) -> list[str]:
        return [r if k == 0 else f"{r}{k}" for k in range(self.scale) for r in org.REPOSITORIES]

    def instances(self) -> list[str]:
        return [f"i-0{self.config.seed:04x}{k:012x}" for k in range(3 * self.scale)]

    # -- the story ---------------------------------------------------------------------

    def initial_policies(self) -> list[Event]:
        day = Day(self, self.config.start)
        for role in org.ROLES.values():
            for arn in role.managed:
                day.events.append(
                    PolicyChanged(
                        **day.envelope(self.config.start, role.account),
                        target_type=PolicyTargetType.ROLE,
                        target_arn=role.arn,
                        change_type=PolicyChangeType.ATTACH_MANAGED_POLICY,
                        policy_arn=arn,
                    )
                )
            for name, doc in role.inline.items():
                day.events.append(
                    PolicyChanged(
                        **day.envelope(self.config.start, role.account),
                        target_type=PolicyTargetType.ROLE,
                        target_arn=role.arn,
                        change_type=PolicyChangeType.PUT_INLINE_POLICY,
                        policy_name=name,
                        policy_document=doc,
                    )
                )
        if self.config.incidents:
            day.events += staged.policies(Day(self._staged, self.config.start))
        return day.events

    def day(self, index: int) -> list[Event]:
        d = Day(self, self.config.start + timedelta(days=index))
        weekend = d.day.weekday() >= 5
        presence = 0.1 if weekend else 0.7
        last = max(0, self.config.days - 1)
        for person in self.people():
            if self.rng.random() < presence:
                self._person_day(d, person, deny=(index == 0 and person == "mallory"))
        for user in self.iam_users():
            if self.rng.random() < presence * 0.8:
                self._console_day(d, user)
        for repo in self.repositories():
            for _ in range(self.rng.randint(0 if weekend else 1, 1 if weekend else 4)):
                self._ci_run(d, repo)
        leak_day = self.config.incidents and index == min(1, last)
        for instance in self.instances():
            self._instance_day(d, instance, leak=(leak_day and instance == self.instances()[0]))
        if index == min(2, last):
            self._admin_grant(d)
        if self.config.incidents:
            staged_day = Day(self._staged, d.day)
            self.incidents += staged.stage(staged_day, index, last, self._revoked_use)
            d.events += staged_day.events
            d.sessions_by_key.update(staged_day.sessions_by_key)
        d.deny_revoked_calls()
        return d.events

    def _person_day(self, d: Day, person: str, *, deny: bool) -> None:
        subject = f"{person}@acme.example"
        ip = f"198.51.100.{10 + sum(map(ord, person)) % 200}"
        team = ("platform", "data", "security")[sum(map(ord, person)) % 3]
        landing = d.assume(
            role=org.ROLES["Engineer"],
            session_name=subject,
            via=AssumeVia.SAML,
            when=d.at(8, 120),
            seconds=8 * 3600,
            caller_arn=f"{org.SAML_PROVIDER}#{subject}",
            caller_type="SAMLUser",
            source_identity=person,
            tags={"team": team, "cost-center": f"cc-{len(person) * 7}"},
            transitive=["team"],
            source_ip=ip,
            user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        )
        admins = {"alice", "carol"}
        for _ in range(self.rng.randint(1, 3)):
            roll = self.rng.random()
            target = (
                "OrgAdmin"
                if person.rstrip("0123456789") in admins and roll < 0.2
                else "Deploy"
                if roll < 0.5
                else "ReadOnly"
            )
            when = landing.start + timedelta(minutes=self.rng.randint(5, 400))
            chained = d.chain(
                landing, org.ROLES[target], person, when, 3600, ip, tags={"team": team}, mfa=True
            )
            d.act(chained, self.rng.randint(2, 6), org.PROD_ACTIONS, ip)
            if target == "OrgAdmin" and self.rng.random() < 0.5:
                deeper = d.chain(
                    chained,
                    org.ROLES["IncidentResponder"],
                    person,
                    chained.start + timedelta(minutes=10),
                    1800,
                    ip,
                    mfa=True,
                )
                d.act(deeper, 2, org.PROD_ACTIONS, ip)
        if deny:
            ro = d.chain(
                landing,
                org.ROLES["ReadOnly"],
                person,
                landing.start + timedelta(minutes=30),
                3600,
                ip,
            )
            d.events.append(
                AccessRecorded(
                    **d.envelope(ro.start + timedelta(minutes=3), org.PROD),
                    access_key_id=ro.key,
                    principal_arn=ro.arn,
                    action="sts:AssumeRole",
                    resources=[org.ROLES["OrgAdmin"].arn],
                    outcome=AccessOutcome.DENIED,
                    error_code="AccessDenied",
                    source_ip=ip,
                    region="us-east-1",
                    user_agent="aws-cli/2.15.0",
                )
            )

    def _console_day(self, d: Day, user: str) -> None:
        arn = org.user_arn(org.PROD, user)
        ip = f"192.0.2.{10 + sum(map(ord, user)) % 200}"
        signin_at = d.at(9, 240)
        signin_key = f"{arn}|console"
        d.events.append(
            RoleAssumed(
                **d.envelope(signin_at, org.PROD),
                session_id=f"{signin_key}@{signin_at.isoformat()}",
                session_arn=arn,
                via=AssumeVia.CONSOLE_SIGN_IN,
                caller_arn=arn,
                caller_type="IAMUser",
                mfa_authenticated=True,
                source_ip=ip,
                user_agent="Mozilla/5.0 (Macintosh)",
                lifecycle_key=signin_key,
            )
        )
        role = org.ROLES["OrgAdmin"] if self.rng.random() < 0.4 else org.ROLES["ReadOnly"]
        when = signin_at + timedelta(minutes=self.rng.randint(2, 60))
        switched = d.assume(
            role=role,
            session_name=user,
            via=AssumeVia.CONSOLE_SWITCH_ROLE,
            when=when,
            seconds=3600,
            caller_arn=arn,
            caller_type="IAMUser",
            mfa=True,
            source_ip=ip,
            user_agent="Mozilla/5.0 (Macintosh)",
            lifecycle_key=org.session_arn(role.account, role.name, user),
        )
        leave = when + timedelta(minutes=self.rng.randint(15, 50))
        d.act(switched, self.rng.randint(2, 5), org.PROD_ACTIONS, ip, until=leave)
        d.events.append(
            RoleExited(
                **d.envelope(leave, org.PROD),
                lifecycle_key=org.session_arn(role.account, role.name, user),
                reason=ExitReason.CONSOLE_EXIT,
            )
        )

    def _ci_run(self, d: Day, repo: str) -> None:
        sub = f"repo:{repo}:ref:refs/heads/main"
        provider = f"arn:aws:iam::{org.DEV}:oidc-provider/{org.OIDC_ISSUER}"
        run = d.assume(
            role=org.ROLES["CIDeploy"],
            session_name=f"gha-{self.rng.randint(10**6, 10**7)}",
            via=AssumeVia.WEB_IDENTITY,
            when=d.at(7, 660),
            seconds=900,
            caller_arn=f"{provider}#{sub}",
            caller_type="WebIdentityUser",
            tags={"repository": repo},
            source_ip="4.148.0.17",
            user_agent="aws-sdk-js/3",
        )
        d.act(run, self.rng.randint(2, 4), org.PROD_ACTIONS[3:5], "4.148.0.17")

    def _instance_day(self, d: Day, instance: str, *, leak: bool) -> None:
        role = org.ROLES["WebServer"]
        for hour in range(24):
            s = d.assume(
                role=role,
                session_name=instance,
                via=AssumeVia.AWS_SERVICE,
                when=d.at(hour, 2),
                seconds=6 * 3600,
                caller_arn="ec2.amazonaws.com",
                caller_type="AWSService",
                source_ip="ec2.amazonaws.com",
                user_agent="ec2.amazonaws.com",
            )
            d.act(
                s,
                self.rng.randint(2, 3),
                org.WEB_ACTIONS,
                INSTANCE_IP,
                until=s.start + timedelta(minutes=55),
            )
            if leak and hour == 13:
                self._leak_and_revoke(d, s)

    def _leak_and_revoke(self, d: Day, s: Session) -> None:
        """The instance key is used from a laptop outside AWS; the role's sessions are
        revoked; the laptop keeps trying, and is denied."""
        used: list[AccessRecorded] = []
        for minutes, action, resource, outcome in (
            (20, "s3:ListBucket", "arn:aws:s3:::acme-web-assets", AccessOutcome.ALLOWED),
            (22, "s3:GetObject", "arn:aws:s3:::acme-web-assets/config.json", AccessOutcome.ALLOWED),
            (25, "s3:ListBucket", "arn:aws:s3:::acme-prod-data", AccessOutcome.DENIED),
            (33, "s3:ListBucket", "arn:aws:s3:::acme-web-assets", AccessOutcome.DENIED),
            (36, "s3:GetObject", "arn:aws:s3:::acme-web-assets/config.json", AccessOutcome.DENIED),
            (41, "s3:ListBucket", "arn:aws:s3:::acme-web-assets", AccessOutcome.DENIED),
        ):
            used.append(
                AccessRecorded(
                    **d.envelope(s.start + timedelta(minutes=minutes), org.PROD),
                    access_key_id=s.key,
                    principal_arn=s.arn,
                    action=action,
                    resources=[resource],
                    outcome=outcome,
                    error_code="AccessDenied" if outcome is AccessOutcome.DENIED else None,
                    source_ip=LEAK_IP,
                    region="us-east-1",
                    user_agent=staged.LAPTOP_CLI,
                )
            )
        d.events += used
        revoked_at = s.start + timedelta(minutes=30)
        d.events.append(
            SessionsRevoked(
                **d.envelope(revoked_at, org.PROD),
                role_arn=s.role.arn,
                issued_before=revoked_at,
            )
        )
        d.events.append(
            PolicyChanged(
                **d.envelope(revoked_at, org.PROD),
                target_type=PolicyTargetType.ROLE,
                target_arn=s.role.arn,
                change_type=PolicyChangeType.PUT_INLINE_POLICY,
                policy_name="AWSRevokeOlderSessions",
                policy_document=(
                    '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],'
                    '"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":"'
                    + revoked_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
                    + '"}}}]}'
                ),
            )
        )
        before = [e for e in used if e.event_time < revoked_at]
        self.incidents.append(
            staged.incident(
                "instance-credentials-elsewhere",
                f"instance {s.arn.rsplit('/', 1)[-1]}'s key used from {LEAK_IP} with a "
                f"workstation's aws-cli (Darwin); the instance's own calls come from {INSTANCE_IP}",
                s.arn,
                [s.session_id],
                before,
            )
        )
        # The laptop's attempts after the revocation are half of the used-after-end case.
        self._revoked_use = (s.session_id, [e for e in used if e.event_time >= revoked_at])

    def _admin_grant(self, d: Day) -> None:
        """Admin rights granted to Deploy mid-week, and taken away again the same day."""
        deploy = org.ROLES["Deploy"]
        for hour, change in (
            (10, PolicyChangeType.ATTACH_MANAGED_POLICY),
            (16, PolicyChangeType.DETACH_MANAGED_POLICY),
        ):
            d.events.append(
                PolicyChanged(
                    **d.envelope(d.at(hour), deploy.account),
                    target_type=PolicyTargetType.ROLE,
                    target_arn=deploy.arn,
                    change_type=change,
                    policy_arn=org.ADMIN,
                )
            )

    def events(self) -> Iterator[Event]:
        remaining = self.config.events
        days = self.config.days if remaining is None else 10**6
        for index in range(-1, days):
            batch = self.initial_policies() if index < 0 else self.day(index)
            batch.sort(key=lambda e: (e.event_time, e.event_id))
            for event in batch:
                if remaining is not None:
                    if remaining <= 0:
                        return
                    remaining -= 1
                yield event


def simulate(config: SimulationConfig) -> Iterator[Event]:
    """The simulated organization's events, deterministic for a given config."""
    return Simulation(config).events()
