"""Terminal listings fit the width and never split an identifier; piped output with no
width known is one row per line (#14)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from tests.cli_demo import AT, build, held, invoke


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build(tmp_path_factory.mktemp("width"))


def _identifiers(sessions: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for s in sessions:
        found.add(s["session_id"])
        found.update(s["access_key_ids"])
        found.update(x for x in (s["role_arn"], s["principal_label"]) if x)
        if s["origin_arn"]:
            found.add(s["origin_arn"])
    return found


def _whole_on_one_line(output: str, identifiers: set[str]) -> list[str]:
    """Identifiers that appear in the output but not whole on a line."""
    lines = output.splitlines()
    flat = "".join(line.strip(" │┃|") for line in lines)
    return [i for i in identifiers if i in flat and not any(i in line for line in lines)]


@pytest.mark.parametrize("columns", [80, 120])
def test_who_held_fits_and_keeps_identifiers_whole(db: str, columns: int) -> None:
    sessions = held(db)
    r = invoke("who-held", "--at", AT, "--db", db, columns=columns)
    assert r.exit_code == 0, r.output
    ids = _identifiers(sessions)
    for s in sessions:
        assert s["session_id"] in r.output
    assert _whole_on_one_line(r.output, ids) == []
    for line in r.output.splitlines():
        # Only a line holding one identifier longer than the width may be wider.
        assert len(line) <= columns or any(i in line and len(i) > columns - 4 for i in ids), line


@pytest.mark.parametrize("columns", [80, 120])
def test_session_and_who_could_keep_identifiers_whole(db: str, columns: int) -> None:
    deep = max(held(db), key=lambda s: s["depth"])
    detail = json.loads(invoke("session", deep["session_id"], "--db", db, "--json").output)
    r = invoke("session", deep["session_id"], "--db", db, columns=columns)
    assert r.exit_code == 0, r.output
    resources = {res for a in detail["actions"] for res in a["resources"]}
    assert _whole_on_one_line(r.output, resources | _identifiers(detail["chain"])) == []
    could = invoke(
        "who-could",
        "--action",
        "s3:GetObject",
        "--resource",
        "*",
        "--at",
        AT,
        "--db",
        db,
        "--show-denied",
        columns=columns,
    )
    assert could.exit_code == 0, could.output
    assert _whole_on_one_line(could.output, _identifiers(held(db))) == []


def test_a_narrow_table_that_fits_is_a_table() -> None:
    from rich.console import Console

    from pipeline.cli.listing import Column, Listing, show

    listing = Listing("keys", (Column("key", identifier=True), Column("note")))
    listing.add("ASIAEXAMPLEKEY000001", "a note that wraps when it must " * 3)
    console = Console(width=60, file=io.StringIO())
    show(listing, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "┃ key" in text and "ASIAEXAMPLEKEY000001" in text
    assert max(len(line) for line in text.splitlines()) <= 60


def test_piped_with_no_width_is_one_row_per_line(db: str) -> None:
    sessions = held(db)
    r = invoke("who-held", "--at", AT, "--db", db, columns=None)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert len(lines) == 2 + len(sessions)  # the title, the header, one line a session
    assert lines[1].split()[:2] == ["session", "role"]
    for line, s in zip(lines[2:], sessions, strict=True):
        assert line.startswith(s["session_id"] + " ")
        assert (s["role_arn"] or "(the user's own)") in line
    # Not forced to 240 columns: the widest line is as wide as its content.
    assert max(len(line) for line in lines) != 240


def test_records_style_only_the_title_and_marked_cells() -> None:
    from rich.console import Console

    from pipeline.cli.listing import Column, Listing, show

    listing = Listing(
        "calls",
        (
            Column("key", identifier=True),
            Column("resource", identifier=True),
            Column("in lifetime", style=lambda v: "bold red" if v.startswith("after") else None),
        ),
    )
    listing.add("ASIAEXAMPLEKEY000001", "arn:aws:s3:::bucket/" + "k" * 40, "after exit")
    console = Console(width=40, file=io.StringIO(), force_terminal=True, color_system="standard")
    show(listing, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert text.count("\x1b[3m") == 1  # italic: the title alone
    assert "\x1b[1;31mafter exit" in text
    assert "arn:aws:s3:::bucket/" + "k" * 40 in text  # whole, on a line of its own
