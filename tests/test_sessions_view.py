"""The session read model's views are the validated model, built fast (#16)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pipeline.events import Event
from pipeline.queries import Queries
from pipeline.sessions import SessionView
from tests import builders as b

Build = Callable[[Sequence[Event]], Queries]


def test_a_view_built_from_the_store_equals_a_validated_one(materialized: Build) -> None:
    q = materialized(
        [
            *b.session("ASIAVIEWKEY00001", "A", 0, session_tags={"team": "red"}),
            b.call("ASIAVIEWKEY00001", 90),
            b.exited(20, session_id="ASIAVIEWKEY00001"),
        ]
    )
    view = q.who_held(at=b.at(5))[0]
    validated = SessionView.model_validate(view.model_dump())
    assert view == validated
    assert view.model_dump(mode="json") == validated.model_dump(mode="json")
    assert view.model_dump(mode="json")["started_at"] == "2026-01-05T09:00:00Z"
    assert view.session_tags == {"team": "red"} and view.ancestor_ids == []
    assert "ancestor_ids" not in view.model_dump()
