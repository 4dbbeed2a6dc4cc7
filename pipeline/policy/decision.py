"""What :func:`pipeline.policy.evaluate` returns, and how its reasons name things."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from pipeline.policy.document import Effect, Policy, Statement

DecisionEffect: TypeAlias = Literal["allow", "explicit_deny", "implicit_deny"]
PolicyKind: TypeAlias = Literal["identity", "session", "boundary", "resource"]


@dataclass(frozen=True)
class PolicySource:
    """One policy given to the evaluator: its kind, its 1-based position among that kind."""

    kind: PolicyKind
    position: int
    policy: Policy

    @property
    def label(self) -> str:
        """``policy 'AWSRevokeOlderSessions'``, ``identity policy #2``, ``permissions boundary``."""
        name = self.policy.name
        if self.kind == "identity":
            return f"policy '{name}'" if name else f"identity policy #{self.position}"
        if self.kind == "session":
            return f"session policy '{name}'" if name else f"session policy #{self.position}"
        if self.kind == "boundary":
            return f"permissions boundary '{name}'" if name else "permissions boundary"
        return f"resource policy '{name}'" if name else "resource policy"


@dataclass(frozen=True)
class MatchedStatement:
    """A statement that took part in the decision, for display.

    ``assumed`` marks a Deny whose conditions could not all be evaluated and which was
    therefore counted as matching; ``problems`` says why.
    """

    kind: PolicyKind
    policy: str  # as reasons name it: "policy 'X'", "identity policy #2", ...
    policy_name: str | None  # the name given with the policy, if any
    index: int
    sid: str | None
    effect: Effect
    assumed: bool = False
    problems: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        source: PolicySource,
        statement: Statement,
        *,
        assumed: bool = False,
        problems: tuple[str, ...] = (),
    ) -> MatchedStatement:
        return cls(
            kind=source.kind,
            policy=source.label,
            policy_name=source.policy.name,
            index=statement.index,
            sid=statement.sid,
            effect=statement.effect,
            assumed=assumed,
            problems=problems,
        )

    @property
    def label(self) -> str:
        name = f"statement '{self.sid}'" if self.sid else f"statement at index {self.index}"
        return f"{name} of {self.policy}"


@dataclass(frozen=True)
class Decision:
    """The evaluator's answer: the effect, a one-line reason naming the deciding statement
    (or the missing Allow), and every statement that matched."""

    effect: DecisionEffect
    reason: str
    matched: tuple[MatchedStatement, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.effect == "allow"
