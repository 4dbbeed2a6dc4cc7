"""A listing the CLI prints: as a table that fits the terminal, as records, or as CSV.

An identifier (an ARN, a key id, a session id) is printed whole: never wrapped,
truncated or split across lines, so that it can be copied and searched for. A table
whose identifiers do not fit the width is printed as one record per row instead, each
identifier on a line of its own. Piped output with no width known (`COLUMNS` unset) is
not wrapped at all: one row per line, for grep and pagers.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

UNKNOWN = "unknown"
# Width of the console when output is piped and no width is known: wide enough that
# nothing wraps, so a table prints one row per line.
UNBOUNDED = 100_000
# A column that is not an identifier may be narrowed down to its longest word, within
# these bounds, before the table gives way to records.
_NARROWEST, _WIDEST_WORD = 8, 24


def output_width() -> int | None:
    """The width to print to: the terminal's, else `COLUMNS` when set, else None (piped,
    width unknown)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return os.get_terminal_size(sys.stdout.fileno()).columns
    return None


def out() -> Console:
    """A console for stdout at the width `output_width` gives (unbounded when unknown)."""
    width = output_width()
    if width is None:
        return Console(highlight=False, width=UNBOUNDED, soft_wrap=True)
    return Console(highlight=False, width=width)


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    identifier: bool = False  # printed whole, never wrapped or cut
    style: Callable[[str], str | None] | None = None  # a cell's style from its text


@dataclass(slots=True)
class Listing:
    """Rows of text under named columns; what is not known says so ("unknown")."""

    title: str
    columns: tuple[Column, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)

    def add(self, *values: str | None) -> None:
        if len(values) != len(self.columns):
            raise ValueError(f"{len(values)} values for {len(self.columns)} columns")
        self.rows.append(tuple(UNKNOWN if v is None else v for v in values))

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def show(listing: Listing, console: Console | None = None) -> None:
    """Print `listing` as a table if it fits, else as records."""
    console = console or out()
    if console.width >= UNBOUNDED:
        print_columns(listing, console)
    elif fits(listing, console.width):
        console.print(table_of(listing))
    else:
        print_records(listing, console)


def _natural(listing: Listing, index: int) -> int:
    cells = [listing.columns[index].name, *(row[index] for row in listing.rows)]
    return max(cell_len(c) for c in cells)


def _narrowest(listing: Listing, index: int) -> int:
    words = [w for row in listing.rows for w in row[index].split()] or [""]
    longest = max(cell_len(w) for w in words)
    return min(_natural(listing, index), max(_NARROWEST, min(longest, _WIDEST_WORD)))


def print_columns(listing: Listing, console: Console) -> None:
    """Piped, width unknown: the title, a header and one line per row, in aligned
    columns two spaces apart and nothing wrapped, for grep, awk and pagers."""
    widths = [_natural(listing, i) for i in range(len(listing.columns))]
    text = Text(listing.title + "\n")
    for index, row in enumerate([listing.header, *listing.rows]):
        for i, (column, value) in enumerate(zip(listing.columns, row, strict=True)):
            pad = "" if i == len(widths) - 1 else " " * (widths[i] - cell_len(value) + 2)
            style = column.style(value) if column.style and index else None
            text.append(value, style=style or ("bold" if not index else None))
            text.append(pad)
        text.append("\n")
    console.print(text, soft_wrap=True, end="")


def fits(listing: Listing, width: int) -> bool:
    """Whether the table fits `width` with every identifier whole."""
    needed = sum(
        _natural(listing, i) if c.identifier else _narrowest(listing, i)
        for i, c in enumerate(listing.columns)
    )
    return needed + 3 * len(listing.columns) + 1 <= width  # padding and borders


def table_of(listing: Listing) -> Table:
    table = Table(title=listing.title, title_justify="left")
    for i, column in enumerate(listing.columns):
        if column.identifier:
            table.add_column(column.name, no_wrap=True, min_width=_natural(listing, i))
        else:
            table.add_column(column.name, overflow="fold")
    for row in listing.rows:
        table.add_row(*(_cell(c, v) for c, v in zip(listing.columns, row, strict=True)))
    return table


def _cell(column: Column, value: str) -> Text:
    style = column.style(value) if column.style else None
    return Text(value, style=style or "", no_wrap=column.identifier)


def print_records(listing: Listing, console: Console) -> None:
    """One block per row: its first value alone, then each other value under its name.

    Written as one text that the console does not wrap: other values are wrapped here at
    spaces, with a hanging indent; an identifier is never wrapped, and one that does not
    fit beside its name goes on a line of its own.
    """
    width = console.width
    label_width = max((cell_len(c.name) for c in listing.columns[1:]), default=0)
    indent = 2 + label_width + 2
    text = Text()
    text.append(listing.title, style="italic")
    for row in listing.rows:
        text.append("\n\n")
        first, *rest = zip(listing.columns, row, strict=True)
        _append(text, first[0], first[1])
        for column, value in rest:
            if column.identifier and indent + cell_len(value) > width:
                text.append(f"\n  {column.name}:\n")
                _append(text, column, value)
                continue
            text.append(f"\n  {column.name:<{label_width}}  ")
            if column.identifier:
                _append(text, column, value)
            else:
                lines = textwrap.wrap(value, max(width - indent, 20)) or [value]
                _append(text, column, ("\n" + " " * indent).join(lines))
    text.append("\n")
    console.print(text, soft_wrap=True)


def _append(text: Text, column: Column, value: str) -> None:
    style = column.style(value) if column.style else None
    text.append(value, style=style or None)


def csv_text(listing: Listing) -> str:
    """The listing as CSV: a header row, then the rows with the words the table uses."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(listing.header)
    writer.writerows(listing.rows)
    return buffer.getvalue()


def emit_csv(listing: Listing) -> None:
    import click

    click.echo(csv_text(listing), nl=False)
