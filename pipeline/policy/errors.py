"""The exceptions of the policy evaluator.

    PolicyError                 every error this package raises on purpose
    ├── PolicyDocumentError     a policy document is not valid IAM policy JSON
    ├── PolicyContextError      a request context is malformed (bad value type, clashing keys)
    └── PolicyRequestError      the request itself is malformed (action without a service prefix)

Unsupported condition operators are *not* errors: they are reported in the decision's reason.
"""

from __future__ import annotations

from pipeline.errors import InputError


class PolicyError(InputError):
    """Root of every error the policy evaluator raises on purpose (a kind of input error)."""


class PolicyDocumentError(PolicyError):
    """A policy document is not valid IAM policy JSON."""


class PolicyContextError(PolicyError):
    """A request context is malformed."""


class PolicyRequestError(PolicyError):
    """The action or resource being evaluated is malformed."""
