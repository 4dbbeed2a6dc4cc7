"""The session read model: one selector over `sessions`, one view of a session.

Every reader (the query façade, replay, permissions, the dashboard, the CLI) asks for
sessions here, so a session's start, end, end reason and origin come out identical in
every view. Chains, origins and ends (revocations included) were derived when the
session was written (`pipeline.store.chains`, the store's `REFRESH_ENDS`), so in a single file
a question is one plain scan of `sessions`. A question is a `Selection` (filters, a
moment or a window, an order) answered as a page (ordered, with the total count) or as
a stream of every row.

A directory store (one DuckDB file per log partition) resolves each chain inside its
file; a session whose caller's key belongs to a session in another file is stored with
`origin_missing_key` set. `_complete_across_files` finishes those rows at read time in
one batched lookup per file boundary crossed. A role's revocations live in the file of
the role's partition, so a directory store derives ends at read time from every file's
revocations (`STATE_ACROSS_FILES`). A principal filter there also matches origins
completed across files, in Python.

Every value a user supplies travels as a `?` parameter; only constant fragments are
formatted into the SQL.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from pipeline import estimates
from pipeline.lookups import role_condition
from pipeline.store.schema import MAX_CHAIN_DEPTH
from pipeline.timeutil import UtcIso, naive

Order = Literal["started", "newest"]
# Up to this many session ids are looked up through the primary key's index (a chain);
# more are matched by one scan.
_INDEXED_IDS = 64
_ORDER = {"started": "started_at, session_id", "newest": "started_at DESC, session_id"}
# A page's order and row ids, from the narrow columns alone (`SessionReader.page`).
_PAGE_KEYS = "rowid AS page_rowid, started_at AS page_started, session_id AS page_session"
_PAGE_ORDER = {"started": "page_started, page_session", "newest": "page_started DESC, page_session"}

# A directory store keeps a role's revocations in the file of the role's partition, not
# of its sessions': there, the ends are derived again at read time from every file's
# revocations. `{where}` narrows the scan on the plain `started_at` / `base_ends_at`
# columns (zone maps) before revocations (a small table) are joined in.
STATE_ACROSS_FILES = """
WITH candidates AS (
    SELECT s.* EXCLUDE (revoked_at, ends_at, end_reason),
           s.expiry_at AS expiry,
           least(s.exited_at, s.console_exited_at) AS exit_time
    FROM sessions s WHERE {where}
), revoked AS (
    SELECT c.session_id, min(r.event_time) AS revoked_at
    FROM candidates c JOIN revocations r
      ON r.role_arn = c.role_arn
     AND coalesce(c.latest_issued_at, c.started_at) < r.issued_before
     AND r.event_time > c.started_at
    GROUP BY c.session_id
), state AS (
    SELECT c.*, rv.revoked_at,
           -- never before the last successful use: a key used at T was held at T
           greatest(least(c.expiry, c.exit_time, rv.revoked_at),
                    c.last_used_at + INTERVAL 1 SECOND) AS ends_at,
           CASE
               WHEN rv.revoked_at IS NOT NULL AND rv.revoked_at <= least(c.expiry, c.exit_time)
                   THEN 'revoked'
               WHEN c.exit_time IS NOT NULL AND c.exit_time <= c.expiry THEN 'exited'
               ELSE 'expired'
           END AS end_reason
    FROM candidates c LEFT JOIN revoked rv USING (session_id)
)
"""

COLUMNS = """
    session_id, account_id, role_arn, session_name, session_arn, via,
    caller_arn AS principal_arn, caller_type AS principal_type, caller_access_key_id,
    source_identity, started_at, ends_at, end_reason,
    expiry_at AS expires_at, expiry_basis,
    least(exited_at, console_exited_at) AS exited_at, revoked_at, requested_duration_seconds,
    start_estimated, first_used_at, last_used_at,
    coalesce(assumed_at, first_issued_at) AS recorded_start, access_key_ids, session_tags,
    transitive_tag_keys, session_policy, session_policy_arns, mfa_authenticated, source_ip,
    user_agent, parent_session_id, coalesce(ancestor_ids, []) AS ancestor_ids,
    coalesce(depth, 0) AS depth, origin_arn, origin_type,
    coalesce(origin_resolved, FALSE) AS origin_resolved, origin_via, origin_session_name,
    origin_lifecycle_key, origin_missing_key
"""


# The page's rows whole: the id and start from the narrow pass (the id's strings are the
# widest to read again).
_PAGE_COLUMNS = COLUMNS.replace("session_id,", "page_session AS session_id,", 1).replace(
    " started_at,", " page_started AS started_at,", 1
)


class SessionView(BaseModel):
    """One session as readers see it."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    account_id: str | None
    role_arn: str | None
    session_name: str | None
    session_arn: str | None
    via: str | None
    principal_arn: str | None
    principal_type: str | None
    caller_access_key_id: str | None
    origin_arn: str | None
    origin_type: str | None
    origin_resolved: bool
    depth: int
    parent_session_id: str | None
    source_identity: str | None
    origin_label: str
    principal_label: str
    started_at: UtcIso
    started_at_estimated: bool
    started_at_basis: str
    ends_at: UtcIso
    ends_at_estimated: bool
    ends_at_basis: str
    end_reason: str
    expires_at: UtcIso
    expiry_estimated: bool
    exited_at: UtcIso | None
    revoked_at: UtcIso | None
    last_used_at: UtcIso | None
    access_key_ids: list[str]
    session_tags: dict[str, str]
    transitive_tag_keys: list[str]
    session_policy: str | None
    session_policy_arns: list[str]
    mfa_authenticated: bool | None
    source_ip: str | None
    user_agent: str | None
    # From the top-most known session down to the parent: the chain in one lookup.
    ancestor_ids: list[str] = Field(default_factory=list, exclude=True)

    @property
    def sets_aside_caller(self) -> bool:
        """A console switch: the user's own permissions are set aside for the interval."""
        return self.via == "CONSOLE_SWITCH_ROLE"

    @property
    def lifetime_end(self) -> datetime:
        """The end by the record alone: the exit, revocation or expiry (recorded or not)."""
        return min(t for t in (self.expires_at, self.exited_at, self.revoked_at) if t is not None)


@dataclass(frozen=True, kw_only=True)
class SessionFilter:
    """What an investigator narrows sessions to; `None` means any."""

    account_id: str | None = None
    role_arn: str | None = None  # a role's ARN (with or without path) or its name
    principal: str | None = None  # the caller, the origin or the session ARN
    via: str | None = None


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which sessions, in which order: a filter and at most one of a moment or a window."""

    filter: SessionFilter = field(default_factory=SessionFilter)
    at: datetime | None = None  # active at this moment
    overlapping: tuple[datetime, datetime] | None = None  # active during part of [start, end)
    changing: tuple[datetime, datetime] | None = None  # starting or ending in [start, end)
    session_id: str | None = None
    session_ids: Sequence[str] | None = None
    caller_access_key_id: str | None = None
    order: Order = "started"

    def sql(self, *, spans_files: bool = False) -> tuple[str, list[Any], str, list[Any]]:
        """Conditions on the stored columns (zone maps), then on the derived state.

        With `spans_files`, a principal filter keeps the rows whose origin lies in another
        file too (their origin is completed, and matched, after reading).
        """
        where: list[str] = []
        params: list[Any] = []
        picked: list[str] = []
        picked_params: list[Any] = []
        if self.at is not None:
            t = naive(self.at)
            where += ["started_at <= ?", "base_ends_at > ?"]
            params += [t, t]
            picked.append("ends_at > ?")
            picked_params.append(t)
        if self.overlapping is not None:
            s, e = (naive(x) for x in self.overlapping)
            where += ["started_at < ?", "base_ends_at > ?"]
            params += [e, s]
            picked.append("ends_at > ?")
            picked_params.append(s)
        if self.changing is not None:
            # Revocations only shorten a session: its end before them bounds the scan.
            s, e = (naive(x) for x in self.changing)
            where += ["started_at < ?", "base_ends_at >= ?"]
            params += [e, s]
            picked.append(
                "((started_at >= ? AND started_at < ?) OR (ends_at >= ? AND ends_at < ?))"
            )
            picked_params += [s, e, s, e]
        if self.session_id is not None:
            where.append("session_id = ?")
            params.append(self.session_id)
        if self.session_ids is not None:
            ids = list(self.session_ids)
            if len(ids) <= _INDEXED_IDS:  # a literal list of placeholders probes the index
                where.append(f"session_id IN ({', '.join('?' * len(ids)) or 'NULL'})")
                params += ids
            else:
                where.append("session_id IN (SELECT unnest(?::VARCHAR[]))")
                params.append(ids)
        if self.caller_access_key_id is not None:
            where.append("caller_access_key_id = ?")
            params.append(self.caller_access_key_id)
        f = self.filter
        if f.account_id:
            where.append("account_id = ?")
            params.append(f.account_id)
        if f.role_arn:
            # a filter is data: what names no role matches the stored ARN, i.e. nothing
            sql, args = role_condition(f.role_arn, strict=False)
            where.append(sql)
            params += args
        if f.via:
            where.append("via = ?")
            params.append(f.via.upper())
        if f.principal is not None:  # "" names no one: it matches nothing
            open_origin = " OR origin_missing_key IS NOT NULL" if spans_files else ""
            where.append(f"(caller_arn = ? OR session_arn = ? OR origin_arn = ?{open_origin})")
            params += [f.principal] * 3
        return (
            " AND ".join(where) or "TRUE",
            params,
            " AND ".join(picked) or "TRUE",
            picked_params,
        )


class SessionPage(BaseModel):
    """Sessions `offset` to `offset + len(sessions)` of `total`, in the selection's order."""

    model_config = ConfigDict(frozen=True)

    total: int
    offset: int
    sessions: list[SessionView]


def state_sql(
    selection: Selection, columns: str = COLUMNS, *, spans_files: bool = False
) -> tuple[str, list[Any]]:
    """`... picked AS (the selected sessions' state)`: a head other queries build on."""
    where, params, picked, picked_params = selection.sql(spans_files=spans_files)
    if spans_files:
        sql = STATE_ACROSS_FILES.format(where=where)
        sql += f", picked AS (SELECT {columns} FROM state WHERE {picked})"
    else:  # ends were stored when written: one plain scan, cheap to plan
        sql = f"WITH picked AS (SELECT {columns} FROM sessions WHERE {where} AND ({picked}))"
    return sql, [*params, *picked_params]


class SessionReader:
    """Sessions from one DuckDB connection (a file, or a directory store's views).

    `spans_files` says that chains may cross files (a directory store): then rows whose
    chain stops at another file's key are completed, and a principal filter matches the
    completed origins as well.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, spans_files: bool = False) -> None:
        self.con = con
        self.spans_files = spans_files

    def page(
        self, selection: Selection, *, limit: int | None = None, offset: int = 0
    ) -> SessionPage:
        """One page of the selection, with the number of sessions it holds in all."""
        if self._filters_in_python(selection):
            every = list(self.stream(selection))
            end = None if limit is None else offset + limit
            return SessionPage(total=len(every), offset=offset, sessions=every[offset:end])
        if limit is None:
            return self._rest(selection, offset)
        if not self.spans_files:
            return self._page_with_total(selection, limit, offset)
        head, params = state_sql(selection, spans_files=self.spans_files)
        sql = head + f" SELECT * FROM picked ORDER BY {_ORDER[selection.order]} LIMIT ? OFFSET ?"
        with _collection_paused():
            cursor = self.con.execute(sql, [*params, limit, offset])
            views = self._views(cursor, cursor.fetchall())
        # The total comes free when the page is the last one; else one narrow count (a
        # window count would carry every wide row through the sort).
        last = len(views) < limit
        total = offset + len(views) if last and (views or not offset) else self.count(selection)
        return SessionPage(total=total, offset=offset, sessions=views)

    def _page_with_total(self, selection: Selection, limit: int, offset: int) -> SessionPage:
        """A page and its total in one statement (a single file): the order, the page and
        the count are taken from the few narrow columns, then the page's rows alone are
        read whole, by row id. A second statement for the count cost about a tenth of
        the first page at 10M events (#16)."""
        head, params = state_sql(selection, _PAGE_KEYS)
        order = _PAGE_ORDER[selection.order]
        sql = head + (
            ", page AS (SELECT page_rowid, page_started, page_session,"
            " count(*) OVER () AS page_total"
            f" FROM picked ORDER BY {order} LIMIT ? OFFSET ?)"
            f" SELECT {_PAGE_COLUMNS}, page_total"
            " FROM page JOIN sessions ON sessions.rowid = page.page_rowid"
            f" ORDER BY {order}"
        )
        with _collection_paused():
            rows = self.con.execute(sql, [*params, limit, offset]).fetchall()
            views = session_views([row[:-1] for row in rows])
        # past the end (or nothing at all), the count says how many there are
        total = int(rows[0][-1]) if rows else (self.count(selection) if offset else 0)
        return SessionPage(total=total, offset=offset, sessions=views)

    def _rest(self, selection: Selection, offset: int) -> SessionPage:
        """Every session from `offset` on, in the selection's order.

        A single file's rows are read as Arrow columns, sorted there, and made Python
        values column by column: at 10M events, about half the cost of DuckDB's row by
        row conversion of ~10,000 wide rows and its sort (#16). A directory store's rows
        are completed across files first, so they are read as tuples and sorted here.
        """
        head, params = state_sql(selection, spans_files=self.spans_files)
        if not self.spans_files:
            # A cursor of its own: a relation cannot run while the connection still
            # holds an unfinished result (DuckDB 2), and a caller's result stays theirs.
            cursor = self.con.cursor()
            try:
                sql = head + f" SELECT {_ARROW_COLUMNS} FROM picked"
                table = cursor.sql(sql, params=params).to_arrow_table()
            finally:
                cursor.close()
            with _collection_paused():
                views = _arrow_views(table, selection.order, offset)
            return SessionPage(total=table.num_rows, offset=offset, sessions=views)
        with _collection_paused():
            cursor = self.con.execute(head + " SELECT * FROM picked", params)
            rows = _sorted(cursor.fetchall(), selection.order)
            views = self._views(cursor, rows[offset:])
        return SessionPage(total=len(rows), offset=offset, sessions=views)

    def count(self, selection: Selection) -> int:
        head, params = state_sql(selection, "session_id", spans_files=self.spans_files)
        row = self.con.execute(head + " SELECT count(*) FROM picked", params).fetchone()
        return int(row[0]) if row else 0

    def stream(self, selection: Selection, *, chunk: int = 2000) -> Iterator[SessionView]:
        """Every session of the selection in order, converted as it is read."""
        head, params = state_sql(selection, spans_files=self.spans_files)
        sql = head + f" SELECT * FROM picked ORDER BY {_ORDER[selection.order]}"
        cursor = self.con.cursor()  # its own cursor: callers may query between chunks
        try:
            cursor.execute(sql, params)
            principal = selection.filter.principal if self.spans_files else None
            while True:
                with _collection_paused():  # never across a yield: the caller runs there
                    views = self._views(cursor, cursor.fetchmany(chunk))
                if not views:
                    break
                for view in views:
                    if principal is None or principal in (
                        view.principal_arn,
                        view.origin_arn,
                        view.session_arn,
                    ):
                        yield view
        finally:
            cursor.close()

    def all(self, selection: Selection) -> list[SessionView]:
        return list(self.stream(selection))

    def get(self, session_id: str) -> SessionView | None:
        # Not a page: a LIMIT would turn the primary key's probe into a scan.
        found = self.all(Selection(session_id=session_id))
        return found[0] if found else None

    def chain(self, view: SessionView) -> list[SessionView]:
        """Sessions from the origin down to `view` (inclusive), in one query."""
        if not view.ancestor_ids:
            return [view]
        found = self.all(Selection(session_ids=view.ancestor_ids))
        by_id = {v.session_id: v for v in found}
        return [by_id[i] for i in view.ancestor_ids if i in by_id] + [view]

    def _filters_in_python(self, selection: Selection) -> bool:
        return self.spans_files and selection.filter.principal is not None

    def _views(
        self, cursor: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]
    ) -> list[SessionView]:
        """Rows of a `COLUMNS` query as views (chains completed across files first)."""
        if self.spans_files and rows:
            dicts = _dicts(cursor, rows)
            _complete_across_files(self.con, dicts)
            rows = [_column_values(d) for d in dicts]
        return session_views(rows)


def _sorted(rows: list[tuple[Any, ...]], order: Order) -> list[tuple[Any, ...]]:
    """`COLUMNS` rows in a selection's order, as `_ORDER` sorts them in SQL (a session's
    start is always known; its id is unique, and compares alike in Python and DuckDB)."""
    if order == "started":
        rows.sort(key=itemgetter(_STARTED, _SESSION_ID))
    else:  # newest first, ties by id: two stable sorts
        rows.sort(key=itemgetter(_SESSION_ID))
        rows.sort(key=itemgetter(_STARTED), reverse=True)
    return rows


def _arrow_views(table: Any, order: Order, offset: int) -> list[SessionView]:
    """An Arrow table of `_ARROW_COLUMNS` as views in a selection's order, from `offset` on.

    Columns become Python values column by column (pyarrow converts a column in one
    call): the times a view shows come as ISO text in UTC, parsed at C speed into aware
    times; the others stay microseconds since the epoch (compared, never shown). Arrow
    sorts only the indices; taking the wide rows in order would copy them all (#16).
    """
    import pyarrow as pa  # only here: the CLI starts without it
    import pyarrow.compute as pc

    direction = "descending" if order == "newest" else "ascending"
    indices = pc.sort_indices(
        table, sort_keys=[("order_started", direction), ("session_id", "ascending")]
    ).to_pylist()
    parse = datetime.fromisoformat
    columns: list[list[Any]] = []
    for name, column in zip(COLUMN_NAMES, table.columns, strict=False):
        if name in _VIEW_TIMES:
            columns.append([None if t is None else parse(t) for t in column.to_pylist()])
        elif pa.types.is_timestamp(column.type):
            columns.append(column.cast(pa.timestamp("us")).cast(pa.int64()).to_pylist())
        else:
            columns.append(column.to_pylist())
    # zip lazily: the loop unpacks each row at once, so zip reuses one tuple throughout
    views = session_views(zip(*columns, strict=True), times_aware=True)
    return [views[i] for i in indices[offset:]]


@contextmanager
def _collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a bulk answer is built.

    Ten thousand views are some 100,000 new containers, none in a cycle; the collector,
    triggered by their count, traversed them again and again: a third of a who-held
    answer's time at 10M events (#16). Reference counting still frees everything as usual.

    Once built, the answer joins the oldest generation directly (freezing, then unfreezing,
    moves every tracked object there): re-enabled with them young, the collector would
    traverse them all at the next allocation (30 ms at 10,000 views). A cycle among them
    is still collected, by the next full collection. An application that froze objects
    itself (`gc.freeze`, e.g. before forking) is left as it is.
    """
    if not gc.isenabled():  # someone else's choice: left as it is
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()


def _dicts(cursor: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in rows]


_ORIGIN = (
    "origin_arn",
    "origin_type",
    "origin_via",
    "origin_session_name",
    "origin_lifecycle_key",
    "origin_missing_key",
)


def _complete_across_files(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """Carry chains that stop at a key held in another partition file up to their origin.

    Each round is one lookup of every still-missing key; a round crosses one file
    boundary, so a chain crossing n boundaries takes n rounds (n is 0 in a single file).
    """
    for _ in range(MAX_CHAIN_DEPTH):
        waiting = [r for r in rows if r.get("origin_missing_key")]
        if not waiting:
            return
        found = con.execute(
            f"""
            SELECT k.access_key_id, s.session_id, coalesce(s.ancestor_ids, []),
                   coalesce(s.depth, 0), {", ".join(f"s.{c}" for c in _ORIGIN)}
            FROM (SELECT access_key_id, min(session_id) AS session_id FROM key_owner
                  WHERE access_key_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1) k
            JOIN sessions s USING (session_id)
            """,
            [sorted({r["origin_missing_key"] for r in waiting})],
        ).fetchall()
        owners = {f[0]: f for f in found}
        progressed = False
        for r in waiting:
            owner = owners.get(r["origin_missing_key"])
            if owner is None:
                continue
            _, sid, ancestors, depth = owner[:4]
            chain = [*ancestors, sid]
            if r["session_id"] in chain or set(chain) & set(r["ancestor_ids"]):
                continue  # a loop in bad data: stop where it closes
            progressed = True
            r["ancestor_ids"] = [*chain, *r["ancestor_ids"]]
            r["parent_session_id"] = r["parent_session_id"] or sid
            r["depth"] = r["depth"] + 1 + depth
            r.update(zip(_ORIGIN, owner[4:], strict=True))
            r["origin_resolved"] = r["origin_arn"] is not None and not r["origin_missing_key"]
        if not progressed:
            return


def origin_label_of(row: dict[str, Any]) -> str:
    """The origin of a row holding the stored origin columns, in words."""
    return estimates.origin_label(
        origin_arn=row.get("origin_arn"),
        origin_type=row.get("origin_type"),
        resolved=bool(row.get("origin_resolved")),
        top_via=row.get("origin_via", row.get("via")),
        top_session_name=row.get("origin_session_name", row.get("session_name")),
        top_lifecycle_key=row.get("origin_lifecycle_key", row.get("lifecycle_key")),
        missing_key=row.get("origin_missing_key"),
    )


# The state row's columns, in `COLUMNS` order: a row is read by position, not by name.
COLUMN_NAMES = (
    "session_id", "account_id", "role_arn", "session_name", "session_arn", "via",
    "principal_arn", "principal_type", "caller_access_key_id", "source_identity",
    "started_at", "ends_at", "end_reason", "expires_at", "expiry_basis", "exited_at",
    "revoked_at", "requested_duration_seconds", "start_estimated",
    "first_used_at", "last_used_at", "recorded_start", "access_key_ids", "session_tags",
    "transitive_tag_keys", "session_policy", "session_policy_arns", "mfa_authenticated",
    "source_ip", "user_agent", "parent_session_id", "ancestor_ids", "depth", "origin_arn",
    "origin_type", "origin_resolved", "origin_via", "origin_session_name",
    "origin_lifecycle_key", "origin_missing_key",
)  # fmt: skip
_column_values = itemgetter(*COLUMN_NAMES)
# The times a view shows; the others are only compared (`session_views`).
_VIEW_TIMES = frozenset(
    ("started_at", "ends_at", "expires_at", "exited_at", "revoked_at", "last_used_at")
)
# `COLUMNS` for Arrow (`_arrow_views`): the times a view shows as ISO text in UTC, which
# Python parses several times faster than it builds a time from a number; the start
# again, as a time, to sort on.
_ARROW_COLUMNS = (
    ", ".join(
        f"CAST({c} AS VARCHAR) || '+00:00' AS {c}" if c in _VIEW_TIMES else c for c in COLUMN_NAMES
    )
    + ", started_at AS order_started"
)
# Where the order's columns sit in a row (`_sorted`).
_STARTED, _SESSION_ID = COLUMN_NAMES.index("started_at"), COLUMN_NAMES.index("session_id")
_FIELD_SET = frozenset(SessionView.model_fields)
# A model's four slots, set through their descriptors: what `model_construct` sets, at a
# fraction of the cost of `object.__setattr__` by name.
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
# The store keeps naive UTC; an aware time is the aware epoch plus the same offset, which
# is exact and several times cheaper than `replace(tzinfo=UTC)`.
_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=UTC)


def session_view(row: dict[str, Any]) -> SessionView:
    """A state row (every column of `COLUMNS`, by name) as the view readers see."""
    return session_views([_column_values(row)])[0]


def session_views(rows: Iterable[Sequence[Any]], *, times_aware: bool = False) -> list[SessionView]:
    """State rows (tuples in `COLUMNS` order) as the views readers see, their estimates
    and unknowns labelled.

    Written for speed: a who-held answer builds ten thousand of these (#16). Each row is
    unpacked once; labels that rest on values many sessions share (origins, principals,
    settled ends, tags) are computed once per distinct value; times are compared as stored
    and made aware only for the view; the model is built without validating values that
    come typed from our own store (`tests/test_who_held_fast.py` checks every field against
    the validated model and the labels' own functions).

    Times come naive UTC, as DuckDB returns them; with `times_aware`, the times a view
    shows are aware UTC already and the others (the recorded start, the first use) are
    any comparable form (`_arrow_views`).
    """
    views: list[SessionView] = []
    append = views.append
    epoch, epoch_utc = _EPOCH, _EPOCH_UTC
    # One set of field names for the whole answer: copying it per view cost 2 us a
    # view (#16). Sharing is safe: the model is frozen (pydantic adds a name to it only
    # on assignment, which it refuses) and `model_copy` copies the set before updating.
    new, fields_set = SessionView.__new__, set(_FIELD_SET)
    set_dict, set_fields_set, set_extra, set_private = (
        _set_dict,
        _set_fields_set,
        _set_extra,
        _set_private,
    )
    for (
        session_id, account_id, role_arn, session_name, session_arn, via,
        principal_arn, principal_type, caller_access_key_id, source_identity,
        started_at, ends_at, end_reason, expires_at, expiry_basis, exited_at,
        revoked_at, requested_duration_seconds, start_estimated,
        first_used_at, last_used_at, recorded_start, access_key_ids, session_tags,
        transitive_tag_keys, session_policy, session_policy_arns, mfa_authenticated,
        source_ip, user_agent, parent_session_id, ancestor_ids, depth, origin_arn,
        origin_type, origin_resolved, origin_via, origin_session_name,
        origin_lifecycle_key, origin_missing_key,
    ) in rows:  # fmt: skip
        resolved = bool(origin_resolved)
        basis = expiry_basis or "recorded"
        if times_aware:
            started, ends, expires = started_at, ends_at, expires_at
            exited, revoked, last_used = exited_at, revoked_at, last_used_at
        else:
            started = epoch_utc + (started_at - epoch)
            ends = epoch_utc + (ends_at - epoch)
            expires = None if expires_at is None else epoch_utc + (expires_at - epoch)
            exited = None if exited_at is None else epoch_utc + (exited_at - epoch)
            revoked = None if revoked_at is None else epoch_utc + (revoked_at - epoch)
            last_used = None if last_used_at is None else epoch_utc + (last_used_at - epoch)
        if last_used_at is not None and _used_after_end(ends_at, expires_at, exited_at, revoked_at):
            end_estimated = True
            end_basis = estimates.used_after_end_basis(
                estimates.EndFacts(
                    end_reason=end_reason,
                    ends_at=ends,
                    expires_at=expires,
                    expiry_basis=basis,
                    requested_duration_seconds=requested_duration_seconds,
                    exited_at=exited,
                    revoked_at=revoked,
                    last_used_at=last_used,
                )
            )
        else:
            end_estimated, end_basis = _settled_end_labels(
                end_reason, basis, requested_duration_seconds
            )
        no_record = bool(start_estimated) or recorded_start is None
        start_basis = _start_basis(
            no_record,
            not no_record and first_used_at is not None and first_used_at < recorded_start,
        )
        values = {
            "session_id": session_id,
            "account_id": account_id,
            "role_arn": role_arn,
            "session_name": session_name,
            "session_arn": session_arn,
            "via": via,
            "principal_arn": principal_arn,
            "principal_type": principal_type,
            "caller_access_key_id": caller_access_key_id,
            "origin_arn": origin_arn,
            "origin_type": origin_type,
            "origin_resolved": resolved,
            "depth": 0 if depth is None else depth,
            "parent_session_id": parent_session_id,
            "source_identity": source_identity,
            "origin_label": _origin_label(
                origin_arn,
                origin_type,
                resolved,
                origin_via,
                origin_session_name,
                origin_lifecycle_key,
                origin_missing_key,
            ),
            "principal_label": (
                principal_arn if principal_arn is not None else _principal_label(None, via)
            ),
            "started_at": started,
            "started_at_estimated": start_basis != "recorded",
            "started_at_basis": start_basis,
            "ends_at": ends,
            "ends_at_estimated": end_estimated,
            "ends_at_basis": end_basis,
            "end_reason": end_reason,
            "expires_at": expires,
            "expiry_estimated": basis != "recorded",
            "exited_at": exited,
            "revoked_at": revoked,
            "last_used_at": last_used,
            "access_key_ids": [] if access_key_ids is None else access_key_ids,
            "session_tags": (
                dict(_parsed_tags(session_tags)) if session_tags and session_tags != "{}" else {}
            ),
            "transitive_tag_keys": [] if transitive_tag_keys is None else transitive_tag_keys,
            "session_policy": session_policy,
            "session_policy_arns": [] if session_policy_arns is None else session_policy_arns,
            "mfa_authenticated": mfa_authenticated,
            "source_ip": source_ip,
            "user_agent": user_agent,
            "ancestor_ids": [] if ancestor_ids is None else ancestor_ids,
        }
        # What pydantic's `model_construct` does, minus its per-call bookkeeping.
        view = new(SessionView)
        set_dict(view, values)
        set_fields_set(view, fields_set)
        set_extra(view, None)
        set_private(view, None)
        append(view)
    return views


def _used_after_end(
    ends_at: datetime,
    expires_at: datetime | None,
    exited_at: datetime | None,
    revoked_at: datetime | None,
) -> bool:
    """Whether the end lies past the record's own end (exit, revocation or expiry)."""
    end = expires_at
    if exited_at is not None and (end is None or exited_at < end):
        end = exited_at
    if revoked_at is not None and (end is None or revoked_at < end):
        end = revoked_at
    return end is not None and ends_at > end


@lru_cache(maxsize=1024)
def _parsed_tags(text: str) -> dict[str, str]:
    parsed: dict[str, str] = json.loads(text)
    return parsed  # shared: callers copy it


@lru_cache(maxsize=4096)
def _origin_label(
    arn: str | None,
    kind: str | None,
    resolved: bool,
    via: str | None,
    session_name: str | None,
    lifecycle_key: str | None,
    missing_key: str | None,
) -> str:
    return estimates.origin_label(
        origin_arn=arn,
        origin_type=kind,
        resolved=resolved,
        top_via=via,
        top_session_name=session_name,
        top_lifecycle_key=lifecycle_key,
        missing_key=missing_key,
    )


_principal_label = lru_cache(maxsize=4096)(estimates.principal_label)
_settled_end_labels = lru_cache(maxsize=1024)(estimates.settled_end_labels)


@lru_cache(maxsize=4)
def _start_basis(no_record: bool, used_before_record: bool) -> str:
    return estimates.start_basis_of(no_record=no_record, used_before_record=used_before_record)
