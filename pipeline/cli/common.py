"""What every command shares: options, output, and turning errors into one clean line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

import click
import duckdb
from pydantic import BaseModel
from rich.console import Console

from pipeline.cli.failures import describe
from pipeline.errors import RolecallError
from pipeline.log import DEFAULT_LOG_URL
from pipeline.store import DEFAULT_DB_PATH
from pipeline.timeutil import parse_time

F = TypeVar("F", bound=Callable[..., Any])

# Wide when piped, so that chains and ARNs are not cut for a file or a pager.
stdout = Console(highlight=False, width=None if sys.stdout.isatty() else 240)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def log_option(func: F) -> F:
    return click.option(
        "--log",
        "log_url",
        default=DEFAULT_LOG_URL,
        envvar="ROLECALL_LOG",
        show_default=True,
        show_envvar=True,
        help="The event log: file:DIR (embedded) or kafka://HOST:PORT/TOPIC.",
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


class TimeParam(click.ParamType[datetime]):
    """An ISO 8601 time on the command line (UTC when no zone is given)."""

    name = "ISO8601"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_time(str(value))
        except RolecallError as exc:
            self.fail(str(exc), param, ctx)


TIME = TimeParam()


def emit_json(value: Any) -> None:
    """Print a model, a list of models or plain data as JSON on stdout."""

    def plain(v: Any) -> Any:
        if isinstance(v, BaseModel):
            return v.model_dump(mode="json")
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    click.echo(json.dumps(plain(value), indent=2, default=str))


def emit_json_list(items: Iterable[Any]) -> None:
    """Print a JSON list item by item as `items` yields them: the same text as
    `emit_json(list(items))`, without holding every item first."""
    first = True
    for item in items:
        plain: Any = item
        if isinstance(item, BaseModel):
            plain = item.model_dump(mode="json")
        text = json.dumps(plain, indent=2, default=str).replace("\n", "\n  ")
        click.echo(("[\n  " if first else ",\n  ") + text, nl=False)
        first = False
    click.echo("[]" if first else "\n]")


def fail(message: str, code: int = 2) -> None:
    stderr.print(f"[bold red]rolecall: error:[/] {message}", markup=True)
    sys.exit(code)


class RolecallGroup(click.Group):
    """A click group that turns rolecall's errors into one line on stderr, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RolecallError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            stderr.print("interrupted")
            sys.exit(130)
        except BrokenPipeError:
            sys.exit(0)
        except (duckdb.Error, OSError) as exc:  # a full disk, a damaged database file
            fail(describe(exc))
