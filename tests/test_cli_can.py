"""`can` answers by its exit status: 0 allowed, 1 denied, 2 undecidable, 3 usage error;
without --at it asks at the session's start, and says so (#14)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli_demo import build, held, invoke


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build(tmp_path_factory.mktemp("can"))


def _session(db: str, **match: str | None) -> dict[str, Any]:
    for at in ("2026-01-05T12:00:00Z", "2026-01-06T12:00:00Z"):
        for s in held(db, at):
            if all(s.get(k) == v for k, v in match.items()):
                return s
    raise AssertionError(f"no session with {match}")


def _can(db: str, session_id: str, *args: str) -> Any:
    return invoke(
        "can", session_id, "--action", "s3:GetObject", "--resource", "*", "--db", db, *args
    )


def test_allowed_exits_0_and_denied_exits_1(db: str) -> None:
    reader = _session(db, role_arn="arn:aws:iam::444455556666:role/ReadOnly")
    r = _can(db, reader["session_id"], "--json")
    assert r.exit_code == 0, r.output
    answer = json.loads(r.output)
    assert answer["effect"] == "allow" and answer["answer"] == "allowed"
    denied = invoke(
        "can", reader["session_id"], "--action", "iam:CreateUser", "--resource", "*", "--db", db
    )
    assert denied.exit_code == 1, denied.output
    assert denied.output.startswith("implicit_deny:") and "denied" in denied.output


def test_no_policy_history_is_undecidable_exit_2(db: str) -> None:
    signed_in = _session(db, via="CONSOLE_SIGN_IN")
    r = _can(db, signed_in["session_id"], "--json")
    assert r.exit_code == 2, r.output
    answer = json.loads(r.output)
    assert answer["answer"] == "undecidable"
    assert answer["reason"].startswith("unknown: no policy history")
    assert answer["effect"] == "implicit_deny"  # the evaluator's shape is unchanged


def test_without_at_it_asks_at_the_session_start_and_says_why(db: str) -> None:
    reader = _session(db, role_arn="arn:aws:iam::444455556666:role/ReadOnly")
    r = _can(db, reader["session_id"], "--json")
    answer = json.loads(r.output)
    assert answer["at"] == reader["started_at"]
    assert answer["at_basis"].startswith("the session's start")
    # A moment after its end: not active, so denied, and the moment given is said.
    late = _can(db, reader["session_id"], "--json", "--at", "2027-01-01T00:00:00Z")
    assert late.exit_code == 1, late.output
    assert json.loads(late.output)["at_basis"] == "given with --at"
    text = _can(db, reader["session_id"])
    assert f"at {reader['started_at']} (the session's start" in text.output


@pytest.mark.parametrize(
    "args",
    [
        ["can", "ASIANOSUCHSESSION000", "--action", "s3:GetObject", "--resource", "*"],
        ["can", "X", "--resource", "*"],  # --action missing
        ["can", "X", "--action", "s3:GetObject", "--resource", "*", "--at", "yesterday"],
        ["can", "X", "--action", "s3:GetObject", "--resource", "*", "--no-such-option"],
    ],
)
def test_usage_errors_exit_3_in_one_line(db: str, args: list[str]) -> None:
    r = invoke(*args, "--db", db)
    assert r.exit_code == 3, r.output
    assert "Traceback" not in r.output


def test_a_missing_database_exits_3(tmp_path: Path) -> None:
    r = invoke(
        "can", "X", "--action", "a:b", "--resource", "*", "--db", str(tmp_path / "none.duckdb")
    )
    assert r.exit_code == 3
    assert "no rolecall database" in r.output


def test_the_help_documents_the_exit_codes_and_the_default_moment() -> None:
    r = invoke("can", "--help", columns=100)
    text = " ".join(r.output.split())
    assert "0 allowed; 1 denied" in text and "2 undecidable" in text and "3 a usage error" in text
    assert "Default: the session's start" in text
