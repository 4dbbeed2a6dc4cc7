"""Parse IAM policy JSON into frozen, typed objects.

Tolerant where IAM is tolerant (a single string where a list is allowed, a single statement
object instead of a list, a URL-encoded document as CloudTrail records it, JSON numbers and
booleans as condition values), strict where a silent mistake would change the meaning
(an unknown element such as ``"Actions"``, both ``Action`` and ``NotAction``, an ``Effect``
other than ``Allow``/``Deny``): those raise :class:`PolicyDocumentError`.

A document without ``Version`` gets 2008-10-17 semantics: policy variables such as
``${aws:username}`` are then plain text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal, TypeAlias
from urllib.parse import unquote

from pipeline.policy.errors import PolicyDocumentError

VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"
_VERSIONS = frozenset({VERSION_2012, VERSION_2008})

Effect: TypeAlias = Literal["Allow", "Deny"]

_POLICY_ELEMENTS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_ELEMENTS = frozenset(
    {
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "NotPrincipal",
        "Condition",
    }
)


@dataclass(frozen=True)
class Condition:
    """One key under one operator: ``{"<operator>": {"<key>": [<values>]}}``, kept as written."""

    operator: str
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Principal:
    """A ``Principal``/``NotPrincipal`` element, kept raw.

    ``wildcard`` is true for the bare string ``"*"``; ``entries`` holds the
    ``{"AWS": [...], "Service": [...]}`` form as ``(type, values)`` pairs in document order.
    """

    wildcard: bool
    entries: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def values_of(self, principal_type: str) -> tuple[str, ...]:
        """Every value listed under ``principal_type`` (for example ``"AWS"``)."""
        return tuple(v for t, vs in self.entries if t == principal_type for v in vs)


@dataclass(frozen=True)
class Statement:
    """One policy statement. Exactly one of each Action/NotAction pair is set, and so on."""

    index: int
    effect: Effect
    sid: str | None = None
    action: tuple[str, ...] | None = None
    not_action: tuple[str, ...] | None = None
    resource: tuple[str, ...] | None = None
    not_resource: tuple[str, ...] | None = None
    principal: Principal | None = None
    not_principal: Principal | None = None
    conditions: tuple[Condition, ...] = ()

    @property
    def label(self) -> str:
        """How a reason names this statement: ``statement 'Sid'`` or ``statement at index 2``."""
        if self.sid:
            return f"statement '{self.sid}'"
        return f"statement at index {self.index}"


@dataclass(frozen=True)
class Policy:
    """A parsed policy document, optionally named (inline policy name, managed policy ARN)."""

    statements: tuple[Statement, ...]
    version: str = VERSION_2008
    id: str | None = None
    name: str | None = None

    @property
    def variables_enabled(self) -> bool:
        """Policy variables are only substituted in Version 2012-10-17 documents."""
        return self.version == VERSION_2012


PolicyDocument: TypeAlias = str | Mapping[str, object] | Policy
"""A policy as JSON text, as a decoded JSON object, or already parsed."""

PolicyLike: TypeAlias = PolicyDocument | tuple[str, PolicyDocument]
"""A policy, or a ``(name, policy)`` pair so that decisions can name it."""


def load_policy(policy: PolicyLike) -> Policy:
    """Turn anything :data:`PolicyLike` into a :class:`Policy` (a named pair sets the name)."""
    if isinstance(policy, tuple):
        if len(policy) != 2 or not isinstance(policy[0], str):
            raise PolicyDocumentError("a named policy must be a (name, document) pair")
        name, document = policy
        parsed = document if isinstance(document, Policy) else parse_policy(document)
        return replace(parsed, name=name)
    if isinstance(policy, Policy):
        return policy
    return parse_policy(policy)


def parse_policy(document: str | Mapping[str, object], *, name: str | None = None) -> Policy:
    """Parse an IAM policy document given as JSON text or as a decoded JSON object."""
    raw = _decode(document) if isinstance(document, str) else document
    if not isinstance(raw, Mapping):
        raise PolicyDocumentError("a policy document must be a JSON object")
    _reject_unknown(raw, _POLICY_ELEMENTS, "policy")
    version = raw.get("Version", VERSION_2008)
    if not isinstance(version, str) or version not in _VERSIONS:
        raise PolicyDocumentError(
            f"unsupported policy Version {version!r}: expected '2012-10-17' or '2008-10-17'"
        )
    policy_id = _optional_str(raw.get("Id"), "Id")
    if "Statement" not in raw:
        raise PolicyDocumentError("a policy document must have a Statement element")
    body = raw["Statement"]
    items: Sequence[object]
    if isinstance(body, Mapping):
        items = [body]
    elif isinstance(body, list):
        items = body
    else:
        raise PolicyDocumentError("Statement must be an object or a list of objects")
    statements = tuple(_parse_statement(index, item) for index, item in enumerate(items))
    return Policy(statements=statements, version=version, id=policy_id, name=name)


def _decode(text: str) -> object:
    stripped = text.strip()
    if stripped[:3].lower() == "%7b":
        stripped = unquote(stripped)
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise PolicyDocumentError(f"policy document is not valid JSON: {exc}") from exc


def _reject_unknown(raw: Mapping[str, object], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise PolicyDocumentError(
            f"unknown {where} element(s) {names}; allowed: {', '.join(sorted(allowed))}"
        )


def _optional_str(value: object, element: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise PolicyDocumentError(f"{element} must be a string, got {type(value).__name__}")


def _parse_statement(index: int, raw: object) -> Statement:
    where = f"statement at index {index}"
    if not isinstance(raw, Mapping):
        raise PolicyDocumentError(f"{where} must be a JSON object")
    _reject_unknown(raw, _STATEMENT_ELEMENTS, where)
    sid = _optional_str(raw.get("Sid"), f"Sid of {where}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyDocumentError(f"{where}: Effect must be 'Allow' or 'Deny', got {effect!r}")
    if sid:
        where = f"statement '{sid}'"
    action, not_action = _exactly_one(raw, "Action", "NotAction", where, required=True)
    principal = _parse_principal(raw.get("Principal"), where)
    not_principal = _parse_principal(raw.get("NotPrincipal"), where)
    if principal is not None and not_principal is not None:
        raise PolicyDocumentError(f"{where} has both Principal and NotPrincipal")
    # Resource-based statements (with a principal) may leave the resource implied.
    resource_required = principal is None and not_principal is None
    resource, not_resource = _exactly_one(
        raw, "Resource", "NotResource", where, required=resource_required
    )
    return Statement(
        index=index,
        effect="Allow" if effect == "Allow" else "Deny",
        sid=sid,
        action=action,
        not_action=not_action,
        resource=resource,
        not_resource=not_resource,
        principal=principal,
        not_principal=not_principal,
        conditions=_parse_conditions(raw.get("Condition"), where),
    )


def _exactly_one(
    raw: Mapping[str, object], positive: str, negative: str, where: str, *, required: bool
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    has_pos, has_neg = positive in raw, negative in raw
    if has_pos and has_neg:
        raise PolicyDocumentError(f"{where} has both {positive} and {negative}")
    if required and not (has_pos or has_neg):
        raise PolicyDocumentError(f"{where} must have {positive} or {negative}")
    pos = _non_empty(raw[positive], f"{positive} of {where}") if has_pos else None
    neg = _non_empty(raw[negative], f"{negative} of {where}") if has_neg else None
    return pos, neg


def _non_empty(value: object, element: str) -> tuple[str, ...]:
    # An empty NotAction/NotResource would silently cover everything: refuse it.
    values = _string_list(value, element)
    if not values:
        raise PolicyDocumentError(f"{element} must not be empty")
    return values


def _string_list(value: object, element: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(str(v) for v in value)
    raise PolicyDocumentError(f"{element} must be a string or a list of strings")


def _parse_principal(value: object, where: str) -> Principal | None:
    if value is None:
        return None
    if value == "*":
        return Principal(wildcard=True)
    if not isinstance(value, Mapping) or not value:
        raise PolicyDocumentError(f"{where}: Principal must be '*' or a non-empty object")
    entries = tuple(
        (str(kind), _string_list(ids, f"Principal {kind} of {where}"))
        for kind, ids in value.items()
    )
    return Principal(wildcard=False, entries=entries)


def _parse_conditions(value: object, where: str) -> tuple[Condition, ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise PolicyDocumentError(f"{where}: Condition must be an object")
    conditions: list[Condition] = []
    for operator, block in value.items():
        if not isinstance(block, Mapping) or not block:
            raise PolicyDocumentError(
                f"{where}: condition operator {operator!r} must map to a non-empty object"
            )
        for key, raw_values in block.items():
            values = _condition_values(raw_values, f"{where}, {operator} {key!r}")
            conditions.append(Condition(operator=str(operator), key=str(key), values=values))
    return tuple(conditions)


def _condition_values(value: object, element: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise PolicyDocumentError(f"{element}: condition values must not be empty")
    return tuple(_scalar_text(item, element) for item in items)


def scalar_text(value: object) -> str | None:
    """A JSON scalar as IAM compares it (booleans as `true`/`false`), or None if not one."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _scalar_text(value: object, element: str) -> str:
    text = scalar_text(value)
    if text is not None:
        return text
    raise PolicyDocumentError(
        f"{element}: condition values must be strings, numbers or booleans, "
        f"got {type(value).__name__}"
    )
