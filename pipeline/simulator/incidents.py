"""Staged incidents: one case of each finding rule, and the simulator's record of them.

`SimulationConfig.incidents` stages these on chosen days of the simulated organization
(the demo's default), so that every rule of the findings projection has a case to find;
with it off, a normal week contains none of them. Each case is recorded as an `Incident`:
the rule it should raise, the sessions and principal involved, the time range and the
ids of the events that are its evidence (`cloudtrail_evidence` names the same events as
the CloudTrail rendering does, `ct:<eventID>`).

The cases draw ids, keys and randomness from a source of their own, so staging them
leaves the normal story's events as they are (only the leak of an instance key, which
the normal story hosts, lives in `pipeline.simulator.activity`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.events import (
    AccessOutcome,
    AccessRecorded,
    AssumeVia,
    CredentialIssued,
    Event,
    ExitReason,
    PolicyChanged,
    PolicyChangeType,
    PolicyTargetType,
    RoleAssumed,
    RoleExited,
)
from pipeline.simulator import org
from pipeline.simulator.cloudtrail import record_event_id
from pipeline.simulator.day import Day, Session
from pipeline.simulator.org import Role

# A workstation's CLI, as a laptop's trail shows it (OTRF's stolen instance key had one).
LAPTOP_CLI = "aws-cli/2.13.25 Python/3.11.5 Darwin/23.1.0 exe/x86_64 prompt/off command/s3.ls"
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0"
CLI = "aws-cli/2.15.0"
# Documentation addresses (RFC 5737, RFC 3849): distinct networks, never a real host.
HIJACK_IP = "203.0.113.80"
ROAMING_IPS = ("203.0.113.24", "192.0.2.150", "2001:db8:4f::17")
ROOT_IP = "198.51.100.230"

IAM_BOOTSTRAP = (
    '{"Version":"2012-10-17","Statement":[{"Sid":"BootstrapRoles","Effect":"Allow",'
    '"Action":["iam:CreateRole","iam:PassRole","iam:AttachRolePolicy","iam:PutRolePolicy"],'
    '"Resource":"*"},{"Sid":"ChainToDeploy","Effect":"Allow","Action":"sts:AssumeRole",'
    '"Resource":"arn:aws:iam::*:role/*"}]}'
)
# A CI role only the incidents use: GitHub Actions can administer IAM through it.
CI_BOOTSTRAP = Role(org.DEV, "CIBootstrap", (), {"BootstrapRoles": IAM_BOOTSTRAP}, 3600)


@dataclass(frozen=True)
class Incident:
    """One staged case: what a findings rule should raise, and on which evidence."""

    rule: str
    summary: str
    principal_arn: str
    session_ids: tuple[str, ...]
    first_at: datetime
    last_at: datetime
    evidence: tuple[str, ...]  # simulator event ids, in time order

    def cloudtrail_evidence(self) -> tuple[str, ...]:
        """The same evidence as event ids of the imported CloudTrail rendering."""
        return tuple(f"ct:{record_event_id(e)}" for e in self.evidence)


def incident(
    rule: str, summary: str, principal: str, sessions: Sequence[str], evidence: Sequence[Event]
) -> Incident:
    ordered = sorted(evidence, key=lambda e: (e.event_time, e.event_id))
    return Incident(
        rule=rule,
        summary=summary,
        principal_arn=principal,
        session_ids=tuple(sessions),
        first_at=ordered[0].event_time,
        last_at=ordered[-1].event_time,
        evidence=tuple(e.event_id for e in ordered),
    )


def policies(d: Day) -> list[Event]:
    """The incidents' own role's policies, in force from the start of the history."""
    role = CI_BOOTSTRAP
    return [
        PolicyChanged(
            **d.envelope(d.day, role.account),
            target_type=PolicyTargetType.ROLE,
            target_arn=role.arn,
            change_type=PolicyChangeType.PUT_INLINE_POLICY,
            policy_name=name,
            policy_document=doc,
        )
        for name, doc in role.inline.items()
    ]


def stage(
    d: Day, index: int, last: int, revoked_use: tuple[str, list[AccessRecorded]] | None
) -> list[Incident]:
    """The cases staged on day `index` of a history whose last day is `last`."""
    out: list[Incident] = []
    if index == 0:
        out += [_console_without_mfa(d), _role_enumeration(d)]
    if index == min(1, last):
        out += [_key_many_networks(d), _denied_burst(d), _used_after_end(d, revoked_use)]
    if index == min(2, last):
        out += [_root_used(d), _machine_iam_admin(d)]
    return out


# -- helpers ---------------------------------------------------------------------------


def _call(
    d: Day,
    s: Session,
    when: datetime,
    action: str,
    resource: str | None,
    ip: str,
    *,
    denied: bool = False,
    agent: str = CLI,
) -> AccessRecorded:
    event = AccessRecorded(
        **d.envelope(when, s.role.account),
        access_key_id=s.key,
        # A console session's calls name it, as in `Day.act`.
        session_id=s.session_id if s.session_id != s.key else None,
        principal_arn=s.arn,
        action=action,
        resources=[resource] if resource else [],
        outcome=AccessOutcome.DENIED if denied else AccessOutcome.ALLOWED,
        error_code="AccessDenied" if denied else None,
        source_ip=ip,
        region="us-east-1",
        user_agent=agent,
    )
    d.events.append(event)
    return event


def _person_ip(person: str) -> str:
    return f"198.51.100.{10 + sum(map(ord, person)) % 200}"


def _landing(d: Day, person: str, when: datetime) -> Session:
    """A person's SAML sign-in to the Engineer role, as in the normal story."""
    subject = f"{person}@acme.example"
    return d.assume(
        role=org.ROLES["Engineer"],
        session_name=subject,
        via=AssumeVia.SAML,
        when=when,
        seconds=8 * 3600,
        caller_arn=f"{org.SAML_PROVIDER}#{subject}",
        caller_type="SAMLUser",
        source_identity=person,
        source_ip=_person_ip(person),
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
    )


def _sign_in(d: Day, arn: str, kind: str, when: datetime, *, mfa: bool, ip: str) -> RoleAssumed:
    lifecycle = f"{arn}|console"
    event = RoleAssumed(
        **d.envelope(when, arn.split(":")[4]),
        session_id=f"{lifecycle}@{when.isoformat()}",
        session_arn=arn,
        via=AssumeVia.CONSOLE_SIGN_IN,
        caller_arn=arn,
        caller_type=kind,
        mfa_authenticated=mfa,
        source_ip=ip,
        user_agent=BROWSER,
        lifecycle_key=lifecycle,
    )
    d.events.append(event)
    return event


def _assumed(d: Day, s: Session) -> RoleAssumed:
    return next(e for e in d.events if isinstance(e, RoleAssumed) and e.session_id == s.session_id)


# -- the cases -------------------------------------------------------------------------


def _console_without_mfa(d: Day) -> Incident:
    user = org.IAM_USERS[3]
    arn = org.user_arn(org.PROD, user)
    signed = _sign_in(d, arn, "IAMUser", d.at(10, 30), mfa=False, ip="192.0.2.77")
    return incident(
        "console-without-mfa",
        f"IAM user {user} signed in to the console without MFA",
        arn,
        [signed.session_id],
        [signed],
    )


def _role_enumeration(d: Day) -> Incident:
    """One person's session tries AssumeRole on role after role, each refused."""
    person = "victor"
    landing = _landing(d, person, d.at(9, 30))
    targets = [
        org.ROLES["OrgAdmin"].arn,
        org.ROLES["IncidentResponder"].arn,
        org.ROLES["CIDeploy"].arn,
        org.ROLES["Developer"].arn,
        org.role_arn(org.PROD, "Admin"),
        org.role_arn(org.PROD, "OrganizationAccountAccessRole"),
        org.role_arn(org.DEV, "OrganizationAccountAccessRole"),
        org.role_arn(org.DEV, "Administrator"),
        org.role_arn(org.IDENTITY, "admin"),
        org.role_arn(org.PROD, "terraform"),
    ]
    start = landing.start + timedelta(minutes=40)
    tries = [
        _call(
            d,
            landing,
            start + timedelta(seconds=35 * i + d.rng.randint(0, 20)),
            "sts:AssumeRole",
            role,
            _person_ip(person),
            denied=True,
        )
        for i, role in enumerate(targets)
    ]
    return incident(
        "role-enumeration",
        f"{person}'s session was refused AssumeRole on {len(targets)} roles in 6 minutes",
        landing.arn,
        [landing.session_id],
        tries,
    )


def _key_many_networks(d: Day) -> Incident:
    """A Deploy key used from the person's network, then from three others within minutes."""
    person = "sybil"
    landing = _landing(d, person, d.at(9, 60))
    deploy = d.chain(
        landing,
        org.ROLES["Deploy"],
        person,
        landing.start + timedelta(minutes=20),
        3600,
        _person_ip(person),
        mfa=True,
    )
    t = deploy.start + timedelta(minutes=3)
    uses = [_call(d, deploy, t, "s3:ListBucket", "arn:aws:s3:::acme-prod-data", _person_ip(person))]
    for i, ip in enumerate(ROAMING_IPS, 1):
        uses.append(
            _call(
                d,
                deploy,
                t + timedelta(minutes=2 * i, seconds=d.rng.randint(0, 50)),
                "s3:GetObject",
                "arn:aws:s3:::acme-prod-data/reports/q3.csv",
                ip,
            )
        )
    return incident(
        "key-many-networks",
        f"{person}'s Deploy key was used from {len(uses)} networks within 8 minutes",
        deploy.arn,
        [deploy.session_id],
        uses,
    )


def _denied_burst(d: Day) -> Incident:
    """GetPasswordData refused 32 times in under a minute (Stratus Red Team's technique)."""
    person = "trent"
    landing = _landing(d, person, d.at(11, 60))
    ro = d.chain(
        landing,
        org.ROLES["ReadOnly"],
        person,
        landing.start + timedelta(minutes=15),
        3600,
        _person_ip(person),
    )
    t = ro.start + timedelta(minutes=4)
    calls = [
        _call(
            d,
            ro,
            t + timedelta(seconds=int(i * 1.7)),
            "ec2:GetPasswordData",
            f"arn:aws:ec2:us-east-1:{org.PROD}:instance/i-0{i:016x}",
            _person_ip(person),
            denied=True,
        )
        for i in range(32)
    ]
    return incident(
        "denied-burst",
        f"{person}'s ReadOnly session was refused ec2:GetPasswordData 32 times in a minute",
        ro.arn,
        [ro.session_id],
        calls,
    )


def _used_after_end(d: Day, revoked_use: tuple[str, list[AccessRecorded]] | None) -> Incident:
    """A console role session's credentials reused after the user left the role (the exit
    does not invalidate them): one call succeeds; with the leaked instance key's attempts
    after its revocation, which are denied."""
    user = org.IAM_USERS[1]
    arn = org.user_arn(org.PROD, user)
    ip = f"192.0.2.{10 + sum(map(ord, user)) % 200}"
    signed = _sign_in(d, arn, "IAMUser", d.at(14, 30), mfa=True, ip=ip)
    role = org.ROLES["ReadOnly"]
    lifecycle = org.session_arn(role.account, role.name, user)
    switched = d.assume(
        role=role,
        session_name=user,
        via=AssumeVia.CONSOLE_SWITCH_ROLE,
        when=signed.event_time + timedelta(minutes=5),
        seconds=3600,
        caller_arn=arn,
        caller_type="IAMUser",
        mfa=True,
        source_ip=ip,
        user_agent=BROWSER,
        lifecycle_key=lifecycle,
    )
    _call(d, switched, switched.start + timedelta(minutes=3), "ec2:DescribeInstances", "*", ip)
    left = switched.start + timedelta(minutes=12)
    d.events.append(
        RoleExited(
            **d.envelope(left, role.account),
            lifecycle_key=lifecycle,
            reason=ExitReason.CONSOLE_EXIT,
        )
    )
    reused = _call(
        d,
        switched,
        left + timedelta(minutes=20),
        "s3:GetObject",
        "arn:aws:s3:::acme-prod-data/reports/q3.csv",
        HIJACK_IP,
        agent=BROWSER,
    )
    sessions, evidence = [switched.session_id], [reused]
    if revoked_use is not None:
        sessions.append(revoked_use[0])
        evidence += revoked_use[1]
    return incident(
        "used-after-end",
        f"{user}'s ReadOnly console session used from {HIJACK_IP} 20 minutes after the exit"
        + (f"; the revoked instance key tried {len(revoked_use[1])} times" if revoked_use else ""),
        arn,
        sessions,
        evidence,
    )


def _root_used(d: Day) -> Incident:
    """The prod account's root user signs in to the console and makes calls."""
    arn = f"arn:aws:iam::{org.PROD}:root"
    signed = _sign_in(d, arn, "Root", d.at(7, 30), mfa=True, ip=ROOT_IP)
    key = d.sim.new_key()
    d.events.append(
        CredentialIssued(
            **d.envelope(signed.event_time, org.PROD),
            session_id=signed.session_id,
            access_key_id=key,
            issued_at=signed.event_time,
        )
    )
    # The console's root session, for the calls' sake: no role, the root ARN as principal.
    root = _root_session(signed, key)
    calls = [
        _call(d, root, signed.event_time + timedelta(minutes=m), action, None, ROOT_IP, agent=a)
        for m, action, a in (
            (2, "iam:GetAccountSummary", "AWS Internal"),
            (4, "iam:ListAccessKeys", "AWS Internal"),
        )
    ]
    return incident(
        "root-used",
        f"the root user of account {org.PROD} signed in to the console and made calls",
        arn,
        [signed.session_id],
        [signed, *calls],
    )


def _root_session(signed: RoleAssumed, key: str) -> Session:
    root = Role(org.PROD, "root")
    arn = signed.session_arn or ""
    end = signed.event_time + timedelta(hours=12)
    return Session(signed.session_id, key, arn, root, signed.event_time, end)


def _machine_iam_admin(d: Day) -> Incident:
    """A GitHub Actions run assumes a CI role that can administer IAM, and chains through
    Deploy into OrgAdmin: an admin role three hops from a machine identity."""
    repo = "acme/infra"
    sub = f"repo:{repo}:ref:refs/heads/main"
    provider = f"arn:aws:iam::{org.DEV}:oidc-provider/{org.OIDC_ISSUER}"
    runner_ip = "4.148.0.17"  # the GitHub Actions runner address of the normal story
    run_name = f"gha-{d.rng.randint(10**6, 10**7)}"
    ci = d.assume(
        role=CI_BOOTSTRAP,
        session_name=run_name,
        via=AssumeVia.WEB_IDENTITY,
        when=d.at(20, 30),
        seconds=900,
        caller_arn=f"{provider}#{sub}",
        caller_type="WebIdentityUser",
        tags={"repository": repo},
        source_ip=runner_ip,
        user_agent="aws-sdk-js/3",
    )
    created = _call(
        d,
        ci,
        ci.start + timedelta(seconds=40),
        "iam:CreateRole",
        org.role_arn(org.DEV, "gha-deployer"),
        runner_ip,
        agent="aws-sdk-js/3",
    )
    hops = [ci]
    for name in ("Deploy", "OrgAdmin"):
        caller = hops[-1]
        hops.append(
            d.assume(
                role=org.ROLES[name],
                session_name=run_name,
                via=AssumeVia.ASSUME_ROLE,
                when=caller.start + timedelta(minutes=2),
                seconds=900,
                caller_arn=caller.arn,
                caller_type="AssumedRole",
                caller=caller,
                source_ip=runner_ip,
                user_agent="aws-sdk-js/3",
            )
        )
    admin = hops[-1]
    listed = _call(
        d,
        admin,
        admin.start + timedelta(minutes=1),
        "iam:ListRoles",
        "*",
        runner_ip,
        agent="aws-sdk-js/3",
    )
    return incident(
        "machine-iam-admin",
        f"GitHub Actions ({repo}) assumed {CI_BOOTSTRAP.name}, which can administer IAM, "
        "and chained through Deploy into OrgAdmin (3 hops)",
        ci.arn,
        [s.session_id for s in hops],
        [*(_assumed(d, s) for s in hops), created, listed],
    )
