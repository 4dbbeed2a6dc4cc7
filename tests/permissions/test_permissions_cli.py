"""The permissions commands end to end: import-iam, who-could, can, permissions, policy-eval."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main

ROOT = Path(__file__).resolve().parents[2]
ACME = Path(__file__).parent / "fixtures" / "authorization-details-acme.json"
DURING = "2026-01-07T12:00:00Z"  # inside the simulator's admin grant to Deploy (day 3)


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        input=stdin,
    )


@pytest.fixture(scope="module")
def org_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    base = tmp_path_factory.mktemp("permcli")
    log, db = f"file:{base}/log", str(base / "rolecall.duckdb")
    for args in (
        ["simulate", "--start", "2026-01-05T00:00:00Z", "--days", "3", "--log", log],
        ["import-iam", str(ACME), "--as-of", "2026-01-04T00:00:00Z", "--log", log],
        ["import-iam", str(ACME), "--as-of", "2026-01-04T00:00:00Z", "--log", log],
        ["materialize", "--log", log, "--db", db],
    ):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
    return log, db


def test_import_iam_twice_adds_nothing_the_second_time(org_db: tuple[str, str]) -> None:
    import duckdb

    with duckdb.connect(org_db[1], read_only=True) as con:
        row = con.execute("SELECT count(*) FROM policy_changes WHERE event_id LIKE 'iam:%'")
        assert row.fetchone() == (26,)


def test_who_could_json_during_the_admin_grant(org_db: tuple[str, str]) -> None:
    r = CliRunner().invoke(
        main,
        [
            "who-could",
            "--action",
            "iam:CreateUser",
            "--resource",
            "*",
            "--at",
            DURING,
            "--db",
            org_db[1],
            "--json",
            "--show-denied",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    roles = {s["role_arn"] for s in out["allowed"]}
    assert "arn:aws:iam::444455556666:role/Deploy" in roles
    assert all("AdministratorAccess" in s["reason"] for s in out["allowed"])
    assert all(s["origin_arn"] for s in out["allowed"])
    assert out["denied"] and all(s["effect"] != "allow" for s in out["denied"])
    assert "only principals with recorded policies" in out["note"]


def test_can_exits_by_decision_and_permissions_lists_policies(org_db: tuple[str, str]) -> None:
    db = org_db[1]
    out = json.loads(
        CliRunner()
        .invoke(
            main,
            [
                "who-could",
                "--action",
                "iam:CreateUser",
                "--resource",
                "*",
                "--at",
                DURING,
                "--db",
                db,
                "--json",
            ],
        )
        .output
    )
    sid = next(s["session_id"] for s in out["allowed"] if s["role_arn"].endswith("/Deploy"))
    r = CliRunner().invoke(
        main,
        ["can", sid, "--action", "iam:CreateUser", "--resource", "*", "--at", DURING, "--db", db],
    )
    assert r.exit_code == 0 and r.output.startswith("allow:")
    r = CliRunner().invoke(
        main,
        [
            "can",
            sid,
            "--action",
            "iam:CreateUser",
            "--resource",
            "*",
            "--at",
            "2026-01-07T20:00:00Z",
            "--db",
            db,
        ],
    )
    assert r.exit_code == 1 and "implicit_deny" in r.output
    r = CliRunner().invoke(
        main,
        ["permissions", sid, "--at", DURING, "--db", db, "--json", "--action", "iam:DeleteRole"],
    )
    assert r.exit_code == 0, r.output
    detail = json.loads(r.output)
    assert detail["summary"] == "PowerUserAccess + AdministratorAccess"
    assert detail["context"]["aws:PrincipalArn"] == "arn:aws:iam::444455556666:role/Deploy"
    assert detail["context"]["aws:PrincipalTag/tier"] == "deploy"  # role tags from import-iam
    assert detail["check"]["effect"] == "allow"


def test_policy_eval_gives_one_line_per_case_in_order(tmp_path: Path) -> None:
    admin = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    no_iam = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "iam:*", "Resource": "*"}],
    }
    cases = [
        {"action": "iam:CreateUser", "resource": "*", "identity_policies": [admin]},
        {"action": "iam:CreateUser", "resource": "*", "identity_policies": [admin, no_iam]},
        {"action": "s3:GetObject", "resource": "*", "identity_policies": []},
        {
            "action": "s3:GetObject",
            "resource": "*",
            "identity_policies": [admin],
            "session_policies": [no_iam],
        },
    ]
    f = tmp_path / "cases.jsonl"
    f.write_text("\n".join(json.dumps(c) for c in cases) + "\n\nnot json\n")
    r = run("policy-eval", "--cases", str(f))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["effect"] for x in lines] == [
        "allow",
        "explicit_deny",
        "implicit_deny",
        "implicit_deny",
        "error",
    ]
    assert lines[4]["reason"].startswith("line 6:")
    piped = run("policy-eval", "--cases", "-", stdin=f.read_text())
    assert piped.stdout == r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import-iam", "/nonexistent/iam.json"], "no such file"),
        (["import-iam", str(ACME), "--account", "12"], "12-digit"),
        (["who-could", "--action", "iam", "--resource", "*", "--at", DURING], "service:ActionName"),
        (["can", "nope", "--action", "s3:GetObject", "--resource", "*"], "no session 'nope'"),
    ],
)
def test_bad_input_is_one_clean_line(
    org_db: tuple[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    extra = ["--log", f"file:{tmp_path}/log"] if args[0] == "import-iam" else ["--db", org_db[1]]
    r = run(*args, *extra)
    assert r.returncode not in (0, 1)
    assert message in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
