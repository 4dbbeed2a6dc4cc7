"""The evaluation case corpus (tests/policy/corpus.jsonl) through the real CLI.

Each line is a `policy-eval` request plus `expected` (the decision IAM's documented rules
give) and `comment` (the rule it exercises); `policy-eval` ignores those two keys.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CORPUS = Path(__file__).with_name("corpus.jsonl")
ROOT = Path(__file__).resolve().parents[2]

# Every operator family and rule the issue names must stay in the corpus.
REQUIRED = (
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThanEquals",
    "DateLessThan",
    "DateGreaterThan",
    "DateEquals",
    "Bool",
    "IpAddress",
    "NotIpAddress",
    "Null",
    "IfExists",
    "ForAnyValue:",
    "ForAllValues:",
    "NotAction",
    "NotResource",
    "${aws:username}",
    "${aws:PrincipalTag/team}",
    "aws:TokenIssueTime",
)


def _cases() -> list[dict[str, object]]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


def test_corpus_decisions_match_the_documented_rules() -> None:
    cases = _cases()
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "policy-eval", "--cases", str(CORPUS)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    ).stdout.splitlines()
    assert len(out) == len(cases)
    wrong = [
        f"line {n}: {c['comment']}: expected {c['expected']}, got {json.loads(o)}"
        for n, (c, o) in enumerate(zip(cases, out, strict=True), start=1)
        if json.loads(o)["effect"] != c["expected"]
    ]
    assert not wrong, "\n".join(wrong)


def test_corpus_covers_every_rule_and_edge_case() -> None:
    text = CORPUS.read_text()
    missing = [name for name in REQUIRED if name not in text]
    assert not missing, f"the corpus lost cases for {missing}"
    comments = " ".join(str(c["comment"]) for c in _cases())
    for edge in (
        "NotAction allow with an explicit deny elsewhere",
        "session policy that grants what the role does not",
        "boundary that removes what the role grants",
        "key missing, no IfExists",
        "key missing with IfExists",
    ):
        assert edge in comments, edge
    assert {c["expected"] for c in _cases()} == {"allow", "explicit_deny", "implicit_deny"}


def test_unsupported_operator_is_named_in_the_reason() -> None:
    line = next(c for c in CORPUS.read_text().splitlines() if "StringSortaEquals" in c)
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "policy-eval", "--cases", "-"],
        input=line,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=60,
    ).stdout
    assert "StringSortaEquals" in json.loads(out)["reason"]
