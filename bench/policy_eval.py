"""Benchmark: IAM decisions per second, and who-could latency on a simulated organization.

    python -m bench.policy_eval [--decisions 50000] [--scale 2] [--days 3]

1. `evaluate` on realistic cases: the simulator's roles with their policies (AWS managed
   policies from the built-in catalogue, inline policies, AWSRevokeOlderSessions), the
   actions the simulator records plus admin actions, session contexts with tags, MFA and
   token issue times, and a share of requests carrying a narrowing session policy.
   Measured with pre-parsed policies (as who-could uses them) and from JSON text.
2. `policy-eval` throughput: the same cases as JSON Lines through `evaluate_cases`.
3. who-could latency: a simulated organization put on an embedded log, materialized into
   DuckDB, and `Queries.who_could` timed at moments across the simulated days.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.results import Result
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.permissions.catalogue import catalogued
from pipeline.policy import (
    RequestContext,
    evaluate,
    evaluate_cases,
    load_policy,
    session_context,
)
from pipeline.queries import Queries
from pipeline.simulator import SimulationConfig, org, simulate
from pipeline.store import Store

START = datetime(2026, 1, 5, tzinfo=UTC)
REVOKE = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],'
    '"Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-01-06T13:30:00.000Z"}}}]}'
)
NARROW = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket", "ec2:Describe*"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:PrincipalTag/team": "${aws:PrincipalTag/team}"}
                },
            }
        ],
    }
)
EXTRA_ACTIONS = (
    ("iam:CreateUser", "*"),
    ("sts:AssumeRole", "arn:aws:iam::444455556666:role/OrgAdmin"),
    ("s3:DeleteBucket", "arn:aws:s3:::acme-prod-data"),
)


def realistic_cases(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    roles = list(org.ROLES.values())
    actions = org.PROD_ACTIONS + org.WEB_ACTIONS + EXTRA_ACTIONS
    cases = []
    for i in range(n):
        role = rng.choice(roles)
        identity: list[Any] = []
        for arn in role.managed:
            entry = catalogued(arn)
            assert entry is not None
            identity.append({"name": entry.name, "document": entry.document})
        identity += [{"name": k, "document": v} for k, v in role.inline.items()]
        if role.name == "WebServer":
            identity.append({"name": "AWSRevokeOlderSessions", "document": REVOKE})
        at = START + timedelta(minutes=rng.randint(0, 3 * 24 * 60))
        issued = at - timedelta(minutes=rng.randint(1, 59))
        context = session_context(
            principal_arn=role.arn,
            at=at,
            session_name=f"s{i}",
            issued_at=issued,
            mfa_authenticated=rng.random() < 0.7,
            source_identity="alice",
            source_ip=f"198.51.100.{rng.randint(1, 250)}",
            session_tags={"team": rng.choice(("platform", "data", "security"))},
        )
        action, resource = rng.choice(actions)
        cases.append(
            {
                "action": action,
                "resource": resource,
                "identity_policies": identity,
                "session_policies": [NARROW] if rng.random() < 0.25 else [],
                "context": dict(context.items()),
            }
        )
    return cases


def _as_policy_like(p: Any) -> Any:
    return (p["name"], p["document"]) if isinstance(p, dict) else p


def bench_evaluate(cases: list[dict[str, Any]]) -> dict[str, float]:
    parsed = [
        {
            **c,
            "identity_policies": [load_policy(_as_policy_like(p)) for p in c["identity_policies"]],
            "session_policies": [load_policy(p) for p in c["session_policies"]],
            "context": RequestContext(c["context"]),
        }
        for c in cases
    ]
    out: dict[str, float] = {}
    # "parsed": policies and contexts built once, as who-could evaluates sessions;
    # "json_text": policies parsed and contexts built on every call.
    for label, batch in (("parsed", parsed), ("json_text", cases)):
        effects: dict[str, int] = {}
        t0 = time.perf_counter()
        for c in batch:
            d = evaluate(
                action=c["action"],
                resource=c["resource"],
                identity_policies=[_as_policy_like(p) for p in c["identity_policies"]],
                session_policies=c["session_policies"],
                context=c["context"],
            )
            effects[d.effect] = effects.get(d.effect, 0) + 1
        seconds = time.perf_counter() - t0
        out[f"decisions_per_second_{label}"] = round(len(batch) / seconds)
        out[f"effects_{label}"] = effects  # type: ignore[assignment]
    return out


def bench_policy_eval(cases: list[dict[str, Any]]) -> dict[str, float]:
    lines = [json.dumps(c) for c in cases]
    t0 = time.perf_counter()
    count = sum(1 for _ in evaluate_cases(lines))
    seconds = time.perf_counter() - t0
    return {"policy_eval_lines_per_second": round(count / seconds)}


def bench_who_could(days: int, scale: int, moments: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        log = FileLog(Path(tmp) / "log", partitions=4, fsync=False)
        events = list(simulate(SimulationConfig(start=START, days=days, seed=7, scale=scale)))
        log.append(events)
        with Store(Path(tmp) / "db.duckdb") as s:
            materialize(log, s)
        log.close()
        q = Queries.open(Path(tmp) / "db.duckdb")
        try:
            timings, active = [], []
            for k in range(moments):
                at = START + timedelta(hours=6 + k * (days * 24 - 12) / max(1, moments - 1))
                t0 = time.perf_counter()
                result = q.who_could("iam:CreateUser", "*", at)
                timings.append(time.perf_counter() - t0)
                active.append(result.considered)
        finally:
            q.close()
    timings.sort()
    return {
        "events": len(events),
        "scale": scale,
        "days": days,
        "moments": moments,
        "active_sessions_median": statistics.median(active),
        "active_sessions_max": max(active),
        "who_could_ms_median": round(1000 * statistics.median(timings), 1),
        "who_could_ms_p95": round(1000 * timings[int(0.95 * (len(timings) - 1))], 1),
        "who_could_ms_max": round(1000 * timings[-1], 1),
    }


def run(decisions: int = 20_000) -> list[Result]:
    """The suite's figures: decisions per second, and who-could latency on a small org."""
    cases = realistic_cases(decisions)
    rates = bench_evaluate(cases)
    lines = bench_policy_eval(cases)
    who = bench_who_could(days=3, scale=2, moments=20)
    return [
        Result(
            name="policy evaluation (parsed policies)",
            value=rates["decisions_per_second_parsed"],
            unit="decisions/s",
            reference="from JSON text",
            reference_value=rates["decisions_per_second_json_text"],
        ),
        Result(
            name="policy-eval --cases", value=lines["policy_eval_lines_per_second"], unit="lines/s"
        ),
        Result(
            name=f"who-could median ({who['events']:,} events)",
            value=who["who_could_ms_median"],
            unit="ms",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=50_000)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--moments", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args()
    cases = realistic_cases(args.decisions)
    results = {
        "cases": len(cases),
        **bench_evaluate(cases),
        **bench_policy_eval(cases),
        "who_could": bench_who_could(args.days, args.scale, args.moments),
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
