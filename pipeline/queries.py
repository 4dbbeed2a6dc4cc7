"""The query API: every question the CLI and the dashboard ask, answered from DuckDB.

Readers never write. Chains, origins and revocations are resolved here, at read time,
because they cross partitions (a parent session's key, a role's revocation) and must
come out the same whichever materializer wrote which partition.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import duckdb
from pydantic import BaseModel, ConfigDict, field_serializer

from pipeline import estimates
from pipeline.errors import NotFoundError
from pipeline.lookups import access_key, looks_like_key, role_condition
from pipeline.lookups import account_id as account_id_of
from pipeline.store import connect
from pipeline.timeutil import iso, naive, to_utc

if TYPE_CHECKING:
    from pipeline.permissions import PoliciesInForce, WhoCould
    from pipeline.policy import Decision
    from pipeline.replay import (
        ActiveSessions,
        Facets,
        LaneKind,
        ReplayEvent,
        SessionFilter,
        Timeline,
    )

ADMIN_POLICY_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
MAX_CHAIN_DEPTH = 16

# Sessions with the derived times every reader needs. `{where}` narrows the scan on the
# plain `started_at` / `base_ends_at` columns (zone maps) before revocations (a small
# table) are joined in.
_STATE = """
WITH candidates AS (
    SELECT s.*,
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

_COLUMNS = """
    session_id, account_id, role_arn, session_name, session_arn, via,
    caller_arn AS principal_arn, caller_type AS principal_type, caller_access_key_id,
    source_identity, started_at, ends_at, end_reason,
    expiry AS expires_at, expiry_basis, expiry_basis <> 'recorded' AS expiry_estimated,
    exit_time AS exited_at, revoked_at, requested_duration_seconds, lifecycle_key,
    start_estimated, first_used_at, last_used_at,
    coalesce(assumed_at, first_issued_at) AS recorded_start, access_key_ids, session_tags,
    transitive_tag_keys, session_policy, session_policy_arns, mfa_authenticated, source_ip,
    user_agent
"""


class _Caller(NamedTuple):
    """The session an access key belongs to, and that session's own caller."""

    session_id: str
    caller_arn: str | None
    caller_type: str | None
    caller_key: str | None
    via: str | None
    session_name: str | None
    lifecycle_key: str | None


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
    started_at: datetime
    started_at_estimated: bool
    started_at_basis: str
    ends_at: datetime
    ends_at_estimated: bool
    ends_at_basis: str
    end_reason: str
    expires_at: datetime
    expiry_estimated: bool
    exited_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    access_key_ids: list[str]
    session_tags: dict[str, str]
    transitive_tag_keys: list[str]
    session_policy: str | None
    session_policy_arns: list[str]
    mfa_authenticated: bool | None
    source_ip: str | None
    user_agent: str | None

    @property
    def sets_aside_caller(self) -> bool:
        """A console switch: the user's own permissions are set aside for the interval."""
        return self.via == "CONSOLE_SWITCH_ROLE"

    @field_serializer(
        "started_at", "ends_at", "expires_at", "exited_at", "revoked_at", "last_used_at"
    )
    def _iso(self, value: datetime | None) -> str | None:
        return iso(value)

    @property
    def lifetime_end(self) -> datetime:
        """The end by the record alone: the exit, revocation or expiry (recorded or not)."""
        return min(t for t in (self.expires_at, self.exited_at, self.revoked_at) if t is not None)


class ActionView(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    event_time: datetime
    access_key_id: str | None
    principal_arn: str | None
    action: str
    resources: list[str]
    outcome: str
    error_code: str | None
    source_ip: str | None
    # Where the call falls in its session's lifetime: "within", or "after exit", "after
    # revocation", "after expiry", "before start" (set by `Queries.actions`).
    lifetime: str = "within"

    @field_serializer("event_time")
    def _iso(self, value: datetime) -> str | None:
        return iso(value)


class GrantInterval(BaseModel):
    """A managed policy attached to a role from `granted_at` until `removed_at` (or now)."""

    role_arn: str
    policy_arn: str
    granted_at: datetime
    removed_at: datetime | None

    @field_serializer("granted_at", "removed_at")
    def _iso(self, value: datetime | None) -> str | None:
        return iso(value)


class Trace(BaseModel):
    access_key_id: str
    key_type: str = "temporary"
    session_id: str
    origin_arn: str | None
    origin_resolved: bool
    origin_label: str
    chain: list[SessionView]


class LongTermKeyTrace(BaseModel):
    """A long-term key (`AKIA...`): its IAM user, the sessions it opened and its calls."""

    access_key_id: str
    key_type: str = "long-term"
    principal_arn: str | None
    principal_label: str
    sessions: list[SessionView]
    actions: list[ActionView]
    actions_total: int


class SessionDetail(BaseModel):
    session: SessionView
    chain: list[SessionView]
    credentials: list[dict[str, Any]]
    actions: list[ActionView]


def _rows(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def resolve_callers(con: duckdb.DuckDBPyConnection, keys: set[str | None]) -> dict[str, _Caller]:
    """Access key -> its session and that session's caller, up every chain from `keys`.

    One indexed lookup per level of chaining: chains are short (role chaining is capped
    in practice), so this stays a handful of small queries however large the history is.
    """
    found: dict[str, _Caller] = {}
    frontier = {k for k in keys if k}
    for _ in range(MAX_CHAIN_DEPTH):
        if not frontier:
            break
        rows = con.execute(
            """
            SELECT k.access_key_id, k.session_id, s.caller_arn, s.caller_type,
                   s.caller_access_key_id, s.via, s.session_name, s.lifecycle_key
            FROM (SELECT access_key_id, min(session_id) AS session_id FROM credentials
                  WHERE access_key_id IN (SELECT unnest(?::VARCHAR[]))
                  GROUP BY access_key_id) k
            JOIN sessions s ON s.session_id = k.session_id
            """,
            [sorted(frontier)],
        ).fetchall()
        for key, sid, arn, ctype, ckey, via, name, lifecycle in rows:
            found[key] = _Caller(sid, arn, ctype, ckey, via, name, lifecycle)
        frontier = {r[4] for r in rows if r[4] and r[4] not in found}
    return found


def is_temporary_key(key: str | None) -> bool:
    return key is not None and key.startswith("ASIA")


def with_origin(row: dict[str, Any], callers: dict[str, _Caller]) -> dict[str, Any]:
    """Walk a session's chain up to its origin: the caller of the topmost known session."""
    origin_arn, origin_type = row["principal_arn"], row["principal_type"]
    top_via, top_name, top_lifecycle = row["via"], row["session_name"], row.get("lifecycle_key")
    key, depth, parent, seen = row["caller_access_key_id"], 0, None, {row["session_id"]}
    while key and key in callers and depth < MAX_CHAIN_DEPTH:
        caller = callers[key]
        if caller.session_id in seen:
            break  # a loop in bad data: stop where we are
        seen.add(caller.session_id)
        parent = parent or caller.session_id
        origin_arn, origin_type, key = caller.caller_arn, caller.caller_type, caller.caller_key
        top_via, top_name, top_lifecycle = caller.via, caller.session_name, caller.lifecycle_key
        depth += 1
    # A long-term key ends the chain at its IAM user; a temporary one not in the data
    # leaves the origin unknown beyond the last session known.
    missing = key if is_temporary_key(key) else None
    resolved = origin_arn is not None and missing is None
    return {
        **row,
        "origin_arn": origin_arn,
        "origin_type": origin_type,
        "origin_resolved": resolved,
        "origin_label": estimates.origin_label(
            origin_arn=origin_arn,
            origin_type=origin_type,
            resolved=resolved,
            top_via=top_via,
            top_session_name=top_name,
            top_lifecycle_key=top_lifecycle,
            missing_key=missing,
        ),
        "depth": depth,
        "parent_session_id": parent,
    }


def session_view(row: dict[str, Any]) -> SessionView:
    row = dict(row)
    for key in (
        "started_at",
        "ends_at",
        "expires_at",
        "exited_at",
        "revoked_at",
        "last_used_at",
        "first_used_at",
        "recorded_start",
    ):
        if row.get(key) is not None:
            row[key] = to_utc(row[key])
    row["session_tags"] = json.loads(row["session_tags"]) if row.get("session_tags") else {}
    for key in ("access_key_ids", "transitive_tag_keys", "session_policy_arns"):
        row[key] = row.get(key) or []
    row["depth"] = row.get("depth") or 0
    row["origin_resolved"] = bool(row.get("origin_resolved"))
    row.setdefault(
        "origin_label",
        estimates.origin_label(
            origin_arn=row.get("origin_arn"),
            origin_type=row.get("origin_type"),
            resolved=row["origin_resolved"],
            top_via=row.get("via"),
            top_session_name=row.get("session_name"),
            top_lifecycle_key=row.get("lifecycle_key"),
            missing_key=None,
        ),
    )
    row["principal_label"] = estimates.principal_label(row.get("principal_arn"), row.get("via"))
    facts = estimates.EndFacts(
        end_reason=row["end_reason"],
        ends_at=row["ends_at"],
        expires_at=row["expires_at"],
        expiry_basis=row.get("expiry_basis") or "recorded",
        requested_duration_seconds=row.get("requested_duration_seconds"),
        exited_at=row.get("exited_at"),
        revoked_at=row.get("revoked_at"),
        last_used_at=row.get("last_used_at"),
    )
    row["ends_at_estimated"] = estimates.end_is_estimated(facts)
    row["ends_at_basis"] = estimates.end_basis(facts)
    row["started_at_basis"] = estimates.start_basis(
        start_estimated=bool(row.get("start_estimated")),
        recorded_start=row.get("recorded_start"),
        first_used_at=row.get("first_used_at"),
    )
    row["started_at_estimated"] = row["started_at_basis"] != "recorded"
    return SessionView.model_validate(row)


_ACTION_COLUMNS = (
    "event_id, event_time, access_key_id, principal_arn, action, resources, outcome, "
    "error_code, source_ip"
)


def _action_view(row: dict[str, Any]) -> ActionView:
    row = {**row, "event_time": to_utc(row["event_time"]), "resources": row["resources"] or []}
    return ActionView.model_validate(row)


def lifetime_of(when: datetime, s: SessionView) -> str:
    """Where a call at `when` falls in a session's recorded lifetime."""
    if when < s.started_at:
        return "before start"
    if s.revoked_at is not None and when >= s.revoked_at and s.end_reason == "revoked":
        return "after revocation"
    if s.exited_at is not None and when >= s.exited_at and s.end_reason == "exited":
        return "after exit"
    if not s.expiry_estimated and when >= s.expires_at:
        return "after expiry"
    return "within"


class Queries:
    """Read-side API over one DuckDB connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    @classmethod
    def open(cls, db_path: str | Path) -> Queries:
        """Open a database file, or a directory of partition files, read-only."""
        if Path(db_path).is_dir():
            from pipeline.store.partitioned import open_directory

            return cls(open_directory(db_path))
        return cls(connect(db_path, read_only=True))

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Queries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sessions(
        self,
        where: str,
        params: Sequence[Any],
        *,
        order: str = "started_at, session_id",
        limit: int | None = None,
        picked_where: str = "TRUE",
        picked_params: Sequence[Any] = (),
    ) -> list[SessionView]:
        sql = (
            _STATE.format(where=where)
            + f"SELECT {_COLUMNS} FROM state WHERE {picked_where} ORDER BY {order}"
            + (" LIMIT ?" if limit is not None else "")
        )
        args = [*params, *picked_params, *([limit] if limit is not None else [])]
        rows = _rows(self.con.execute(sql, args))
        callers = self._callers({r["caller_access_key_id"] for r in rows})
        return [session_view(with_origin(r, callers)) for r in rows]

    def _callers(self, keys: set[str | None]) -> dict[str, _Caller]:
        return resolve_callers(self.con, keys)

    # -- questions -------------------------------------------------------------------

    def who_held(
        self,
        *,
        at: datetime,
        role_arn: str | None = None,
        principal_arn: str | None = None,
        account_id: str | None = None,
        via: str | None = None,
        limit: int | None = None,
    ) -> list[SessionView]:
        """Sessions active at `at`: started at or before it, ending after it."""
        t = naive(at)
        where = ["started_at <= ?", "base_ends_at > ?"]
        params: list[Any] = [t, t]
        if role_arn is not None:
            sql, args = role_condition(role_arn)
            self._require_known("role", role_arn, sql, args)
            where.append(sql)
            params += args
        if account_id is not None:
            account = account_id_of(account_id)
            self._require_known("account", account, "account_id = ?", [account])
            where.append("account_id = ?")
            params.append(account)
        if via is not None:
            where.append("via = ?")
            params.append(via.upper())
        picked_where = "ends_at > ?"
        picked_params: list[Any] = [t]
        sessions = self._sessions(
            " AND ".join(where),
            params,
            limit=None,
            picked_where=picked_where,
            picked_params=picked_params,
        )
        if principal_arn is not None:
            sessions = [
                s
                for s in sessions
                if principal_arn in (s.principal_arn, s.origin_arn, s.session_arn)
            ]
        return sessions[:limit] if limit is not None else sessions

    def _require_known(self, what: str, value: str, sql: str, params: list[Any]) -> None:
        """An unknown role or account is said, not answered with silence."""
        found = self.con.execute(f"SELECT 1 FROM sessions WHERE {sql} LIMIT 1", params).fetchone()
        if found is None:
            raise NotFoundError(f"no session of {what} {value!r} anywhere in the store")

    def session(self, session_id: str) -> SessionDetail:
        """One session by its id, or by any access key it held."""
        ident = session_id.strip()
        found = self._sessions("session_id = ?", [ident]) if ident else []
        if not found:
            if not looks_like_key(ident):
                raise NotFoundError(f"no session {session_id!r} in the store")
            found = [self.session_for_key(ident)]
        view = found[0]
        return SessionDetail(
            session=view,
            chain=self._chain(view),
            credentials=self._credentials(view.session_id),
            actions=self.actions(view.session_id),
        )

    def session_for_key(self, access_key_id: str) -> SessionView:
        key = access_key(access_key_id)
        row = self.con.execute(
            "SELECT session_id FROM credentials WHERE access_key_id = ? "
            "ORDER BY issued_at DESC, session_id LIMIT 1",
            [key],
        ).fetchone()
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
        return self._sessions("session_id = ?", [row[0]])[0]

    def trace(self, access_key_id: str) -> Trace | LongTermKeyTrace:
        """An access key to its session, up the chain to the origin.

        A long-term key (`AKIA...`) has no session: its trace is its IAM user, the sessions
        it opened and its recorded calls.
        """
        key = access_key(access_key_id)
        if not is_temporary_key(key):
            return self._long_term_trace(key)
        view = self.session_for_key(key)
        chain = self._chain(view)
        return Trace(
            access_key_id=key,
            session_id=view.session_id,
            origin_arn=view.origin_arn,
            origin_resolved=view.origin_resolved,
            origin_label=view.origin_label,
            chain=chain,
        )

    def _long_term_trace(self, key: str, *, limit: int = 1000) -> LongTermKeyTrace:
        sessions = self._sessions("caller_access_key_id = ?", [key])
        rows = _rows(
            self.con.execute(
                f"SELECT {_ACTION_COLUMNS} FROM actions WHERE access_key_id = ? "
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
            actions=[_action_view(r) for r in rows],
            actions_total=total,
        )

    def _chain(self, view: SessionView) -> list[SessionView]:
        """Sessions from the origin down to `view` (inclusive)."""
        chain = [view]
        seen = {view.session_id}
        current = view
        while current.parent_session_id and len(chain) <= MAX_CHAIN_DEPTH:
            parents = self._sessions("session_id = ?", [current.parent_session_id])
            if not parents or parents[0].session_id in seen:
                break
            current = parents[0]
            seen.add(current.session_id)
            chain.append(current)
        return list(reversed(chain))

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
        rows = _rows(
            self.con.execute(
                f"SELECT {_ACTION_COLUMNS} FROM actions "
                "WHERE session_id = ? OR access_key_id IN "
                "(SELECT access_key_id FROM credentials WHERE session_id = ?) "
                "ORDER BY event_time, event_id LIMIT ?",
                [session_id, session_id, limit],
            )
        )
        found = self._sessions("session_id = ?", [session_id])
        views = [_action_view(r) for r in rows]
        if not found:
            return views
        s = found[0]
        return [a.model_copy(update={"lifetime": lifetime_of(a.event_time, s)}) for a in views]

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
        where, params = ["role_arn = ?"], list[Any]([role_arn])
        if start is not None:
            where.append("base_ends_at > ?")
            params.append(naive(start))
        if end is not None:
            where.append("started_at < ?")
            params.append(naive(end))
        sessions = self._sessions(
            " AND ".join(where),
            params,
            picked_where="ends_at > ?" if start else "TRUE",
            picked_params=[naive(start)] if start else [],
        )
        by_origin: dict[str, dict[str, Any]] = {}
        for s in sessions:
            # An unknown origin is grouped by what is known of it (its label says why).
            key = s.origin_label
            entry = by_origin.setdefault(
                key,
                {
                    "origin_arn": s.origin_arn if s.origin_resolved else None,
                    "origin_label": key,
                    "sessions": 0,
                    "first": s.started_at,
                    "last": s.ends_at,
                },
            )
            entry["sessions"] += 1
            entry["first"] = min(entry["first"], s.started_at)
            entry["last"] = max(entry["last"], s.ends_at)
        return sorted(by_origin.values(), key=lambda e: (-e["sessions"], e["origin_label"]))

    def deepest_session(self) -> SessionView | None:
        """A session at the end of the longest chain (for the demo's example trace)."""
        chained_twice = (
            "caller_access_key_id IN (SELECT k.access_key_id FROM credentials k "
            "JOIN sessions p USING (session_id) WHERE p.caller_access_key_id IS NOT NULL)"
        )
        views = self._sessions(chained_twice, [], limit=500) or self._sessions(
            "caller_access_key_id IS NOT NULL", [], limit=500
        )
        return max(views, key=lambda v: (v.depth, -v.started_at.timestamp()), default=None)

    # -- permissions in time (the logic lives in pipeline.permissions) ------------------

    def policies_in_force(self, principal_arn: str, at: datetime) -> PoliciesInForce:
        """A role's or IAM user's policies at `at`, from the policy history."""
        from pipeline.permissions import policies_in_force

        return policies_in_force(self.con, principal_arn, at)

    def can(self, session_id: str, action: str, resource: str, at: datetime) -> Decision:
        """Could this session do `action` on `resource` at `at`, and why."""
        from pipeline.permissions import can

        return can(self, session_id, action, resource, at)

    def who_could(
        self,
        action: str,
        resource: str,
        at: datetime,
        *,
        limit: int | None = None,
        show_denied: bool = False,
    ) -> WhoCould:
        """Sessions active at `at` (and IAM users) whose permissions allow the action."""
        from pipeline.permissions import who_could

        return who_could(self, action, resource, at, limit=limit, show_denied=show_denied)

    def permissions_summary(self, session_id: str, at: datetime) -> str:
        """A short human summary of a session's permissions at `at`."""
        from pipeline.permissions import permissions_summary

        return permissions_summary(self, session_id, at)

    # -- replay (issue 6): thin doors into pipeline.replay ------------------------------
    # Imported on call: pipeline.replay builds on this module's SQL fragments.

    def active_sessions(
        self, at: datetime, flt: SessionFilter | None = None, *, limit: int | None = 200
    ) -> ActiveSessions:
        from pipeline import replay

        return replay.active_sessions(self.con, at, flt or replay.SessionFilter(), limit=limit)

    def timeline(
        self,
        start: datetime,
        end: datetime,
        flt: SessionFilter | None = None,
        *,
        lane: LaneKind = "principal",
        max_bars: int | None = None,
    ) -> Timeline:
        from pipeline import replay

        return replay.timeline(
            self.con,
            start,
            end,
            flt or replay.SessionFilter(),
            lane=lane,
            max_bars=replay.MAX_TIMELINE_BARS if max_bars is None else max_bars,
        )

    def replay_events(
        self, start: datetime, end: datetime, flt: SessionFilter | None = None
    ) -> list[ReplayEvent]:
        from pipeline import replay

        return replay.replay_events(self.con, start, end, flt or replay.SessionFilter())

    def sessions_of(self, flt: SessionFilter, *, limit: int = 200) -> tuple[int, list[SessionView]]:
        from pipeline import replay

        return replay.sessions_of(self.con, flt, limit=limit)

    def facets(self) -> Facets:
        from pipeline import replay

        return replay.facets(self.con)

    def data_version(self) -> int:
        from pipeline import replay

        return replay.data_version(self.con)
