"""The exception tree of rolecall, drawn in one place.

    RolecallError                 every error the library raises on purpose
    ├── InputError                a user's input is wrong (bad time, unknown key, bad URL)
    │   ├── NotFoundError         the thing asked for does not exist in the store
    │   └── PolicyError           a policy document, context or request is malformed
    │                             (pipeline.policy.errors draws its own subtree)
    ├── CodecError                a message cannot be turned into an event
    │   ├── UnknownSchemaError    its fingerprint names no schema we know
    │   └── CorruptMessageError   its bytes are not a valid single-object Avro message
    ├── EventValidationError      the message decoded, but the event breaks the contract
    ├── LogError                  the event log cannot be opened, read or written
    ├── StoreError                the DuckDB store cannot be opened or written
    │   └── StoreLockedError      another process holds the database for writing
    └── StopRequested             a stop came while a partition's file was waited for

The CLI turns every RolecallError into one line on stderr and a non-zero exit.
"""

from __future__ import annotations


class RolecallError(Exception):
    """Root of every error rolecall raises on purpose."""


class InputError(RolecallError):
    """A user's input is wrong: a malformed time, an unknown key, a bad log URL."""


class NotFoundError(InputError):
    """The session, key or principal asked for is not in the store."""


class CodecError(RolecallError):
    """A message cannot be decoded into an event."""


class UnknownSchemaError(CodecError):
    """The message's schema fingerprint is not one we know."""


class CorruptMessageError(CodecError):
    """The message is not valid Avro single-object encoding for its schema."""


class EventValidationError(RolecallError):
    """The message decoded but the event breaks the contract (bad account id, times...)."""


class LogError(RolecallError):
    """The event log cannot be opened, read or written."""


class StoreError(RolecallError):
    """The DuckDB store cannot be opened or written."""


class StoreLockedError(StoreError):
    """Another process has the database open for writing (DuckDB allows one writer)."""


class StopRequested(RolecallError):
    """A stop (SIGINT/SIGTERM) came while a partition's file was waited for: the
    materializer ends its run as after its last batch, having read nothing from it."""
