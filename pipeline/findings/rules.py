"""The findings rules, each one SQL query over the store's tables.

Every query reads the projection's scope tables (`projection.py`): `f_scope(actor)`, the
sessions ('<session id>'), unowned temporary keys ('key:<id>') and long-term principals
('principal:<arn>') whose findings are being recomputed, and `f_acts`, every call of those
actors. Each returns one row per finding with the columns of `FINDING_COLUMNS`; `seed`
is what the finding's id hashes with the rule (its anchor, and for time-bounded rules
the first event id of the episode), so a rebuilt store gives the same ids.

Thresholds are whole numbers from `Thresholds`, written into the SQL as literals.
"""

# SQL is built here from constants and whole-number thresholds, never from input:
# ruff: noqa: S608

from __future__ import annotations

from pipeline.findings.thresholds import Thresholds

FINDING_COLUMNS = (
    "anchor",
    "seed",
    "severity",
    "first_at",
    "last_at",
    "account_id",
    "session_id",
    "principal_arn",
    "summary",
    "evidence",
    "evidence_count",
)

# A network: an IPv4 /24 or an IPv6 /64. AWS service addresses ("ec2.amazonaws.com",
# "AWS Internal") are not networks and are left out.
NETWORK_SQL = """CASE
    WHEN regexp_matches(source_ip, '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$')
        THEN regexp_extract(source_ip, '^([0-9]+\\.[0-9]+\\.[0-9]+)\\.', 1) || '.0/24'
    WHEN regexp_matches(source_ip, '^[0-9a-fA-F:]+$') AND contains(source_ip, ':')
        THEN array_to_string(string_split(lower(source_ip), ':')[1:4], ':') || '::/64'
    END"""

# An EC2 instance profile session: issued by ec2.amazonaws.com, or named after an instance.
INSTANCE_SESSION_SQL = (
    "(caller_arn = 'ec2.amazonaws.com' "
    "OR regexp_matches(coalesce(session_name, ''), '^i-[0-9a-fA-F]{8,17}$'))"
)


def instance_of(alias: str) -> str:
    """INSTANCE_SESSION_SQL over the sessions aliased `alias`."""
    return INSTANCE_SESSION_SQL.replace("caller_arn", f"{alias}.caller_arn").replace(
        "session_name", f"{alias}.session_name"
    )


# Every call of the actors in scope, with its actor: the session holding its key, else
# its temporary key, else its principal (a long-term key or a console sign-in).
ACTS_SQL = f"""
CREATE OR REPLACE TEMP TABLE f_acts AS
SELECT * FROM (
    SELECT a.event_id, a.event_time, a.account_id, a.access_key_id, a.principal_arn,
           a.action, a.resources, a.outcome, a.source_ip, a.user_agent,
           {NETWORK_SQL} AS net, k.session_id AS owner,
           CASE WHEN k.session_id IS NOT NULL THEN k.session_id
                WHEN a.access_key_id LIKE 'ASIA%' THEN 'key:' || a.access_key_id
                ELSE 'principal:' || coalesce(a.principal_arn, 'unknown') END AS actor
    FROM (  -- two semi-joins, not one OR: each is a hash join
        SELECT * FROM actions WHERE access_key_id IN (SELECT access_key_id FROM f_keys)
        UNION ALL
        SELECT * FROM actions
        WHERE principal_arn IN (SELECT principal_arn FROM f_principals)
          AND coalesce(access_key_id, '') NOT LIKE 'ASIA%'
          AND (access_key_id IS NULL OR access_key_id NOT IN (SELECT access_key_id FROM f_keys))
    ) a LEFT JOIN key_owner k USING (access_key_id)
) WHERE actor IN (SELECT actor FROM f_scope)
"""


def _seconds(td: object) -> int:
    from datetime import timedelta

    assert isinstance(td, timedelta)
    return int(td.total_seconds())


def _evidence(t: Thresholds, table: str = "") -> str:
    p = f"{table}." if table else ""
    return (
        f"list({p}event_id ORDER BY {p}event_time, {p}event_id)[1:{int(t.max_evidence)}] "
        f"AS evidence, count(*) AS evidence_count"
    )


def _session_of(actor: str) -> str:
    return (
        f"CASE WHEN {actor} LIKE 'key:%' OR {actor} LIKE 'principal:%' THEN NULL ELSE {actor} END"
    )


# The instance rule takes the instances in scope a chunk at a time. An instance's
# sessions over the whole history are its siblings: a settle that covers a month of a
# fleet (a backfill, a second trail of the same month) took 1.4M of them at 10M events,
# and their calls in that month, beyond the 1 GB DuckDB may use for one query. The
# siblings are streamed, and what a chunk's joins hold is their calls in the time the
# scope covers: chunks are sized by the siblings started then (a measure, not a filter:
# sized by the whole history, an ordinary batch took more chunks as the history grew,
# each one reading the history again).
SIBLINGS_PER_CHUNK = 1_000_000


def instances_sql(t: Thresholds) -> str:
    """`f_instances`: the instance sessions in scope, each with its instance's number and
    chunk (whole instances, about SIBLINGS_PER_CHUNK siblings started in the time the
    scope's calls cover, and a day before it, each)."""
    w = _seconds(t.elsewhere_window)
    return f"""
CREATE OR REPLACE TEMP TABLE f_instances AS
WITH inst AS (
    SELECT session_id, role_arn, session_name FROM sessions
    WHERE session_id IN (SELECT actor FROM f_scope) AND {INSTANCE_SESSION_SQL}
), numbered AS (  -- a number per instance: pairs of long ARNs and names cost memory
    SELECT role_arn, session_name,
           row_number() OVER (ORDER BY role_arn, session_name) AS instance
    FROM (SELECT DISTINCT role_arn, session_name FROM inst)
), covered AS (
    SELECT min(event_time) - INTERVAL {w + 86400} SECOND AS lo,
           max(event_time) + INTERVAL {w} SECOND AS hi
    FROM f_acts WHERE actor IN (SELECT session_id FROM inst)
), sizes AS (
    SELECT n.instance, count(*) AS siblings
    FROM sessions s JOIN numbered n
      ON n.role_arn = s.role_arn AND n.session_name = s.session_name, covered c
    WHERE {instance_of("s")}
      AND (s.started_at IS NULL OR s.started_at BETWEEN c.lo AND c.hi)
    GROUP BY n.instance
), chunks AS (
    SELECT instance,
           sum(siblings) OVER (ORDER BY instance) // {int(SIBLINGS_PER_CHUNK)} AS chunk
    FROM sizes
)
SELECT i.session_id, i.role_arn, i.session_name, n.instance, coalesce(c.chunk, 0) AS chunk
FROM inst i
JOIN numbered n ON n.role_arn IS NOT DISTINCT FROM i.role_arn
               AND n.session_name IS NOT DISTINCT FROM i.session_name
LEFT JOIN chunks c USING (instance)
"""


def instance_elsewhere(t: Thresholds, chunk: int) -> str:
    """Instance credentials used from outside the instance: with a workstation's user
    agent, from an address another (non-instance) identity called from, or from a
    network none of the instance's other sessions called from while they called from
    another one. "Within the window" is around the span of one session's calls from
    one address. Spans, not calls, are compared, and the spans of the other identities
    are read from `address_use` (the first and last call per key and address), cut first
    to the time the spans in scope cover. A session's keys are compared one by one: the
    window (twice `elsewhere_window` and more) is wider than any gap within one session.

    For the instance sessions of one chunk of `f_instances` (`instances_sql`): an
    instance's sessions over the whole history are its siblings, and the chunks keep
    them within memory."""
    w = _seconds(t.elsewhere_window)
    agents = " OR ".join(
        f"contains(lower(coalesce(c.user_agent, '')), '{a.replace(chr(39), '')}')"
        for a in t.workstation_agents
    )
    return f"""
WITH inst AS (
    SELECT session_id, role_arn, session_name, instance FROM f_instances
    WHERE chunk = {int(chunk)}
), instances AS (
    SELECT DISTINCT role_arn, session_name, instance FROM inst
), calls AS (
    SELECT a.*, i.session_name, i.instance FROM f_acts a JOIN inst i ON a.actor = i.session_id
    WHERE a.net IS NOT NULL
), spans AS (  -- per session, network and address: the span of its calls
    SELECT actor, instance, net, source_ip,
           min(event_time) - INTERVAL {w} SECOND AS lo,
           max(event_time) + INTERVAL {w} SECOND AS hi
    FROM calls GROUP BY ALL
), covered AS (SELECT min(lo) AS lo, max(hi) AS hi FROM spans
), sibling_nets AS (  -- per key of the same instance's other sessions (its owner's only)
                      -- and address, in the time covered: the network and the span. The
                      -- instance's sessions over the history are streamed, not held: the
                      -- joins build on the calls of the time covered
    SELECT s.session_id, s.instance,
           {NETWORK_SQL.replace("source_ip", "u.source_ip")} AS net,
           u.first_at AS t0, u.last_at AS t1
    FROM (SELECT s.session_id, n.instance, unnest(s.access_key_ids) AS access_key_id
          FROM sessions s JOIN instances n
            ON n.role_arn = s.role_arn AND n.session_name = s.session_name
          WHERE {instance_of("s")}) s
    JOIN (SELECT u.* FROM address_use u, covered c
          WHERE u.last_at >= c.lo AND u.first_at <= c.hi) u
      ON u.access_key_id = s.access_key_id
    JOIN key_owner k ON k.access_key_id = s.access_key_id AND k.session_id = s.session_id
), shared_ips AS (  -- calls per key from the addresses in scope, in the time covered
    SELECT u.* FROM address_use u, covered c
    WHERE u.last_at >= c.lo AND u.first_at <= c.hi
      AND u.source_ip IN (SELECT DISTINCT source_ip FROM calls)
), shared_owners AS (  -- the stored owners of the temporary keys called from there
    SELECT access_key_id, session_id FROM key_owner
    WHERE access_key_id IN (SELECT access_key_id FROM shared_ips
                            WHERE access_key_id LIKE 'ASIA%')
), not_instances AS (
    SELECT k.access_key_id FROM shared_owners k
    WHERE k.session_id IN (
        SELECT o.session_id FROM sessions o
        WHERE o.session_id IN (SELECT session_id FROM shared_owners)
          AND NOT {instance_of("o")})
), others AS (  -- addresses that identities other than instances called from, and when
    SELECT u.source_ip, u.first_at AS t0, u.last_at AS t1 FROM shared_ips u
    -- an identity known not to be an instance: a long-term key or principal, or a
    -- temporary key held by a stored session that is not an instance's
    WHERE u.access_key_id NOT LIKE 'ASIA%'
       OR u.access_key_id IN (SELECT access_key_id FROM not_instances)
-- Semi joins, not a join counted afterwards: a span meets dozens of an instance's hourly
-- sessions, and every pair held at once (5M at 10M events) outgrew DuckDB's 1 GB.
), sibling_any AS (
    SELECT p.actor, p.net, p.source_ip FROM spans p SEMI JOIN sibling_nets s
      ON s.instance = p.instance
     AND s.session_id <> p.actor AND s.net IS NOT NULL AND s.t1 >= p.lo AND s.t0 <= p.hi
), sibling_same_net AS (
    SELECT p.actor, p.net, p.source_ip FROM spans p SEMI JOIN sibling_nets s
      ON s.instance = p.instance AND s.net = p.net
     AND s.session_id <> p.actor AND s.t1 >= p.lo AND s.t0 <= p.hi
), shared AS (
    SELECT p.actor, p.net, p.source_ip FROM spans p SEMI JOIN others o
      ON o.source_ip = p.source_ip AND o.t1 >= p.lo AND o.t0 <= p.hi
), flags AS (
    SELECT p.actor, p.net, p.source_ip,
           (p.actor, p.net, p.source_ip) IN (SELECT * FROM shared) AS shared,
           (p.actor, p.net, p.source_ip) IN (SELECT * FROM sibling_any)
           AND (p.actor, p.net, p.source_ip) NOT IN (SELECT * FROM sibling_same_net) AS strange
    FROM spans p
), judged AS (
    SELECT c.*, ({agents}) AS workstation, f.shared, f.strange
    FROM calls c JOIN flags f USING (actor, net, source_ip)
), outside AS (SELECT * FROM judged WHERE workstation OR shared OR strange)
SELECT actor AS anchor, actor AS seed, 'high' AS severity,
       min(event_time) AS first_at, max(event_time) AS last_at,
       min(account_id) AS account_id, actor AS session_id,
       min(principal_arn) AS principal_arn,
       format('instance credentials of {{}} used outside the instance: '
              || '{{}} call(s) from {{}} ({{}})',
              coalesce(min(session_name), 'an unnamed session'), count(*),
              coalesce(array_to_string(list_sort(list_distinct(list(source_ip))), ', '),
                       'no recorded address'),
              array_to_string(list_sort(list_distinct(list(CASE
                  WHEN workstation THEN 'a workstation''s user agent'
                  WHEN shared THEN 'an address other identities called from'
                  ELSE 'a network the instance''s other sessions never called from' END))),
                  '; ')) AS summary,
       {_evidence(t)}
FROM outside GROUP BY actor
"""


# format() is NULL when any argument is: every argument a hostile or partial record can
# leave empty is given words ("unknown", "an unnamed session").


def used_after_end(t: Thresholds) -> str:
    """Calls made after the session's recorded end (revoked, exited, or a recorded expiry)."""
    return f"""
WITH ended AS (
    SELECT session_id, account_id, revoked_at, least(exited_at, console_exited_at) AS exited,
           CASE WHEN expiry_basis = 'recorded' THEN expiry_at END AS expired,
           least(revoked_at, exited_at, console_exited_at,
                 CASE WHEN expiry_basis = 'recorded' THEN expiry_at END) AS nominal_end
    FROM sessions WHERE session_id IN (SELECT actor FROM f_scope)
), late AS (
    SELECT a.*, e.nominal_end, e.revoked_at, e.exited, e.expired FROM f_acts a
    JOIN ended e ON a.actor = e.session_id
    WHERE e.nominal_end IS NOT NULL AND a.event_time > e.nominal_end
)
SELECT actor AS anchor, actor AS seed,
       CASE WHEN bool_or(outcome = 'ALLOWED') THEN 'high' ELSE 'medium' END AS severity,
       min(event_time) AS first_at, max(event_time) AS last_at,
       min(account_id) AS account_id, actor AS session_id, min(principal_arn) AS principal_arn,
       format('{{}} call(s) after the session ended ({{}} at {{}}): {{}} allowed, {{}} denied',
              count(*),
              CASE WHEN min(nominal_end) = min(revoked_at) THEN 'revoked'
                   WHEN min(nominal_end) = min(exited) THEN 'exited' ELSE 'expired' END,
              coalesce(strftime(min(nominal_end), '%Y-%m-%dT%H:%M:%SZ'), 'an unknown time'),
              count(*) FILTER (WHERE outcome = 'ALLOWED'),
              count(*) FILTER (WHERE outcome <> 'ALLOWED')) AS summary,
       {_evidence(t)}
FROM late GROUP BY actor
"""


def key_many_networks(t: Thresholds) -> str:
    """One temporary key used from several networks within a short window."""
    w = _seconds(t.networks_window)
    return f"""
WITH several AS (  -- keys on enough networks at all: the window is computed for these
    SELECT access_key_id FROM f_acts WHERE access_key_id LIKE 'ASIA%' AND net IS NOT NULL
    GROUP BY access_key_id HAVING count(DISTINCT net) >= {int(t.networks_min)}
), c AS (
    SELECT * FROM f_acts WHERE net IS NOT NULL
      AND access_key_id IN (SELECT access_key_id FROM several)
      AND 'key:' || access_key_id IN (SELECT actor FROM f_scope)
), w AS (
    SELECT access_key_id, event_time,
           count(DISTINCT net) OVER (PARTITION BY access_key_id ORDER BY event_time
               RANGE BETWEEN CURRENT ROW AND INTERVAL {w} SECOND FOLLOWING) AS nets
    FROM c
), starts AS (
    SELECT DISTINCT access_key_id, event_time AS t0 FROM w WHERE nets >= {int(t.networks_min)}
),
ev AS (
    SELECT DISTINCT c.* FROM c JOIN starts s ON c.access_key_id = s.access_key_id
     AND c.event_time BETWEEN s.t0 AND s.t0 + INTERVAL {w} SECOND
)
SELECT 'key:' || access_key_id AS anchor, 'key:' || access_key_id AS seed, 'medium' AS severity,
       min(event_time) AS first_at, max(event_time) AS last_at, min(account_id) AS account_id,
       min(owner) AS session_id, min(principal_arn) AS principal_arn,
       format('temporary key {{}} used from {{}} networks within {{}} minute(s): {{}}',
              access_key_id, count(DISTINCT net), {w // 60 or 1},
              array_to_string(list_sort(list_distinct(list(net))), ', ')) AS summary,
       {_evidence(t)}
FROM ev GROUP BY access_key_id
"""


def _episodes(kind_filter: str, count_expr: str, minimum: int, w: int) -> str:
    """Calls of `kind_filter` grouped into episodes: every window of `w` seconds holding
    at least `minimum` (by `count_expr`), windows closer than `w` merged."""
    return f"""
d AS (SELECT * FROM f_acts WHERE {kind_filter}), w AS (
    SELECT actor, event_time, {count_expr} OVER (PARTITION BY actor ORDER BY event_time
        RANGE BETWEEN CURRENT ROW AND INTERVAL {w} SECOND FOLLOWING) AS n FROM d
), starts AS (SELECT DISTINCT actor, event_time AS t0 FROM w WHERE n >= {minimum}),
ev AS (
    SELECT DISTINCT d.* FROM d JOIN starts s ON d.actor = s.actor
     AND d.event_time BETWEEN s.t0 AND s.t0 + INTERVAL {w} SECOND
), gaps AS (
    SELECT *, lag(event_time) OVER (PARTITION BY actor ORDER BY event_time, event_id) AS prev
    FROM ev
), episodes AS (
    SELECT *, sum(CASE WHEN prev IS NULL OR event_time - prev > INTERVAL {w} SECOND
                       THEN 1 ELSE 0 END)
              OVER (PARTITION BY actor ORDER BY event_time, event_id) AS episode
    FROM gaps
)"""


def denied_burst(t: Thresholds) -> str:
    """A burst of denied calls from one session (or one principal without a session)."""
    w = _seconds(t.denied_burst_window)
    return f"""
WITH {_episodes("outcome = 'DENIED'", "count(*)", int(t.denied_burst_min), w)}
SELECT actor AS anchor, actor || '|' || arg_min(event_id, (event_time, event_id)) AS seed,
       'medium' AS severity, min(event_time) AS first_at, max(event_time) AS last_at,
       min(account_id) AS account_id, {_session_of("actor")} AS session_id,
       min(principal_arn) AS principal_arn,
       format('{{}} denied calls in {{}} s, mostly {{}}', count(*),
              epoch(max(event_time) - min(event_time))::BIGINT,
              coalesce(mode(action ORDER BY action), 'unknown actions')) AS summary,
       {_evidence(t)}
FROM episodes GROUP BY actor, episode
"""


def role_enumeration(t: Thresholds) -> str:
    """Denied AssumeRole* calls on several distinct roles by one principal."""
    w = _seconds(t.enumeration_window)
    role = "coalesce(resources[1], 'an unnamed role')"
    return f"""
WITH {
        _episodes(
            "outcome = 'DENIED' AND action LIKE 'sts:AssumeRole%'",
            f"count(DISTINCT {role})",
            int(t.enumeration_min_roles),
            w,
        )
    }
SELECT actor AS anchor, actor || '|' || arg_min(event_id, (event_time, event_id)) AS seed,
       'medium' AS severity, min(event_time) AS first_at, max(event_time) AS last_at,
       min(account_id) AS account_id, {_session_of("actor")} AS session_id,
       min(principal_arn) AS principal_arn,
       format('{{}} denied AssumeRole attempts on {{}} roles in {{}} s: {{}}', count(*),
              count(DISTINCT {role}), epoch(max(event_time) - min(event_time))::BIGINT,
              array_to_string(list_sort(list_distinct(list({role})))[1:5], ', ')) AS summary,
       {_evidence(t)}
FROM episodes GROUP BY actor, episode
"""


ROOT_ARN = "regexp_matches(coalesce({c}, ''), '^arn:aws[a-z-]*:iam::[0-9]{{12}}:root$')"


def root_used(t: Thresholds) -> str:
    """A root console sign-in, or calls made with root credentials (per actor and UTC day)."""
    root_caller = ROOT_ARN.format(c="s.caller_arn")
    return f"""
WITH roots AS (
    SELECT s.session_id FROM sessions s
    WHERE s.session_id IN (SELECT actor FROM f_scope)
      AND (s.caller_type = 'Root' OR {root_caller})
), ev AS (
    SELECT r.event_id, r.event_time, r.account_id, r.session_id AS actor,
           r.caller_arn AS principal_arn,
           'signin' AS kind
    FROM role_assumptions r WHERE r.session_id IN (SELECT session_id FROM roots)
      AND r.via = 'CONSOLE_SIGN_IN'  -- a sign-in record, not a session inferred from calls
    UNION ALL
    SELECT a.event_id, a.event_time, a.account_id, a.actor, a.principal_arn, 'call' AS kind
    FROM f_acts a
    WHERE a.actor IN (SELECT session_id FROM roots) OR {ROOT_ARN.format(c="a.principal_arn")}
)
SELECT actor AS anchor, actor || '|' || strftime(min(event_time), '%Y-%m-%d') AS seed,
       'high' AS severity, min(event_time) AS first_at, max(event_time) AS last_at,
       min(account_id) AS account_id, {_session_of("actor")} AS session_id,
       min(principal_arn) AS principal_arn,
       format('the root user of account {{}} was used: {{}} console sign-in(s), {{}} call(s)',
              coalesce(min(account_id), 'unknown'), count(*) FILTER (WHERE kind = 'signin'),
              count(*) FILTER (WHERE kind = 'call')) AS summary,
       {_evidence(t)}
FROM ev GROUP BY actor, date_trunc('day', event_time)
"""


def console_without_mfa(t: Thresholds) -> str:
    """A console sign-in whose record says MFA was not used."""
    return f"""
WITH s AS (
    SELECT session_id, caller_arn, account_id FROM sessions
    WHERE session_id IN (SELECT actor FROM f_scope)
      AND via = 'CONSOLE_SIGN_IN' AND mfa_authenticated = false
)
SELECT s.session_id AS anchor, s.session_id AS seed, 'medium' AS severity,
       min(r.event_time) AS first_at, max(r.event_time) AS last_at,
       min(s.account_id) AS account_id, s.session_id AS session_id,
       min(s.caller_arn) AS principal_arn,
       format('console sign-in without MFA by {{}}',
              coalesce(min(s.caller_arn), 'a principal the record does not name')) AS summary,
       {_evidence(t, "r")}
FROM s JOIN role_assumptions r ON r.session_id = s.session_id AND r.via = 'CONSOLE_SIGN_IN'
GROUP BY s.session_id
"""


# Each a query over the whole scope; the instance rule, by chunks, is run apart.
INSTANCE_RULE = "instance-credentials-elsewhere"
SQL_RULES = {
    "used-after-end": used_after_end,
    "key-many-networks": key_many_networks,
    "denied-burst": denied_burst,
    "role-enumeration": role_enumeration,
    "root-used": root_used,
    "console-without-mfa": console_without_mfa,
}

# Sessions that machine-iam-admin evaluates: a machine origin (an instance or another
# AWS service, a web identity) or a chain of three hops or more, in the scope or in the
# rule's own scope: those a policy change concerns, started at or after it
# (`f_machine_since`) or whose start is unknown.
MACHINE_SCOPE = """role_arn IS NOT NULL
  AND (origin_type IN ('AWSService', 'WebIdentityUser')
       OR origin_via IN ('AWS_SERVICE', 'WEB_IDENTITY')
       OR coalesce(depth, 0) >= 2)"""

MACHINE_CANDIDATES = f"""{MACHINE_SCOPE}
  AND (session_id IN (SELECT actor FROM f_scope)
       OR coalesce(started_at >= (SELECT min(since) FROM f_machine_since),
                   EXISTS (SELECT 1 FROM f_machine_since WHERE since IS NOT NULL)))"""
