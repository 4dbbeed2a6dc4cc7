"""Every listing prints CSV with `--csv`: a header row, then the rows with the words the
table uses; an unknown is a word, never an empty cell (#14)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.cli_demo import AT, build, held, invoke


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build(tmp_path_factory.mktemp("csv"))


def _rows(output: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(output)))
    assert rows, "no CSV"
    width = len(rows[0])
    for row in rows:
        assert len(row) == width, row
        assert all(cell.strip() for cell in row), f"an empty cell reads as known: {row}"
        assert not any(cell in ("None", "?", "null") for cell in row), row
    return rows


def test_who_held_csv_has_every_session_with_its_estimates_in_words(db: str) -> None:
    every = held(db)
    r = invoke("who-held", "--at", AT, "--db", db, "--csv")
    assert r.exit_code == 0, r.output
    header, *rows = _rows(r.output)
    assert header == ["session", "role", "principal", "origin", "via", "started", "ends", "why"]
    assert [row[0] for row in rows] == [s["session_id"] for s in every]
    for row, s in zip(rows, every, strict=True):
        if s["ends_at_estimated"]:
            assert row[6].endswith("(estimated)") and row[7] == s["ends_at_basis"]
        else:
            assert row[6] == s["ends_at"] and row[7] == s["end_reason"]
    paged = invoke("who-held", "--at", AT, "--db", db, "--csv", "--limit", "3", "--offset", "2")
    assert [row[0] for row in _rows(paged.output)[1:]] == [s["session_id"] for s in every[2:5]]


def test_json_and_csv_together_are_a_usage_error(db: str) -> None:
    r = invoke("who-held", "--at", AT, "--db", db, "--csv", "--json")
    assert r.exit_code == 2 and "--json and --csv" in r.output


def test_session_lists_its_actions_or_its_chain(db: str) -> None:
    deep = max(held(db), key=lambda s: s["depth"])
    detail = json.loads(invoke("session", deep["session_id"], "--db", db, "--json").output)
    actions = _rows(invoke("session", deep["session_id"], "--db", db, "--csv").output)
    assert actions[0] == ["time", "action", "resources", "outcome", "from", "in lifetime"]
    assert len(actions) - 1 == len(detail["actions"])
    chain = _rows(
        invoke("session", deep["session_id"], "--db", db, "--csv", "--list", "chain").output
    )
    assert [row[0] for row in chain[1:]] == [s["session_id"] for s in detail["chain"]]
    assert chain[0][-1] == "keys"


def test_trace_lists_the_chain_of_a_temporary_key(db: str) -> None:
    s = max(held(db), key=lambda s: s["depth"])
    key = s["access_key_ids"][0]
    chain = _rows(invoke("trace", key, "--db", db, "--csv").output)
    assert chain[-1][0] == s["session_id"] and key in chain[-1][-1]
    wrong = invoke("trace", key, "--db", db, "--csv", "--list", "calls")
    assert wrong.exit_code != 0 and "temporary key" in wrong.output


def test_who_could_lists_sessions_with_their_answer(db: str) -> None:
    args = ["who-could", "--action", "s3:GetObject", "--resource", "*", "--at", AT, "--db", db]
    answer = json.loads(invoke(*args, "--show-denied", "--json").output)
    rows = _rows(invoke(*args, "--show-denied", "--csv").output)
    assert rows[0][-2:] == ["answer", "decision"]
    assert len(rows) - 1 == len(answer["allowed"]) + len(answer["denied"])
    assert {row[-2] for row in rows[1:]} <= {"allowed", "denied", "undecidable"}
    users = _rows(invoke(*args, "--csv", "--list", "iam-users").output)
    assert users[0] == ["iam user", "answer", "decision"]


def test_permissions_lists_the_policies_in_force(db: str) -> None:
    reader = next(s for s in held(db) if s["role_arn"] and s["role_arn"].endswith("/ReadOnly"))
    rows = _rows(invoke("permissions", reader["session_id"], "--db", db, "--csv").output)
    assert rows[0] == ["applies as", "policy", "arn", "kind", "version", "document"]
    assert any(row[1] == "ReadOnlyAccess" for row in rows[1:])


def test_replay_and_digest_print_csv(db: str) -> None:
    args = ["replay", "--from", "2026-01-05T09:00:00Z", "--to", "2026-01-05T12:00:00Z"]
    events = json.loads(invoke(*args, "--db", db, "--json").output)
    rows = _rows(invoke(*args, "--db", db, "--csv").output)
    assert len(rows) - 1 == len(events)
    assert {row[2] for row in rows[1:]} <= {"recorded"} | {
        f"estimated: {e['basis']}" for e in events
    }
    heads = _rows(invoke("digest", "--db", db, "--csv").output)
    assert heads[0] == ["log", "partition", "last offset", "events", "head"]


def test_csv_round_trips_hostile_text(tmp_path: Path) -> None:
    from pipeline.cli.listing import Column, Listing, csv_text

    listing = Listing("t", (Column("a"), Column("b", identifier=True)))
    listing.add('a "quoted", value\nwith a newline', None)
    rows = list(csv.reader(io.StringIO(csv_text(listing))))
    assert rows == [["a", "b"], ['a "quoted", value\nwith a newline', "unknown"]]
