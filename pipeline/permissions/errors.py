"""The exceptions of the permissions package.

InputError (pipeline.errors)
└── IamImportError      an authorization-details file is not what `aws iam
                        get-account-authorization-details` prints
"""

from __future__ import annotations

from pipeline.errors import InputError


class IamImportError(InputError):
    """An IAM snapshot file is malformed; the message names the file and the place."""
