"""No session token or secret key reaches the stored bytes (the log and the DuckDB file).

The scan looks at the raw bytes of every file and at every value of every table (DuckDB
may compress strings on disk); a planted token proves that the scan would see one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb

from pipeline.cloudtrail import import_cloudtrail
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.producer import Producer
from pipeline.simulator import SimulationConfig, simulate
from pipeline.store import Store
from pipeline.timeutil import parse_time
from tests import builders as b

TOKEN_WORDS = [
    b"sessionToken",
    b"SessionToken",
    b"aws_session_token",
    b"secretAccessKey",
    b"SecretAccessKey",
    b"aws_secret_access_key",
    b"IQoJb3JpZ2lu",  # the base64 prefix of today's STS session tokens
    b"FwoGZXIvYXdzE",  # and of older ones
]
# A 40-character secret access key: base64 alphabet, mixed case and digits.
SECRET_KEY = re.compile(
    rb"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]{0,39}[0-9])(?=[A-Za-z0-9/+]{0,39}[a-z])"
    rb"(?=[A-Za-z0-9/+]{0,39}[A-Z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
)
PLANTED_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PLANTED_TOKEN = "IQoJb3JpZ2luX2VjEHgaCXVzLWVhc3QtMSJHMEUCIQD"


def secrets_in(data: bytes) -> list[bytes]:
    found = [w for w in TOKEN_WORDS if w in data]
    return found + [m.group(0) for m in SECRET_KEY.finditer(data)]


def stored_values(db: Path) -> bytes:
    """Every value of every table, as text (what a reader of the file could get)."""
    out = []
    with duckdb.connect(str(db), read_only=True) as con:
        for (table,) in con.execute("SHOW TABLES").fetchall():
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():  # noqa: S608
                out.append(
                    " ".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
                )
    return "\n".join(out).encode("utf-8", "replace")


def _build(base: Path, events: list[object]) -> tuple[Path, Path]:
    log = FileLog(base / "log", partitions=2, fsync=False)
    log.append(events)  # type: ignore[arg-type]
    log.close()
    log = FileLog(base / "log", create=False)
    with Store(base / "db.duckdb") as store:
        materialize(log, store)
    log.close()
    return base / "log", base / "db.duckdb"


def _scan(log_dir: Path, db: Path) -> dict[str, list[bytes]]:
    hits = {str(p): secrets_in(p.read_bytes()) for p in log_dir.rglob("*") if p.is_file()}
    for p in db.parent.glob(db.name + "*"):
        hits[str(p)] = secrets_in(p.read_bytes())
    hits["values"] = secrets_in(stored_values(db))
    return {k: v for k, v in hits.items() if v}


def test_simulated_and_materialized_store_holds_no_secret(tmp_path: Path) -> None:
    events = list(simulate(SimulationConfig(start=parse_time("2026-01-05"), days=2, seed=4)))
    log_dir, db = _build(tmp_path, events)  # type: ignore[arg-type]
    assert _scan(log_dir, db) == {}


def test_the_scan_finds_a_planted_token_and_secret(tmp_path: Path) -> None:
    planted = b.call("ASIAPLANTED00001", 1)
    planted = planted.model_copy(update={"user_agent": f"{PLANTED_TOKEN} {PLANTED_SECRET}"})
    log_dir, db = _build(tmp_path, [planted])
    hits = _scan(log_dir, db)
    assert any(b"IQoJb3JpZ2lu" in h for h in hits.get("values", []))
    assert PLANTED_SECRET.encode() in hits["values"]
    assert any(PLANTED_SECRET.encode() in v for k, v in hits.items() if "/log/" in k)


def test_secrets_quoted_in_cloudtrail_records_reach_neither_log_nor_store(tmp_path: Path) -> None:
    """Issue 18, finding 7: an errorMessage quoting `?sessionToken=X&secretAccessKey=Y`, an S3
    key holding a pre-signed URL, a request parameter named like a secret: none of the
    planted values is in the log's bytes, the DuckDB file or any table value."""
    from tests.test_cloudtrail_redact import fresh, record, sts_token

    token, key, presigned, signature, param = sts_token(), fresh(), sts_token(), fresh(), fresh()
    records = [
        record(
            eventSource="sts.amazonaws.com",
            eventName="AssumeRole",
            errorCode="AccessDenied",
            errorMessage="User: arn:aws:sts::111122223333:assumed-role/Deploy/ci is not "
            "authorized to perform: sts:AssumeRole on resource: "
            f"arn:aws:s3:::bucket/o?sessionToken={token}&secretAccessKey={key}",
        ),
        record(
            requestParameters={
                "bucketName": "acme",
                "key": f"r.csv?X-Amz-Security-Token={presigned}&X-Amz-Signature={signature}",
                "SessionToken": param,
            }
        ),
    ]
    source = tmp_path / "trail.json"
    source.write_text(json.dumps({"Records": records}))
    log = FileLog(tmp_path / "log", partitions=2, fsync=False)
    try:
        summary = import_cloudtrail([str(source)], Producer(log))
    finally:
        log.close()
    assert summary.records_mapped == 2
    log = FileLog(tmp_path / "log", create=False)
    with Store(tmp_path / "db.duckdb") as store:
        materialize(log, store)
    log.close()
    blobs = [p.read_bytes() for p in (tmp_path / "log").rglob("*") if p.is_file()]
    blobs += [p.read_bytes() for p in tmp_path.glob("db.duckdb*")]
    blobs.append(stored_values(tmp_path / "db.duckdb"))
    for planted in (token, key, presigned, signature, param):
        assert not any(planted.encode() in blob for blob in blobs), "a planted secret leaked"
        assert not any(p in blob for blob in blobs for p in (b"IQoJb3JpZ2lu", b"FwoGZXIvYXdzE"))
    # What was redacted is still evidence: the denied attempt on the bucket, and the key.
    values = stored_values(tmp_path / "db.duckdb")
    assert b"arn:aws:s3:::bucket/o?sessionToken=REDACTED&secretAccessKey=REDACTED" in values
    assert b"X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED" in values
