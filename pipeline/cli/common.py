"""What every command shares: options, output, and turning errors into one clean line.

Kept light: the CLI's start-up imports nothing it does not need (no DuckDB, pyarrow,
pydantic or Kafka here), so the defaults below are the library's, restated and held
equal to them by a test.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

import click
from rich.console import Console

from pipeline.cli.listing import out
from pipeline.errors import RolecallError

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_LOG_URL = "file:./data/log"  # pipeline.log.DEFAULT_LOG_URL
DEFAULT_DB_PATH = "./data/rolecall.duckdb"  # pipeline.store.DEFAULT_DB_PATH

stderr = Console(stderr=True, highlight=False, soft_wrap=True)

__all__ = ["out", "stderr"]


def log_option(func: F) -> F:
    return click.option(
        "--log",
        "log_url",
        default=DEFAULT_LOG_URL,
        envvar="ROLECALL_LOG",
        show_default=True,
        show_envvar=True,
        help="The event log: file:DIR (embedded) or kafka://HOST:PORT/TOPIC "
        "(through confluent-kafka; add ?client=kafka-python for kafka-python).",
    )(func)


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db_path",
        default=DEFAULT_DB_PATH,
        envvar="ROLECALL_DB",
        show_default=True,
        show_envvar=True,
        type=click.Path(),
        help="The DuckDB database file, or a directory (DIR/) of one file per log "
        "partition, for several materializers in one Kafka consumer group.",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        func
    )


def csv_option(func: F) -> F:
    return click.option(
        "--csv",
        "as_csv",
        is_flag=True,
        help="Print CSV (a header row, then one row per line) instead of a table.",
    )(func)


def one_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise click.UsageError("--json and --csv exclude each other: choose one")


class TimeParam(click.ParamType[datetime]):
    """An ISO 8601 time on the command line (UTC when no zone is given)."""

    name = "ISO8601"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        from pipeline.timeutil import parse_time  # pydantic: loaded when a time is given

        try:
            return parse_time(str(value))
        except RolecallError as exc:
            self.fail(str(exc), param, ctx)


TIME = TimeParam()


def _plain(v: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(v, BaseModel):
        return v.model_dump(mode="json")
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def emit_json(value: Any) -> None:
    """Print a model, a list of models or plain data as JSON on stdout."""
    click.echo(json.dumps(_plain(value), indent=2, default=str))


def emit_json_list(items: Iterable[Any]) -> None:
    """Print a JSON list item by item as `items` yields them: the same text as
    `emit_json(list(items))`, without holding every item first."""
    first = True
    for item in items:
        text = json.dumps(_plain(item), indent=2, default=str).replace("\n", "\n  ")
        click.echo(("[\n  " if first else ",\n  ") + text, nl=False)
        first = False
    click.echo("[]" if first else "\n]")


def heading(text: str) -> None:
    """A rule across the terminal, or the plain title when the width is unknown."""
    console = out()
    if console.width >= 1000:
        console.print(f"── {text} ──")
    else:
        console.rule(f"[bold]{text}")


def fail(message: str, code: int = 2) -> None:
    stderr.print(f"[bold red]rolecall: error:[/] {message}", markup=True)
    sys.exit(code)
