"""The query API: every question the CLI and the dashboard ask, answered from DuckDB.

A thin façade: sessions come from the read model (`pipeline.sessions`), where chains
and origins were resolved when written; replay pictures from `pipeline.replay`;
permissions in time from `pipeline.permissions`. Readers never write.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from pipeline import replay
from pipeline.errors import NotFoundError
from pipeline.findings import Finding, FindingFilter
from pipeline.findings.reading import pending_findings, read_findings
from pipeline.investigation import (
    ACTION_COLUMNS,
    ActionView,
    GrantInterval,
    LongTermKeyTrace,
    SessionDetail,
    Trace,
    action_view,
    is_temporary_key,
    lifetime_of,
)
from pipeline.lookups import access_key, looks_like_key, role_condition
from pipeline.lookups import account_id as account_id_of
from pipeline.replay import ActiveSessions, Facets, LaneKind, ReplayEvent, Timeline
from pipeline.sessions import (
    Selection,
    SessionFilter,
    SessionPage,
    SessionReader,
    SessionView,
    origin_label_of,
    state_sql,
)
from pipeline.store.reading import open_read_only
from pipeline.timeutil import iso, to_utc

if TYPE_CHECKING:
    # Loaded by the methods that need them: the policy evaluator is not needed to ask who
    # held a role, and the CLI's start-up is what a user waits for on every query.
    from pipeline import permissions
    from pipeline.pivots import CallMark, Pivot
    from pipeline.policy import Decision

__all__ = [
    "ADMIN_POLICY_ARN",
    "ActionView",
    "GrantInterval",
    "LongTermKeyTrace",
    "Queries",
    "SessionDetail",
    "SessionFilter",
    "SessionPage",
    "SessionView",
    "Trace",
]

ADMIN_POLICY_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"


def _rows(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class Queries:
    """Read-side API over one DuckDB connection (a file, or a directory store's views)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, spans_files: bool = False) -> None:
        self.con = con
        self.sessions = SessionReader(con, spans_files=spans_files)

    @classmethod
    def open(cls, db_path: str | Path) -> Queries:
        """Open a database file, or a directory of partition files, read-only."""
        store = open_read_only(db_path)
        return cls(store.con, spans_files=store.spans_files)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Queries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- findings (pipeline.findings) ------------------------------------------------

    def findings(
        self, flt: FindingFilter | None = None, *, limit: int | None = None
    ) -> list[Finding]:
        """Findings matching `flt`, newest first (an unknown rule or severity is an error)."""
        return read_findings(self.con, flt, limit=limit)

    def findings_pending(self) -> int:
        """How many stored sessions, keys and principals still wait for their findings
        (0: the findings are up to date with every stored event)."""
        return pending_findings(self.con)

    def findings_of_session(self, session_id: str) -> list[Finding]:
        """A session's findings, newest first."""
        return read_findings(self.con, FindingFilter(session_id=session_id))

    # -- questions -------------------------------------------------------------------

    def held_at(
        self,
        *,
        at: datetime,
        role_arn: str | None = None,
        principal_arn: str | None = None,
        account_id: str | None = None,
        via: str | None = None,
    ) -> Selection:
        """The selection of sessions active at `at` (an unknown role or account is an error)."""
        account = None
        if role_arn is not None:
            sql, args = role_condition(role_arn)
            self._require_known("role", role_arn, sql, args)
        if account_id is not None:
            account = account_id_of(account_id)
            self._require_known("account", account, "account_id = ?", [account])
        flt = SessionFilter(account_id=account, role_arn=role_arn, principal=principal_arn, via=via)
        return Selection(filter=flt, at=to_utc(at))

    def who_held(
        self,
        *,
        at: datetime,
        role_arn: str | None = None,
        principal_arn: str | None = None,
        account_id: str | None = None,
        via: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[SessionView]:
        """Sessions active at `at`: started at or before it, ending after it (in start order)."""
        return self.who_held_page(
            at=at,
            role_arn=role_arn,
            principal_arn=principal_arn,
            account_id=account_id,
            via=via,
            limit=limit,
            offset=offset,
        ).sessions

    def who_held_page(
        self,
        *,
        at: datetime,
        role_arn: str | None = None,
        principal_arn: str | None = None,
        account_id: str | None = None,
        via: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> SessionPage:
        """A page of the sessions active at `at`, with how many there are in all."""
        selection = self.held_at(
            at=at, role_arn=role_arn, principal_arn=principal_arn, account_id=account_id, via=via
        )
        return self.sessions.page(selection, limit=limit, offset=offset)

    def who_held_stream(
        self,
        *,
        at: datetime,
        role_arn: str | None = None,
        principal_arn: str | None = None,
        account_id: str | None = None,
        via: str | None = None,
    ) -> Iterator[SessionView]:
        """Every session active at `at`, in start order, converted as it is read."""
        selection = self.held_at(
            at=at, role_arn=role_arn, principal_arn=principal_arn, account_id=account_id, via=via
        )
        return self.sessions.stream(selection)

    def _require_known(self, what: str, value: str, sql: str, params: list[Any]) -> None:
        """An unknown role or account is said, not answered with silence."""
        found = self.con.execute(f"SELECT 1 FROM sessions WHERE {sql} LIMIT 1", params).fetchone()
        if found is None:
            raise NotFoundError(f"no session of {what} {value!r} anywhere in the store")

    def session(self, session_id: str) -> SessionDetail:
        """One session by its id, or by any access key it held."""
        ident = session_id.strip()
        view = self.sessions.get(ident) if ident else None
        if view is None:
            if not looks_like_key(ident):
                raise NotFoundError(f"no session {session_id!r} in the store")
            view = self.session_for_key(ident)
        return SessionDetail(
            session=view,
            chain=self.sessions.chain(view),
            credentials=self._credentials(view.session_id),
            actions=self._actions_of(view),
        )

    def session_for_key(self, access_key_id: str) -> SessionView:
        key = access_key(access_key_id)
        # Every row of the key (an index probe), the latest issue picked here: an ORDER BY
        # with LIMIT in SQL would scan the whole table instead.
        held = self.con.execute(
            "SELECT session_id, issued_at FROM credentials WHERE access_key_id = ?", [key]
        ).fetchall()
        row = min(held, key=lambda r: (-r[1].timestamp(), r[0])) if held else None
        if row is None:
            used = self.con.execute(
                "SELECT count(*) FROM actions WHERE access_key_id = ?", [key]
            ).fetchone()
            if used and used[0]:
                raise NotFoundError(
                    f"access key {key!r} made {used[0]} recorded calls, but no session holds it "
                    "(its calls name no account or session to infer one from)"
                )
            raise NotFoundError(
                f"no session holds access key {key!r}, and it made no recorded call"
            )
        view = self.sessions.get(row[0])
        if view is None:  # a credential row always has its session row; say so if not
            raise NotFoundError(f"access key {key!r} names session {row[0]!r}, not in the store")
        return view

    def trace(self, access_key_id: str) -> Trace | LongTermKeyTrace:
        """An access key to its session, up the chain to the origin.

        A long-term key (`AKIA...`) has no session: its trace is its IAM user, the sessions
        it opened and its recorded calls.
        """
        key = access_key(access_key_id)
        if not is_temporary_key(key):
            return self._long_term_trace(key)
        view = self.session_for_key(key)
        return Trace(
            access_key_id=key,
            session_id=view.session_id,
            origin_arn=view.origin_arn,
            origin_resolved=view.origin_resolved,
            origin_label=view.origin_label,
            chain=self.sessions.chain(view),
        )

    def _long_term_trace(self, key: str, *, limit: int = 1000) -> LongTermKeyTrace:
        sessions = self.sessions.all(Selection(caller_access_key_id=key))
        rows = _rows(
            self.con.execute(
                f"SELECT {ACTION_COLUMNS} FROM actions WHERE access_key_id = ? "
                "ORDER BY event_time, event_id LIMIT ?",
                [key, limit],
            )
        )
        counted = self.con.execute(
            "SELECT count(*) FROM actions WHERE access_key_id = ?", [key]
        ).fetchone()
        total = int(counted[0]) if counted else 0
        if not sessions and not total:
            raise NotFoundError(
                f"long-term key {key!r} opened no session and made no recorded call"
            )
        principals = [s.principal_arn for s in sessions if s.principal_arn]
        principals += [r["principal_arn"] for r in rows if r["principal_arn"]]
        principal = principals[0] if principals else None
        return LongTermKeyTrace(
            access_key_id=key,
            principal_arn=principal,
            principal_label=principal or "unknown: its calls name no principal",
            sessions=sessions,
            # a long-term key's calls are the user's own: no session lifetime to fall in
            actions=[
                action_view(r).model_copy(update={"lifetime": "no session (long-term key)"})
                for r in rows
            ],
            actions_total=total,
        )

    def _credentials(self, session_id: str) -> list[dict[str, Any]]:
        rows = _rows(
            self.con.execute(
                "SELECT access_key_id, min(issued_at) AS issued_at, max(expires_at) AS expires_at "
                "FROM credentials WHERE session_id = ? GROUP BY access_key_id ORDER BY issued_at",
                [session_id],
            )
        )
        return [
            {
                "access_key_id": r["access_key_id"],
                "issued_at": iso(r["issued_at"]),
                "expires_at": iso(r["expires_at"]),
            }
            for r in rows
        ]

    def actions(self, session_id: str, *, limit: int = 1000) -> list[ActionView]:
        """Calls made with the session's keys (allowed and denied), in time order.

        Each is marked with where it falls in the session's lifetime, so that a call made
        after an exit, a revocation or an expiry stands out.
        """
        view = self.sessions.get(session_id)
        if view is None:
            return [action_view(r) for r in self._action_rows(session_id, limit)]
        return self._actions_of(view, limit=limit)

    def _actions_of(self, s: SessionView, *, limit: int = 1000) -> list[ActionView]:
        views = [action_view(r) for r in self._action_rows(s.session_id, limit)]
        return [a.model_copy(update={"lifetime": lifetime_of(a.event_time, s)}) for a in views]

    def _action_rows(self, session_id: str, limit: int) -> list[dict[str, Any]]:
        return _rows(
            self.con.execute(
                f"SELECT {ACTION_COLUMNS} FROM actions "
                "WHERE session_id = ? OR access_key_id IN "
                "(SELECT access_key_id FROM credentials WHERE session_id = ?) "
                "ORDER BY event_time, event_id LIMIT ?",
                [session_id, session_id, limit],
            )
        )

    def time_range(self) -> tuple[datetime, datetime] | None:
        row = self.con.execute("SELECT min(started_at), max(base_ends_at) FROM sessions").fetchone()
        if row is None or row[0] is None:
            return None
        return to_utc(row[0]), to_utc(row[1])

    def counts(self) -> dict[str, int]:
        sql = """SELECT
            (SELECT count(*) FROM events) AS events,
            (SELECT count(*) FROM sessions) AS sessions,
            (SELECT count(DISTINCT role_arn) FROM sessions) AS roles,
            (SELECT count(*) FROM actions) AS actions,
            (SELECT count(*) FROM actions WHERE outcome = 'DENIED') AS denied_actions,
            (SELECT count(*) FROM revocations) AS revocations,
            (SELECT count(*) FROM policy_changes) AS policy_changes,
            (SELECT count(*) FROM dead_letters) AS dead_letters"""
        return {k: int(v) for k, v in _rows(self.con.execute(sql))[0].items()}

    def grant_intervals(self, policy_arn: str = ADMIN_POLICY_ARN) -> list[GrantInterval]:
        """When each role had `policy_arn` attached, from the policy history."""
        rows = self.con.execute(
            """
            WITH changes AS (
                SELECT target_arn, event_time, change_type,
                       lead(event_time) OVER (PARTITION BY target_arn
                                              ORDER BY event_time, change_type) AS next_time
                FROM policy_changes
                WHERE target_type = 'ROLE' AND policy_arn = ?
                  AND change_type IN ('ATTACH_MANAGED_POLICY', 'DETACH_MANAGED_POLICY')
            )
            SELECT target_arn, event_time, next_time FROM changes
            WHERE change_type = 'ATTACH_MANAGED_POLICY'
            ORDER BY target_arn, event_time
            """,
            [policy_arn],
        ).fetchall()
        return [
            GrantInterval(
                role_arn=r[0],
                policy_arn=policy_arn,
                granted_at=to_utc(r[1]),
                removed_at=to_utc(r[2]) if r[2] else None,
            )
            for r in rows
        ]

    def holders(
        self, role_arn: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Who held a role (within `[start, end)` if given): one row per origin."""
        flt = SessionFilter(role_arn=role_arn)
        if start is not None and end is not None:
            selection = Selection(filter=flt, overlapping=(start, end))
        elif start is not None:
            selection = Selection(filter=flt, overlapping=(start, datetime.max))
        elif end is not None:
            selection = Selection(filter=flt, overlapping=(datetime.min, end))
        else:
            selection = Selection(filter=flt)
        by_origin: dict[str, dict[str, Any]] = {}
        for group in self._origin_groups(selection):
            # An unknown origin is grouped by what is known of it (its label says why).
            key = group["origin_label"]
            entry = by_origin.setdefault(
                key,
                {
                    "origin_arn": group["origin_arn"] if group["origin_resolved"] else None,
                    "origin_label": key,
                    "sessions": 0,
                    "first": group["first"],
                    "last": group["last"],
                },
            )
            entry["sessions"] += group["sessions"]
            entry["first"] = min(entry["first"], group["first"])
            entry["last"] = max(entry["last"], group["last"])
        return sorted(by_origin.values(), key=lambda e: (-e["sessions"], e["origin_label"]))

    def _origin_groups(self, selection: Selection) -> Iterator[dict[str, Any]]:
        """The selection's sessions counted by origin: in SQL where origins are stored
        whole (a single file), else from the completed views (a directory store)."""
        if self.sessions.spans_files:
            for s in self.sessions.stream(selection):
                yield {
                    "origin_arn": s.origin_arn,
                    "origin_resolved": s.origin_resolved,
                    "origin_label": s.origin_label,
                    "sessions": 1,
                    "first": s.started_at,
                    "last": s.ends_at,
                }
            return
        origin = (
            "origin_arn, origin_type, origin_resolved, via, session_name, lifecycle_key, "
            "origin_via, origin_session_name, origin_lifecycle_key, origin_missing_key"
        )
        head, params = state_sql(selection, f"{origin}, started_at, ends_at")
        rows = _rows(
            self.con.execute(
                head + f" SELECT {origin}, count(*) AS sessions, min(started_at) AS first, "
                f"max(ends_at) AS last FROM picked GROUP BY ALL",
                params,
            )
        )
        for r in rows:
            r["origin_label"] = origin_label_of(r)
            r["first"], r["last"] = to_utc(r["first"]), to_utc(r["last"])
            yield r

    def deepest_session(self) -> SessionView | None:
        """A session at the end of the longest chain (for the demo's example trace)."""
        row = self.con.execute(
            "SELECT session_id FROM sessions WHERE depth > 0 "
            "ORDER BY depth DESC, started_at, session_id LIMIT 1"
        ).fetchone()
        return self.sessions.get(row[0]) if row else None

    # -- permissions in time (the logic lives in pipeline.permissions) ------------------

    def policies_in_force(self, principal_arn: str, at: datetime) -> permissions.PoliciesInForce:
        """A role's or IAM user's policies at `at`, from the policy history."""
        from pipeline import permissions

        return permissions.policies_in_force(self.con, principal_arn, at)

    def can(self, session_id: str, action: str, resource: str, at: datetime) -> Decision:
        """Could this session do `action` on `resource` at `at`, and why."""
        from pipeline import permissions

        return permissions.decide(self.permissions_at(session_id, at), action, resource)

    def permissions_at(self, session_id: str, at: datetime) -> permissions.SessionPermissions:
        """A session's policies and request context at `at`."""
        from pipeline import permissions

        view = self.session(session_id).session
        return permissions.session_permissions(self.con, view, to_utc(at))

    def who_could(
        self,
        action: str,
        resource: str,
        at: datetime,
        *,
        limit: int | None = None,
        show_denied: bool = False,
    ) -> permissions.WhoCould:
        """Sessions active at `at` (and IAM users) whose permissions allow the action."""
        from pipeline import permissions

        return permissions.who_could(
            self.sessions, action, resource, at, limit=limit, show_denied=show_denied
        )

    def permissions_summary(self, session_id: str, at: datetime) -> str:
        """A short human summary of a session's permissions at `at`."""
        from pipeline import permissions

        return permissions.summary(self.permissions_at(session_id, at))

    # -- replay (issue 6): pictures of a moment or a window, in pipeline.replay ---------

    def active_sessions(
        self, at: datetime, flt: SessionFilter | None = None, *, limit: int | None = 200
    ) -> ActiveSessions:
        return replay.active_sessions(self.sessions, at, flt or SessionFilter(), limit=limit)

    def timeline(
        self,
        start: datetime,
        end: datetime,
        flt: SessionFilter | None = None,
        *,
        lane: LaneKind = "principal",
        max_bars: int | None = None,
    ) -> Timeline:
        return replay.timeline(
            self.sessions,
            start,
            end,
            flt or SessionFilter(),
            lane=lane,
            max_bars=replay.MAX_TIMELINE_BARS if max_bars is None else max_bars,
        )

    def replay_events(
        self, start: datetime, end: datetime, flt: SessionFilter | None = None
    ) -> list[ReplayEvent]:
        return replay.replay_events(self.sessions, start, end, flt or SessionFilter())

    def sessions_of(
        self, flt: SessionFilter, *, limit: int = 200, offset: int = 0
    ) -> tuple[int, list[SessionView]]:
        """A page of every session matching `flt` over the whole history, newest first."""
        page = self.sessions.page(Selection(filter=flt, order="newest"), limit=limit, offset=offset)
        return page.total, page.sessions

    def facets(self) -> Facets:
        return replay.facets(self.con)

    def data_version(self) -> int:
        return replay.data_version(self.con)

    # -- pivots (issue 14): from a user, a key, an address or a role to what is behind it

    def pivot(self, kind: str, value: str) -> Pivot:
        """Sessions, keys, calls over time and findings behind one clue: `kind` is user
        (an IAM user's ARN), key (an access key id), ip (a source address) or role."""
        from pipeline import pivots

        return pivots.pivot(self.con, self.sessions, kind, value)

    def calls_of_sessions(
        self, session_ids: list[str], start: datetime, end: datetime, *, limit: int = 5000
    ) -> list[CallMark]:
        """The calls these sessions' keys made in `[start, end)`, for a time axis."""
        from pipeline import pivots

        return pivots.calls_of_sessions(self.con, session_ids, start, end, limit=limit)
