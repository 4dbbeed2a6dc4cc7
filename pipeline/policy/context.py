"""The request context: the condition keys a request carries, and what a session implies.

Condition key names are case-insensitive in IAM (``aws:CurrentTime`` is ``AWS:currenttime``),
so :class:`RequestContext` looks keys up without regard to case while remembering how each
was spelled. Values are strings; a multivalued key holds a tuple of strings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import TypeAlias

from pipeline.policy.errors import PolicyContextError
from pipeline.policy.timefmt import epoch_seconds, format_time, require_aware

ContextValue: TypeAlias = str | tuple[str, ...]
ContextInput: TypeAlias = Mapping[str, str | Sequence[str]]


class RequestContext(Mapping[str, ContextValue]):
    """An immutable, case-insensitive mapping of condition keys to values.

    Iteration yields the keys as they were spelled; ``ctx["AWS:SOURCEIP"]`` finds
    ``aws:SourceIp``. Lists given as values are stored (and returned) as tuples.
    """

    __slots__ = ("_entries",)
    _entries: Mapping[str, tuple[str, ContextValue]]

    def __init__(self, values: ContextInput | None = None) -> None:
        entries: dict[str, tuple[str, ContextValue]] = {}
        for key, value in (values or {}).items():
            if not isinstance(key, str) or not key:
                raise PolicyContextError(f"context keys must be non-empty strings, got {key!r}")
            folded = key.lower()
            if folded in entries and entries[folded][0] != key:
                raise PolicyContextError(
                    f"context keys {entries[folded][0]!r} and {key!r} differ only in case"
                )
            entries[folded] = (key, _normalise_value(key, value))
        object.__setattr__(self, "_entries", MappingProxyType(entries))

    @classmethod
    def of(cls, context: ContextInput | RequestContext | None) -> RequestContext:
        """Accept a ``RequestContext``, a plain mapping, or ``None`` (empty)."""
        if isinstance(context, RequestContext):
            return context
        return cls(context)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("RequestContext is immutable")

    def __getitem__(self, key: str) -> ContextValue:
        return self._entries[key.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (spelled for spelled, _ in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._entries

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RequestContext):
            return NotImplemented
        return dict(self._entries) == dict(other._entries)

    def __hash__(self) -> int:
        return hash(frozenset(self._entries.items()))

    def __repr__(self) -> str:
        return f"RequestContext({dict(self.items())!r})"

    def values_of(self, key: str) -> tuple[str, ...] | None:
        """The key's values as a tuple; ``None`` when the key is absent or holds no value."""
        entry = self._entries.get(key.lower())
        if entry is None:
            return None
        value = entry[1]
        values = (value,) if isinstance(value, str) else value
        return values or None

    def merged(self, overrides: ContextInput | RequestContext) -> RequestContext:
        """A new context with ``overrides`` replacing same-named keys (compared without case)."""
        combined: dict[str, str | Sequence[str]] = {}
        spelled: dict[str, str] = {}
        for source in (self, RequestContext.of(overrides)):
            for key, value in source.items():
                old = spelled.pop(key.lower(), None)
                if old is not None:
                    del combined[old]
                spelled[key.lower()] = key
                combined[key] = value
        return RequestContext(combined)


def _normalise_value(key: str, value: object) -> ContextValue:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(str(v) for v in value)
    raise PolicyContextError(
        f"context value of {key!r} must be a string or a list of strings, "
        f"got {type(value).__name__}"
    )


def session_context(
    *,
    principal_arn: str,
    at: datetime,
    session_name: str | None = None,
    principal_id: str | None = None,
    issued_at: datetime | None = None,
    mfa_authenticated: bool | None = None,
    source_identity: str | None = None,
    source_ip: str | None = None,
    role_tags: Mapping[str, str] | None = None,
    transitive_tags: Mapping[str, str] | None = None,
    session_tags: Mapping[str, str] | None = None,
    extra: ContextInput | None = None,
    only: frozenset[str] | None = None,
) -> RequestContext:
    """The request context implied by a role session (or an IAM user) acting at ``at``.

    ``principal_arn`` is the **role** ARN (``arn:aws:iam::<acct>:role/<path/>name``), which is
    what ``aws:PrincipalArn`` holds for a role session; a session ARN
    (``arn:aws:sts::…:assumed-role/…``) is refused because it has lost the role's path.
    An IAM user ARN (``arn:aws:iam::<acct>:user/…``) is accepted too: only then is
    ``aws:username`` set.

    Derived keys: ``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:PrincipalType``,
    ``aws:userid`` (``AROA…:<session>`` for a role when ``principal_id`` is known, the
    ``AIDA…`` id for a user), ``aws:username`` (users only), ``aws:CurrentTime`` and
    ``aws:EpochTime`` from ``at``, ``aws:TokenIssueTime`` from ``issued_at`` (temporary
    credentials only), ``aws:MultiFactorAuthPresent`` only when ``mfa_authenticated`` is known,
    ``aws:SourceIdentity``, ``aws:SourceIp``, and ``aws:PrincipalTag/<key>`` from role tags,
    then incoming transitive tags, then session tags: a later source overrides an earlier tag
    whose key is equal without regard to case. ``extra`` keys are added last and win.

    ``only`` (key names folded to lower case): build just those keys, for a caller that
    knows which keys its conditions read; the others are absent.
    """
    kind, account, name = _split_principal_arn(principal_arn)
    try:
        now = require_aware(at, "at")
        issued = None if issued_at is None else require_aware(issued_at, "issued_at")
    except ValueError as exc:
        raise PolicyContextError(str(exc)) from exc
    values: dict[str, str | Sequence[str]] = {
        "aws:PrincipalArn": principal_arn,
        "aws:PrincipalAccount": account,
    }
    if only is None or "aws:currenttime" in only:
        values["aws:CurrentTime"] = format_time(now)
    if only is None or "aws:epochtime" in only:
        values["aws:EpochTime"] = str(epoch_seconds(now))
    if kind == "role":
        if not session_name:
            raise PolicyContextError("a role session needs its session_name")
        values["aws:PrincipalType"] = "AssumedRole"
        if principal_id:
            values["aws:userid"] = f"{principal_id}:{session_name}"
    else:
        values["aws:PrincipalType"] = "User"
        values["aws:username"] = name
        if principal_id:
            values["aws:userid"] = principal_id
    if issued is not None and (only is None or "aws:tokenissuetime" in only):
        values["aws:TokenIssueTime"] = format_time(issued)
    if mfa_authenticated is not None:
        values["aws:MultiFactorAuthPresent"] = "true" if mfa_authenticated else "false"
    if source_identity is not None:
        values["aws:SourceIdentity"] = source_identity
    if source_ip is not None:
        values["aws:SourceIp"] = source_ip
    if only is None or any(k.startswith("aws:principaltag/") for k in only):
        for key, value in _principal_tags(role_tags, transitive_tags, session_tags).items():
            values[f"aws:PrincipalTag/{key}"] = value
    if only is not None:
        values = {k: v for k, v in values.items() if k.lower() in only}
    context = RequestContext(values)
    return context.merged(extra) if extra else context


def _split_principal_arn(arn: str) -> tuple[str, str, str]:
    """``(kind, account, friendly name)`` of a role or user ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise PolicyContextError(f"not an ARN: {arn!r}")
    service, account, resource = parts[2], parts[4], parts[5]
    if service == "sts" and resource.startswith("assumed-role/"):
        raise PolicyContextError(
            f"{arn!r} is a session ARN; aws:PrincipalArn of a role session is the role ARN"
        )
    kind, _, path_and_name = resource.partition("/")
    if service != "iam" or kind not in ("role", "user") or not path_and_name:
        raise PolicyContextError(f"expected an IAM role or user ARN, got {arn!r}")
    return kind, account, path_and_name.rsplit("/", 1)[-1]


def _principal_tags(*sources: Mapping[str, str] | None) -> dict[str, str]:
    merged: dict[str, tuple[str, str]] = {}
    for source in sources:
        for key, value in (source or {}).items():
            merged[key.lower()] = (key, value)
    return dict(merged.values())
