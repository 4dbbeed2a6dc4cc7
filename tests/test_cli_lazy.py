"""The lazy group: every command listed with its summary without importing it, start-up
without DuckDB, pyarrow, Kafka or Dash, help examples rendered as written (#14)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.cli.group import RolecallGroup, UnavailableCommand, load
from pipeline.cli.registry import BY_NAME, COMMANDS, CommandEntry

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("duckdb", "pyarrow", "kafka", "dash", "plotly", "fastavro", "pydantic")


def _available() -> list[CommandEntry]:
    return [e for e in COMMANDS if importlib.util.find_spec(e.module) is not None]


def _help(*args: str) -> str:
    r = CliRunner().invoke(main, [*args, "--help"], terminal_width=80)
    assert r.exit_code == 0, r.output
    return r.output


def test_the_group_lists_every_command_with_its_whole_summary() -> None:
    ctx = click.Context(main)
    assert main.list_commands(ctx) == sorted(BY_NAME)
    assert "findings" in BY_NAME  # issue 14's findings command, in whichever build
    listed = "".join(_help().split())  # wrapped anywhere, even after a hyphen
    for entry in COMMANDS:
        assert entry.name + "".join(entry.summary.split()) in listed, entry.name


@pytest.mark.parametrize("entry", _available(), ids=lambda e: e.name)
def test_each_summary_is_its_command_docstring(entry: CommandEntry) -> None:
    command = load(entry)
    assert command.name == entry.name
    first = (command.help or "").split("\n\n")[0]
    assert " ".join(first.split()) == " ".join(entry.summary.split())


def _imported_by(*args: str) -> set[str]:
    code = (
        "import sys\n"
        "from pipeline.cli import main\n"
        "try:\n"
        f"    main({list(args)!r}, prog_name='rolecall')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('\\n'.join(sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return set(done.stderr.split())


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["who-held", "--help"]])
def test_start_up_imports_nothing_heavy(args: list[str]) -> None:
    loaded = _imported_by(*args)
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY or m.startswith("pipeline.store"))
    assert heavy == []


def test_a_query_does_not_load_kafka_or_dash() -> None:
    loaded = _imported_by("who-held", "--at", "2026-01-05T12:00:00Z", "--db", "/nonexistent/x")
    assert not {m for m in loaded if m.split(".")[0] in ("kafka", "dash", "plotly", "fastavro")}


def test_a_query_does_not_load_the_write_path() -> None:
    loaded = _imported_by("who-held", "--at", "2026-01-05T12:00:00Z", "--db", "/nonexistent/x")
    assert "pipeline.queries" in loaded  # the query path was taken
    write_path = {"pipeline.store.batch", "pipeline.store.writer", "pipeline.store.partitioned"}
    assert not loaded & write_path
    assert not {m for m in loaded if m.split(".")[0] == "pyarrow"}


def test_the_bench_sections_restated_for_help_are_the_suite_ones() -> None:
    from bench import suite
    from pipeline.cli import bench

    assert bench.SECTIONS == suite.SECTIONS


def test_a_command_missing_from_the_build_is_one_line() -> None:
    group = RolecallGroup("rolecall")
    for entry in (
        CommandEntry("ghost", "Not here.", "pipeline.cli.no_such_module", "ghost_command"),
        CommandEntry("hollow", "Not here either.", "pipeline.cli.common", "no_such_command"),
    ):
        command = load(entry)
        assert isinstance(command, UnavailableCommand)
        group.add_command(command)
        r = CliRunner().invoke(group, [entry.name, "--anything"])
        assert r.exit_code == 2
        assert r.output.strip().splitlines() == [
            f"rolecall: error: `rolecall {entry.name}` is not in this build "
            f"({entry.module} is missing)"
        ]
        assert "Traceback" not in r.output
        assert entry.summary in CliRunner().invoke(group, [entry.name, "--help"]).output


def _blocks(help_text: str) -> list[list[str]]:
    """The lines of each `\\b` block of a docstring (its examples), as written."""
    blocks = []
    for block in re.split(r"\n\s*\n", help_text):
        if block.lstrip().startswith("\b"):
            blocks.append([line.strip() for line in block.splitlines()[1:] if line.strip()])
    return blocks


@pytest.mark.parametrize("entry", _available(), ids=lambda e: e.name)
def test_help_examples_render_as_written(entry: CommandEntry) -> None:
    """Each example block shows line for line as written: a continued line (ending in a
    backslash) is followed by its continuation, not run into it."""
    blocks = _blocks(load(entry).help or "")
    assert blocks, f"{entry.name} has no example block"
    rendered = [line.strip() for line in _help(entry.name).splitlines()]
    for block in blocks:
        assert block[0] in rendered, f"{entry.name}: {block[0]!r} is not a line of its help"
        at = rendered.index(block[0])
        assert rendered[at : at + len(block)] == block
        for line in block:
            # A backslash-newline in a plain docstring joins two lines with a run of spaces.
            collapsed = re.search(r"\S {3,}-", line)
            assert not collapsed, f"{entry.name}: collapsed line break in {line!r}"


def test_the_cli_defaults_are_the_library_defaults() -> None:
    from pipeline.cli import common
    from pipeline.log import DEFAULT_LOG_URL
    from pipeline.store import DEFAULT_DB_PATH

    assert common.DEFAULT_LOG_URL == DEFAULT_LOG_URL
    assert common.DEFAULT_DB_PATH == DEFAULT_DB_PATH


def test_restated_option_defaults_are_the_library_ones() -> None:
    from pipeline import materializer
    from pipeline.cli import cloudtrail, materialize
    from pipeline.cloudtrail import reader

    assert (materialize.DEFAULT_BATCH_SIZE, materialize.DEFAULT_GROUP) == (
        materializer.DEFAULT_BATCH_SIZE,
        materializer.DEFAULT_GROUP,
    )
    assert (cloudtrail.AUTO, cloudtrail.FORMATS) == (reader.AUTO, reader.FORMATS)


@pytest.mark.parametrize("entry", _available(), ids=lambda e: e.name)
def test_each_command_help_imports_nothing_heavy(entry: CommandEntry) -> None:
    loaded = _imported_by(entry.name, "--help")
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY or m.startswith("pipeline.store"))
    assert heavy == []
