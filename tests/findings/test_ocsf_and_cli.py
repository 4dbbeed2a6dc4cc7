"""`rolecall findings`: table, JSON, OCSF Detection Findings validated against the OCSF
schema (a JSON Schema generated from its vendored sources), clear errors."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from tests.cloudtrail_helpers import COMPOSED, OTRF, STRATUS, Imported, import_and_materialize
from tests.findings.ocsf_jsonschema import detection_finding_schema


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    return import_and_materialize(tmp_path_factory.mktemp("cli"), OTRF, STRATUS, COMPOSED)


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, ["findings", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def ocsf(store: Imported) -> list[dict[str, Any]]:
    result = _run("--format", "ocsf", "--db", str(store.db_path))
    assert result.exit_code == 0, result.output
    data: list[dict[str, Any]] = json.loads(result.output)
    return data


def test_ocsf_output_validates_against_the_detection_finding_class(
    ocsf: list[dict[str, Any]],
) -> None:
    schema = detection_finding_schema()
    validator = jsonschema.Draft202012Validator(schema)
    assert len(ocsf) >= 8
    for item in ocsf:
        errors = list(validator.iter_errors(item))
        assert not errors, [e.message for e in errors]
    assert {o["class_uid"] for o in ocsf} == {2004}
    assert {o["finding_info"]["analytic"]["name"] for o in ocsf} >= {"denied-burst", "root-used"}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("severity_id",), 7),  # not in the severity enum
        (("finding_info", "uid"), None),  # a required attribute removed
        (("time",), "yesterday"),  # a timestamp is an integer (ms)
        (("finding_info", "surprise"), 1),  # no such attribute of finding_info
    ],
)
def test_the_generated_schema_rejects_what_ocsf_forbids(
    ocsf: list[dict[str, Any]], path: tuple[str, ...], value: object
) -> None:
    item = copy.deepcopy(ocsf[0])
    node = item
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(item, detection_finding_schema())


def test_json_lists_findings_newest_first_with_their_evidence(store: Imported) -> None:
    result = _run("--json", "--db", str(store.db_path))
    assert result.exit_code == 0
    data = json.loads(result.output)
    lasts = [f["last_at"] for f in data]
    assert lasts == sorted(lasts, reverse=True)
    assert all(f["evidence"] and f["evidence"][0].startswith("ct:") for f in data)
    assert all(f["origin_label"] for f in data)


def test_filters(store: Imported) -> None:
    db = str(store.db_path)
    bursts = json.loads(_run("--json", "--rule", "denied-burst", "--db", db).output)
    assert [f["session_id"] for f in bursts] == ["ASIANQQHHS551LWULIWD"]
    high = json.loads(_run("--json", "--severity", "high", "--db", db).output)
    assert high and {f["severity"] for f in high} == {"high"}
    account = json.loads(_run("--json", "--account", "457448411975", "--db", db).output)
    assert {f["account_id"] for f in account} == {"457448411975"}
    window = json.loads(
        _run(
            "--json", "--from", "2026-03-02T00:00:00Z", "--to", "2026-03-03T00:00:00Z", "--db", db
        ).output
    )
    assert [f["rule"] for f in window] == ["role-enumeration"]


def test_table_names_each_rule(store: Imported) -> None:
    result = _run("--db", str(store.db_path))
    assert result.exit_code == 0
    assert "denied-burst" in result.output and "finding(s), newest first" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rule", "nope"), "unknown rule 'nope'; the rules are: instance-credentials-elsewhere"),
        (("--severity", "critical"), "unknown severity 'critical'"),
    ],
)
def test_bad_input_is_one_clear_line(store: Imported, args: tuple[str, ...], message: str) -> None:
    result = CliRunner().invoke(main, ["findings", *args, "--db", str(store.db_path)])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
