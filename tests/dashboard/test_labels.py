"""The dashboard's pages say "estimated" and "unknown" where the record is silent (#12).

The pages are rendered by the views' own layout functions over a store built from the
composed console records (`fixtures/cloudtrail/composed/console_keys.jsonl`) and the
real samples, and their text is read from the component tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dashboards.views import investigate, session
from pipeline.queries import Queries
from tests.cloudtrail_helpers import COMPOSED, OTRF, STRATUS, import_and_materialize


@pytest.fixture(scope="module")
def q(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Queries]:
    base = tmp_path_factory.mktemp("labels")
    imported = import_and_materialize(base, COMPOSED / "console_keys.jsonl", OTRF, STRATUS)
    with imported.queries() as queries:
        yield queries


def text_of(component: Any) -> str:
    """Every string a component tree shows, titles (hover text) included."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(text_of(c) for c in component)
    parts = [text_of(getattr(component, "children", None))]
    title = getattr(component, "title", None)
    if isinstance(title, str):
        parts.append(title)
    return " ".join(parts)


def test_a_session_page_says_what_its_start_and_end_rest_on(q: Queries) -> None:
    shown = text_of(session.layout(q, "ASIACOMPOSEDNOCTX001"))
    assert "estimated: its first recorded use" in shown
    assert "estimated: " in shown.split("ended", 1)[1]
    for bad in ("None", "(?)", " ? "):
        assert bad not in shown


def test_an_unknown_origin_is_said_with_why(q: Queries) -> None:
    row = q.con.execute(
        "SELECT min(session_id) FROM sessions WHERE via = 'INFERRED' AND caller_arn IS NULL"
    ).fetchone()
    assert row is not None and row[0]
    shown = text_of(session.layout(q, row[0]))
    assert "unknown: the issuing event is not in the data" in shown
    assert "None" not in shown and "(?)" not in shown


def test_instance_credentials_name_their_instance(q: Queries) -> None:
    shown = text_of(investigate._trace(q, "ASIAP5CT9NN8EYVU1FXV"))
    assert "EC2 instance i-786a3A8B5C0d92eF4 (instance profile)" in shown


def test_calls_after_an_exit_are_marked(q: Queries) -> None:
    shown = text_of(session.layout(q, "ASIACOMPOSEDSWITCH02"))
    assert "after exit" in shown and "after its recorded exit" in shown
