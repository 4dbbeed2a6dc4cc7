"""Late-arriving events change a rerun but not an as-known-at rerun, and `report diff`
shows what was learned in between: the late sessions, and a session that ended otherwise."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.events import (
    AssumeVia,
    CredentialIssued,
    EventSource,
    ExitReason,
    RoleAssumed,
    RoleExited,
)
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.reports import cutoffs
from pipeline.simulator import org
from pipeline.store import Store
from tests.reports.conftest import START, Week

ORGADMIN = org.ROLES["OrgAdmin"]
LATE_KEY = "ASIALATEARRIVAL00001"


def _report(week: Week, *extra: str) -> dict[str, object]:
    r = CliRunner().invoke(
        main,
        [
            "report", "privileged", "--from", "2026-01-05", "--to", "2026-01-12",
            "--db", str(week.db), "--log", week.log_url, "--json", *extra,
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    doc: dict[str, object] = json.loads(r.output)
    return doc


def _answer(doc: dict[str, object]) -> dict[str, object]:
    """What a report says (not when or from which store file it was made)."""
    return {k: doc[k] for k in ("period_from", "period_to", "privilege", "sessions", "origins")}


def _late_events(exit_of: str, exit_at: datetime) -> list[object]:
    """A CloudTrail delivery arriving late: an OrgAdmin session on the second day, and the
    console exit of a session already reported (it ended earlier than its expiry)."""
    when = START + timedelta(days=1, hours=15)
    env = {"account_id": ORGADMIN.account, "source": EventSource.API}
    return [
        RoleAssumed(
            event_id="late-1", event_time=when, session_id=LATE_KEY, role_arn=ORGADMIN.arn,
            session_name="break-glass", via=AssumeVia.ASSUME_ROLE,
            caller_arn=org.user_arn(ORGADMIN.account, "breakglass"), mfa_authenticated=False,
            requested_duration_seconds=3600, **env,
        ),
        CredentialIssued(
            event_id="late-2", event_time=when, session_id=LATE_KEY, access_key_id=LATE_KEY,
            issued_at=when, expires_at=when + timedelta(hours=1), **env,
        ),
        RoleExited(
            event_id="late-3", event_time=exit_at, session_id=exit_of,
            reason=ExitReason.CONSOLE_EXIT, **env,
        ),
    ]  # fmt: skip


def _deliver_late(week: Week, events: list[object]) -> None:
    log = FileLog(week.log, fsync=False)
    log.append(events)  # type: ignore[arg-type]
    with Store(week.db) as store:
        materialize(log, store)
    log.close()


def test_a_report_is_reproduced_as_known_at_after_late_events(week: Week) -> None:
    first = _report(week)
    known = datetime.now(UTC)
    time.sleep(0.01)  # the late records are ingested strictly after K
    sessions = first["sessions"]
    assert isinstance(sessions, list)
    victim = next(s for s in sessions if not s["ends_at_estimated"] and s["via"] == "ASSUME_ROLE")
    started = datetime.fromisoformat(victim["started_at"].replace("Z", "+00:00"))
    _deliver_late(week, _late_events(victim["session_id"], started + timedelta(minutes=5)))

    rerun = _report(week)
    assert _answer(rerun) != _answer(first)
    rerun_ids = {s["session_id"] for s in rerun["sessions"]}  # type: ignore[attr-defined]
    assert LATE_KEY in rerun_ids

    k = known.isoformat().replace("+00:00", "Z")
    again = _report(week, "--as-known-at", k)
    assert _answer(again) == _answer(first)
    assert again["evidence"]["known_at"]["at"].startswith(k[:19])  # type: ignore[index]
    # the as-known-at report verifies: the store's history up to its digest is intact, and
    # the same log prefix gives the same answer
    kept = week.db.parent / "as-known.json"
    kept.write_text(json.dumps(again))
    verified = CliRunner().invoke(main, ["report", "verify", str(kept), "--db", str(week.db)])
    assert verified.exit_code == 0, verified.output

    diff = CliRunner().invoke(
        main,
        [
            "report", "diff", "--from", "2026-01-05", "--to", "2026-01-12",
            "--db", str(week.db), "--log", week.log_url,
            "--as-known-at", k, "--as-known-at", datetime.now(UTC).isoformat(), "--json",
        ],
    )  # fmt: skip
    assert diff.exit_code == 0, diff.output
    learned = json.loads(diff.output)
    assert [s["session_id"] for s in learned["added"]] == [LATE_KEY]
    assert learned["removed"] == []
    assert learned["ended_differently"] == [victim["session_id"]]
    (end,) = [c for c in learned["changed"] if c["field"] == "ends_at"]
    assert end["session_id"] == victim["session_id"] and end["before"] == victim["ends_at"]
    # the exit, or just after the session's last call if it was later (a key used at T
    # was held at T): earlier than the expiry reported before
    after = datetime.fromisoformat(end["after"].replace("Z", "+00:00"))
    assert (
        started + timedelta(minutes=5)
        <= after
        < datetime.fromisoformat(victim["ends_at"].replace("Z", "+00:00"))
    )
    reasons = [c for c in learned["changed"] if c["field"] == "end_reason"]
    assert [(c["before"], c["after"]) for c in reasons] == [("expired", "exited")]
    words = CliRunner().invoke(
        main,
        [
            "report", "diff", "--from", "2026-01-05", "--to", "2026-01-12",
            "--db", str(week.db), "--log", week.log_url, "--as-known-at", k,
        ],
    )  # fmt: skip
    assert "1 session(s) added" in words.output and f"+ {LATE_KEY}" in words.output


def test_who_held_trace_and_session_as_known_at(week: Week) -> None:
    known = datetime.now(UTC)
    time.sleep(0.01)
    _deliver_late(week, _late_events("nobody", START))
    at = (START + timedelta(days=1, hours=15, minutes=30)).isoformat()
    k = known.isoformat()
    base = ["--db", str(week.db), "--log", week.log_url]
    now = CliRunner().invoke(main, ["who-held", "--at", at, *base, "--json"])
    then = CliRunner().invoke(main, ["who-held", "--at", at, *base, "--json", "--as-known-at", k])
    assert LATE_KEY in now.output and then.exit_code == 0 and LATE_KEY not in then.output
    assert len(json.loads(then.output)) == len(json.loads(now.output)) - 1
    for command in ("trace", "session"):
        found = CliRunner().invoke(main, [command, LATE_KEY, *base])
        assert found.exit_code == 0, found.output
        missing = CliRunner().invoke(main, [command, LATE_KEY, *base, "--as-known-at", k])
        assert missing.exit_code != 0 and "Traceback" not in missing.output
        assert LATE_KEY in missing.output  # "no session holds access key ..."
    said = CliRunner().invoke(main, ["who-held", "--at", at, *base, "--as-known-at", k])
    assert "As known at" in said.output


def test_records_without_ingest_time_are_counted_as_known(tmp_path: Path) -> None:
    """A log written before ingest times were kept still reads: its records are known at
    any moment, and the answer says how many had no ingest time."""
    from pipeline.log import filelog

    log = FileLog(tmp_path / "log", partitions=1, fsync=False)
    log.append([_late_events("x", START)[2]])  # type: ignore[list-item]
    log.close()
    seg = next((tmp_path / "log" / "p000").glob("*.seg"))
    record = next(iter(FileLog(tmp_path / "log").read(0, 0)))
    assert record.ingested_at is not None  # type: ignore[union-attr]
    # rewrite it as the old format (no ingest time), then append a timed one after K
    seg.write_bytes(filelog.encode_record(0, record.key, record.value))  # type: ignore[union-attr]
    old = FileLog(tmp_path / "log").read(0, 0)[0]
    assert old.ingested_at is None  # type: ignore[union-attr]
    k = datetime.now(UTC)
    time.sleep(0.01)
    log = FileLog(tmp_path / "log", fsync=False)
    log.append([_late_events("y", START)[2]])  # type: ignore[list-item]
    c = cutoffs(log, k)
    log.close()
    assert c.positions == {0: 1}
    assert c.unknown_ingest_time == 1
    assert "1 of them have no ingest time" in c.known_at().note


def test_as_known_at_a_moment_the_store_covers_is_the_store(
    week: Week, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the store holds exactly the prefix known at K, nothing is rebuilt."""
    from pipeline.reports import known_at

    def no_rebuild(*args: object, **kwargs: object) -> None:
        raise AssertionError("rebuilt a store the current one already answers")

    monkeypatch.setattr(known_at, "build_prefix_store", no_rebuild)
    now = _report(week)
    known = _report(week, "--as-known-at", datetime.now(UTC).isoformat())
    assert _answer(known) == _answer(now)
    assert known["evidence"]["known_at"] is not None  # type: ignore[index]


def test_a_cached_prefix_is_extended_to_a_later_moment(
    week: Week, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ROLECALL_KNOWN_AT_CACHE, a later moment starts from the cached earlier prefix
    and materializes only what was ingested in between: the same answer as a fresh
    rebuild."""
    from pipeline.reports import known_at

    cache = tmp_path / "cache"
    monkeypatch.setenv("ROLECALL_KNOWN_AT_CACHE", str(cache))
    k1 = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    _deliver_late(week, _late_events("nobody", START))
    k2 = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    _deliver_late(week, [_late_events("nobody", START)[0].model_copy(update={"event_id": "x"})])
    first = _report(week, "--as-known-at", k1)
    bases: list[Path | None] = []
    nearest = known_at._nearest_below
    monkeypatch.setattr(
        known_at, "_nearest_below", lambda f, c: bases.append(nearest(f, c)) or bases[-1]
    )
    second = _report(week, "--as-known-at", k2)
    assert len(bases) == 1 and bases[0] is not None  # started from k1's store
    assert len(list(cache.glob("known-*.duckdb"))) == 2
    monkeypatch.delenv("ROLECALL_KNOWN_AT_CACHE")
    fresh = _report(week, "--as-known-at", k2)
    assert _answer(second) == _answer(fresh) != _answer(first)
    assert LATE_KEY in {s["session_id"] for s in second["sessions"]}  # type: ignore[attr-defined]


def test_the_file_logs_header_scan_agrees_with_a_consumer(week: Week, tmp_path: Path) -> None:
    """The file log's prefix read from its headers is the consumer's, at every moment; a
    damaged record makes it give way to the consumer (which reports the damage)."""
    from pipeline.reports.known_at import cutoffs_by_consumer

    before = datetime.now(UTC)
    time.sleep(0.01)
    _deliver_late(week, _late_events("nobody", START))
    log = FileLog(week.log, create=False)
    for at in (START, before, datetime.now(UTC)):
        fast, slow = cutoffs(log, at), cutoffs_by_consumer(log, at)
        assert (fast.positions, fast.unknown_ingest_time) == (
            slow.positions,
            slow.unknown_ingest_time,
        )
    assert sum(cutoffs(log, START).positions.values()) == 0
    assert sum(cutoffs(log, datetime.now(UTC)).positions.values()) == len(week.events) + 3
    seg = sorted((week.log / "p000").glob("*.seg"))[0]
    data = bytearray(seg.read_bytes())
    data[100] ^= 0xFF
    seg.write_bytes(bytes(data))
    assert log.known_prefix(0, datetime.now(UTC)) is None
    fast, slow = cutoffs(log, datetime.now(UTC)), cutoffs_by_consumer(log, datetime.now(UTC))
    assert fast.positions == slow.positions
    log.close()
