"""Secrets quoted anywhere in a CloudTrail record never reach an event (issue 18, finding 7).

Every planted secret is a fresh random value, so finding it in an event's JSON means it
leaked; the byte scan of log and store for the same cases is in
tests/reliability/test_no_secrets.py.
"""

from __future__ import annotations

import copy
import json
import secrets
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.cloudtrail.mapping import RecordMapper
from pipeline.cloudtrail.redact import redact, redact_event
from pipeline.cloudtrail.secrettext import REDACTED, redact_text
from pipeline.log import FileLog
from pipeline.producer import Producer
from tests import builders as b
from tests.cloudtrail_helpers import COMPOSED, STRATUS

ACCOUNT = "111122223333"


def fresh(prefix: str = "Sx") -> str:
    """A secret-looking value no record holds by chance (base64 alphabet, as real ones)."""
    return prefix + secrets.token_urlsafe(24).replace("-", "+").replace("_", "/")


def sts_token() -> str:
    return "IQoJb3JpZ2luX2VjE" + secrets.token_hex(40)


def _identity() -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/ci",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAREDACTTEST00001",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/Deploy"},
            "attributes": {"creationDate": "2026-01-05T09:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "eventVersion": "1.08",
        "eventID": secrets.token_hex(8),
        "eventTime": "2026-01-05T10:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "recipientAccountId": ACCOUNT,
        "userIdentity": _identity(),
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15",
    }
    base.update(fields)
    return base


def events_json(raw: dict[str, Any]) -> str:
    return "\n".join(e.model_dump_json() for e in RecordMapper().map(raw))


def test_an_error_message_quoting_a_token_and_a_secret_key_keeps_neither() -> None:
    token, key = fresh(), fresh()
    raw = record(
        eventSource="sts.amazonaws.com",
        eventName="AssumeRole",
        errorCode="AccessDenied",
        errorMessage=(
            f"User: arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/ci is not authorized to perform: "
            f"sts:AssumeRole on resource: arn:aws:s3:::bucket/o?sessionToken={token}"
            f"&secretAccessKey={key}"
        ),
    )
    out = events_json(raw)
    assert token not in out and key not in out
    # The evidence stays: the denied attempt, on what, and that a token was there.
    assert "arn:aws:s3:::bucket/o?sessionToken=REDACTED&secretAccessKey=REDACTED" in out
    assert '"outcome":"DENIED"' in out


def test_an_s3_key_holding_a_presigned_url_keeps_no_token_or_signature() -> None:
    token, signature = sts_token(), secrets.token_hex(32)
    key = (
        "exports/report.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=ASIAREDACTTEST00001%2F20260105%2Fus-east-1%2Fs3%2Faws4_request"
        f"&X-Amz-Security-Token={token}&X-Amz-Signature={signature}&X-Amz-SignedHeaders=host"
    )
    out = events_json(record(requestParameters={"bucketName": "acme", "key": key}))
    assert token not in out and signature not in out and "IQoJb3JpZ2lu" not in out
    # The credential scope is no secret, and names the key that signed.
    assert "X-Amz-Credential=ASIAREDACTTEST00001%2F20260105" in out


def test_secrets_in_request_parameters_user_agent_and_resources_are_redacted() -> None:
    planted = [fresh() for _ in range(6)]
    raw = record(
        userAgent=f"aws-sdk-go/1.0 aws_secret_access_key={planted[0]}",
        requestParameters={
            "bucketName": "acme",
            "key": f'notes/{{"SessionToken": "{planted[1]}"}}',
            "SessionToken": planted[2],
            "nested": [{"x-amz-security-token": planted[3]}],
        },
        resources=[{"ARN": f"arn:aws:s3:::acme/a?X-Amz-Signature={planted[4]}"}],
        additionalEventData={"Authorization": f"AWS4-HMAC-SHA256 Signature={planted[5]}"},
    )
    redacted = json.dumps(redact(raw))
    out = events_json(raw)
    for value in planted:
        assert value not in redacted
        assert value not in out


def test_a_record_without_secrets_is_returned_as_it_is() -> None:
    raws = [
        *json.loads((STRATUS / "aws.persistence.iam-backdoor-role.json").read_text()),
        *json.loads((COMPOSED / "policy_changes.json").read_text())["Records"],
    ]
    for raw in raws:
        assert redact(raw) is raw


def test_only_the_secret_changes_and_the_input_is_not_modified() -> None:
    token, key = sts_token(), fresh()
    raw = json.loads((COMPOSED / "assume_role_chain.json").read_text())["Records"][0]
    raw["responseElements"]["credentials"]["sessionToken"] = token
    raw["requestParameters"]["note"] = f"aws_secret_access_key={key}"
    before = copy.deepcopy(raw)
    out = redact(raw)
    assert raw == before
    # The issued token is dropped (nothing reads it), a quoted secret redacted in place.
    assert "sessionToken" not in out["responseElements"]["credentials"]
    assert out["requestParameters"]["note"] == f"aws_secret_access_key={REDACTED}"
    assert out["userIdentity"] is raw["userIdentity"]  # untouched parts are shared
    out["responseElements"]["credentials"]["sessionToken"] = token
    out["requestParameters"]["note"] = before["requestParameters"]["note"]
    assert out == raw


def test_look_alikes_are_left_alone() -> None:
    for text in [
        "GetSessionToken",
        "nextToken=eyJ2IjoxfQ",
        "subjectFromWebIdentityToken=abc",
        "s3:signatureversion",
        "X-Amz-Credential=AKIAEXAMPLE%2F20260105%2Fus-east-1%2Fs3%2Faws4_request",
        "arn:aws:iam::111122223333:role/token-rotator",
    ]:
        assert redact_text(text) == text


def test_the_labels_spellings_and_encodings() -> None:
    value = fresh()
    for text in [
        f"?sessionToken={value}",
        f"&X-Amz-Security-Token={value}&",
        f"x-amz-security-token: {value}",
        f'"SessionToken": "{value}"',
        f'{{\\"SessionToken\\":\\"{value}\\"}}',
        f"aws_session_token = {value}",
        f"AWS_SECRET_ACCESS_KEY={value}",
        f"'secretAccessKey': '{value}'",
        f"redirect=https%3A%2F%2Fb%3Fx%3D1%26X-Amz-Signature%3D{value}%26y%3D2",
        f"password: {value}",
        f"access_token={value}",
    ]:
        assert value not in redact_text(text), text
    assert redact_text("FQoGZXIvYXdzEHoaD/abc+def= and AQoDYXdzEJr/xyz") == "REDACTED and REDACTED"


def test_a_secret_nested_very_deep_is_still_redacted() -> None:
    token = fresh()
    deep: Any = {"sessionToken": token}
    for _ in range(5000):
        deep = {"a": [deep]}
    out = redact(record(requestParameters=deep))
    assert token not in repr(out)[:10] and out["eventName"] == "GetObject"
    inner = out["requestParameters"]
    while isinstance(inner, dict) and "a" in inner:
        inner = inner["a"][0]
    assert inner in ({"sessionToken": REDACTED}, REDACTED)


_LABELS = st.sampled_from(
    [
        "sessionToken",
        "SessionToken",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
        "secretAccessKey",
        "SecretAccessKey",
        "aws_secret_access_key",
        "aws_session_token",
        "password",
    ]
)
_FORMS = st.sampled_from(["?{k}={v}", "&{k}={v}&x=1", '"{k}": "{v}"', "{k}: {v}", " {k}={v} "])
_SEEDS: list[dict[str, Any]] = [
    *json.loads((STRATUS / "aws.credential-access.ec2-get-password-data.json").read_text())[:6],
    *json.loads((COMPOSED / "assume_role_chain.json").read_text())["Records"],
    *json.loads((COMPOSED / "saml.json").read_text())["Records"],
]


def _string_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [prefix]
    out = []
    if isinstance(value, dict | list):
        for k, v in value.items() if isinstance(value, dict) else enumerate(value):
            out.extend(_string_paths(v, (*prefix, k)))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(_SEEDS),
    plants=st.lists(
        st.tuples(st.integers(0, 10_000), _LABELS, _FORMS, st.booleans()), min_size=1, max_size=4
    ),
)
def test_planted_secrets_never_reach_an_event(
    seed: dict[str, Any], plants: list[tuple[int, str, str, bool]]
) -> None:
    raw = copy.deepcopy(seed)
    values = []
    for where, label, form, as_token in plants:
        value = sts_token() if as_token else fresh()
        values.append(value)
        paths = _string_paths(raw)
        *parents, last = paths[where % len(paths)]
        target = raw
        for step in parents:
            target = target[step]
        target[last] = target[last] + form.format(k=label, v=value)
    cleaned = json.dumps(redact(raw))
    try:
        out = events_json(raw)
    except Exception:
        out = ""
    for value in values:
        assert value not in cleaned
        assert value not in out


def test_events_emitted_through_the_producer_api_carry_no_secret(tmp_path: Any) -> None:
    token, key = sts_token(), fresh()
    clean = b.call("ASIAPLANTED00001", 1)
    dirty = clean.model_copy(
        update={
            "event_id": "t-dirty",
            "user_agent": f"app/1.0 X-Amz-Security-Token={token}",
            "resources": [f"arn:aws:s3:::b/k?secretAccessKey={key}"],
        }
    )
    assert redact_event(clean) is clean
    log = FileLog(tmp_path / "log", partitions=1, fsync=False)
    try:
        with Producer(log) as producer:
            producer.emit(clean)
            producer.emit(dirty)
    finally:
        log.close()
    blobs = b"".join(p.read_bytes() for p in (tmp_path / "log").rglob("*") if p.is_file())
    assert token.encode() not in blobs and key.encode() not in blobs
    assert b"X-Amz-Security-Token=REDACTED" in blobs  # the event itself was kept


# --- the quick screen (orjson's serialization searched first) decides as the full search


def test_the_innocent_field_names_are_never_redacted_in_any_case() -> None:
    from pipeline.cloudtrail import redact as module
    from pipeline.cloudtrail.secrettext import is_secret_field

    for quoted in module.INNOCENT:
        name = json.loads(quoted)
        for variant in (name, name.upper(), "sAMLAssertionID"):
            if variant.lower() != name:
                continue
            assert redact_text(variant) == variant
            assert not is_secret_field(variant)


_WORDY = st.sampled_from(
    [
        "sAMLAssertionID",
        "SAMLASSERTIONID",
        "token",
        "nextToken",
        "x",
        "pass",
        "word",
        "password=abc",
        '"samlassertionid',
        "K\u212aEN",
        "oJb3JpZ2lu",
        "\ud800",
        "é",
        "\\t",
    ]
)
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12) | _WORDY,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | _WORDY, inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=8) | _WORDY, _JSONISH, max_size=5))
def test_the_quick_screen_never_changes_what_redact_gives(record: dict[str, Any]) -> None:
    from pipeline.cloudtrail import redact as module

    quick = redact(copy.deepcopy(record))
    original = module._plainly_clean
    module._plainly_clean = lambda raw: False  # the full search alone
    try:
        full = redact(copy.deepcopy(record))
    finally:
        module._plainly_clean = original
    assert quick == full


def test_the_quick_screen_passes_plain_records_and_stops_secrets() -> None:
    from pipeline.cloudtrail.redact import _plainly_clean

    assert _plainly_clean({"eventName": "GetObject", "requestParameters": {"sAMLAssertionID": "x"}})
    assert not _plainly_clean({"errorMessage": "SessionToken=abc"})
    assert not _plainly_clean({"k": "IQoJb3JpZ2luX2VjE"})
    assert not _plainly_clean({"k": "caf\u00e9"})  # non-ASCII: the full search decides
    assert not _plainly_clean({1: "x"})  # a key that is not a string
