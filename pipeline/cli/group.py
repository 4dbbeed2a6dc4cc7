"""The `rolecall` group: commands loaded when used, rolecall's errors as one clean line.

Start-up is what a user waits for on every query, so this module imports click and the
registry only; DuckDB and the rest load with the command that needs them.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from pipeline.cli.registry import BY_NAME, CommandEntry
from pipeline.errors import RolecallError


class RolecallGroup(click.Group):
    """A click group that knows its commands by name and summary (`registry.COMMANDS`),
    imports each one's module only to run it or show its help, and turns rolecall's
    errors into one line on stderr, no traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*BY_NAME, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = BY_NAME.get(cmd_name)
        if entry is None:
            return None
        command = load(entry)
        self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Every command with its whole summary, without importing any of them."""
        rows = []
        for name in self.list_commands(ctx):
            entry = BY_NAME.get(name)
            if entry is not None:
                rows.append((name, entry.summary))
            elif (command := self.commands.get(name)) is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=200)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RolecallError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            _stderr_line("interrupted")
            sys.exit(130)
        except BrokenPipeError:
            sys.exit(0)
        except Exception as exc:
            from pipeline.cli.failures import describe, storage_error_types

            if not isinstance(exc, storage_error_types()):  # a full disk, a damaged file
                raise
            fail(describe(exc))


def load(entry: CommandEntry) -> click.Command:
    """The command `entry` names; one that is not in this build fails in one line."""
    try:
        module = importlib.import_module(entry.module)
    except ModuleNotFoundError as exc:
        if exc.name != entry.module:
            raise  # the module is there but something it needs is not: a real fault
        return _missing(entry)
    command = getattr(module, entry.attribute, None)
    if not isinstance(command, click.Command):
        return _missing(entry)
    return command


class UnavailableCommand(click.Command):
    """A command the registry names whose module is not in this build."""


def _missing(entry: CommandEntry) -> click.Command:
    why = f"`rolecall {entry.name}` is not in this build ({entry.module} is missing)"

    def unavailable(**_: Any) -> None:
        raise RolecallError(why)

    return UnavailableCommand(
        entry.name,
        callback=unavailable,
        help=f"{entry.summary}\n\nNot available: {why}.",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


def fail(message: str, code: int = 2) -> None:
    from pipeline.cli.common import fail as print_failure

    print_failure(message, code)


def _stderr_line(text: str) -> None:
    click.echo(text, err=True)
