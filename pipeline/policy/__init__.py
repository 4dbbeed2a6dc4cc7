"""A pure IAM policy evaluator: parse policies, build request contexts, decide.

No I/O happens here. The main entry point is :func:`evaluate`; :func:`session_context`
derives the condition keys a role session implies; :func:`evaluate_cases` runs a JSON Lines
batch.
"""

from pipeline.policy.cases import evaluate_cases
from pipeline.policy.context import RequestContext, session_context
from pipeline.policy.decision import Decision, DecisionEffect, MatchedStatement, PolicyKind
from pipeline.policy.document import (
    Condition,
    Policy,
    PolicyDocument,
    PolicyLike,
    Principal,
    Statement,
    load_policy,
    parse_policy,
)
from pipeline.policy.errors import (
    PolicyContextError,
    PolicyDocumentError,
    PolicyError,
    PolicyRequestError,
)
from pipeline.policy.evaluate import evaluate

__all__ = [
    "Condition",
    "Decision",
    "DecisionEffect",
    "MatchedStatement",
    "Policy",
    "PolicyContextError",
    "PolicyDocument",
    "PolicyDocumentError",
    "PolicyError",
    "PolicyKind",
    "PolicyLike",
    "PolicyRequestError",
    "Principal",
    "RequestContext",
    "Statement",
    "evaluate",
    "evaluate_cases",
    "load_policy",
    "parse_policy",
    "session_context",
]
