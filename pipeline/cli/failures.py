"""Storage failures (a full disk, a damaged database file) as one line a user can act on.

DuckDB reports them as `duckdb.Error`s whose first line says what happened, and the
writer's rollback after a failed commit raises a second error whose context is the real
one; so the whole chain is searched for the cause. DuckDB is not imported here: an error
can only be DuckDB's once DuckDB is loaded, and the CLI's start-up must not load it.
"""

from __future__ import annotations

import errno
import sys

_NO_SPACE = "No space left on device"


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _duckdb_error() -> tuple[type[Exception], ...]:
    duckdb = sys.modules.get("duckdb")
    error: type[Exception] | None = getattr(duckdb, "Error", None)
    return () if error is None else (error,)


def storage_error_types() -> tuple[type[Exception], ...]:
    """What a storage failure is raised as: OSError, and DuckDB's errors once loaded."""
    return (OSError, *_duckdb_error())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def is_storage_failure(exc: BaseException) -> bool:
    kinds = storage_error_types()
    return any(isinstance(e, kinds) for e in _chain(exc))


def describe(exc: BaseException) -> str:
    """One line for a DuckDB or operating-system failure (its cause, not its traceback)."""
    chain = _chain(exc)
    duckdb_error = _duckdb_error()
    for e in chain:
        if (isinstance(e, OSError) and e.errno == errno.ENOSPC) or _NO_SPACE in str(e):
            return "no space left on device: " + _first_line(e).removeprefix(
                "TransactionContext Error: "
            )
    for e in chain:
        if isinstance(e, duckdb_error) and "corrupt" in str(e).lower():
            return (
                f"the database file is damaged ({_first_line(e)}); restore it from a copy, "
                "or rebuild it from the log with `rolecall materialize --db NEW`"
            )
    for e in chain:
        if isinstance(e, duckdb_error) and "Out of Memory Error" in str(e):
            return (
                f"DuckDB ran out of the memory it may use ({_first_line(e)}); what failed "
                "was not stored: raise the cap with ROLECALL_MEMORY_LIMIT (default 1GB, "
                "e.g. ROLECALL_MEMORY_LIMIT=4GB) and run the command again"
            )
    for e in chain:
        if isinstance(e, OSError):
            where = f"{e.filename}: " if e.filename else ""
            return f"{where}{e.strerror or _first_line(e)}"
    return f"the database failed: {_first_line(chain[-1])}"
