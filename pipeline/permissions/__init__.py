"""Permissions in time: the policy history, and what a session could do at a moment.

history       the `policy_changes` facts as intervals of validity (parameterized SQL)
in_force      the policies of a role or user at T, documents resolved
catalogue     built-in documents of well-known AWS managed policies
session       a session's request context and policies at T, and the decision
questions     who_could over the session read model
iam_import    `aws iam get-account-authorization-details` output as PolicyChanged events
"""

from pipeline.permissions.errors import IamImportError
from pipeline.permissions.history import PolicyInterval, intervals, intervals_at
from pipeline.permissions.in_force import PoliciesInForce, PolicyInForce, policies_in_force
from pipeline.permissions.questions import SCOPE_NOTE, WhoCould, who_could
from pipeline.permissions.session import (
    SessionPermissions,
    decide,
    session_permissions,
    summary,
)

__all__ = [
    "SCOPE_NOTE",
    "IamImportError",
    "PoliciesInForce",
    "PolicyInForce",
    "PolicyInterval",
    "SessionPermissions",
    "WhoCould",
    "decide",
    "intervals",
    "intervals_at",
    "policies_in_force",
    "session_permissions",
    "summary",
    "who_could",
]
