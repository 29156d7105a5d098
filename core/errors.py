"""The one error tree of annolog: every failure a user can see is one of these.

    AnnologError                     base; catch this to catch everything of ours
    ├── ConfigurationError           a setting is missing or wrong (names the ANNOLOG_* key)
    ├── MissingExtra                 a feature needs an optional dependency that is not installed
    ├── InvalidInputError            bad input found without looking at state (schema, geometry)
    ├── NotFoundError                a named thing does not exist (project, file, version, tag)
    ├── ConflictError                the state moved on (stale revision, name taken)
    ├── NotAuthenticated             no API token, an unknown one, or an expired one
    ├── AccessDenied                 the actor lacks the role the command or read needs
    ├── ReadOnlyError                a write through something read at a pinned version
    ├── CorruptBlob                  stored bytes no longer match their sha256
    ├── JudgeFailed                  judging a commit raised an unexpected error (a bug); it was rejected
    ├── UnavailableError             a backing service cannot be reached; retrying may help
    │   ├── LogUnavailable           the event log (Kafka broker, SQLite file) is unreachable
    │   ├── DatabaseUnavailable      the views' database (PostgreSQL, SQLite) is unreachable
    │   └── BlobStoreUnavailable     the blob store (S3 endpoint, local directory) is unreachable
    └── LogError                     the event log refused or cannot read a record
        ├── CommitTooLarge           an encoded commit exceeds the log's record size limit
        ├── LogMisconfigured         the log exists but is set up against our guarantees
        └── UndecodableRecord        a stored record has an unknown schema or corrupt bytes

Messages say what was attempted, with which value, and why it failed. Adapters map
their driver errors (kafka, sqlite, botocore) onto this tree with ``raise ... from exc``
so that no driver exception leaves an adapter.
"""


class AnnologError(Exception):
    """Base of every error annolog raises on purpose."""


class ConfigurationError(AnnologError):
    """annolog cannot start: a setting is missing or invalid."""


class MissingExtra(AnnologError, ImportError):
    """A feature needs an optional extra (``pip install 'annolog[train]'``) that is not installed."""


class InvalidInputError(AnnologError, ValueError):
    """A command or query is malformed; nothing was written."""


class NotFoundError(AnnologError, LookupError):
    """The thing a command or read names does not exist."""


class ConflictError(AnnologError):
    """The command was judged against newer state than it expected."""


class NotAuthenticated(AnnologError):
    """The caller did not prove who it is: no token, an unknown token, or an expired one."""


class AccessDenied(AnnologError):
    """The actor may not do this; nothing was written."""


class ReadOnlyError(AnnologError):
    """Files, instances and directories read at a pinned version cannot be written through."""


class CorruptBlob(AnnologError):
    """A stored blob's bytes do not hash to the sha256 they are stored under."""


class JudgeFailed(AnnologError):
    """Judging the commit raised an unexpected error: a bug in a rule, not in the commit.

    The commit is rejected (so the log goes on past it) and the failure logged with its
    traceback; a replay after the bug is fixed may judge it differently.
    """


class UnavailableError(AnnologError):
    """A backing service could not be reached; the operation did not take effect."""


class LogUnavailable(UnavailableError):
    """The event log could not be reached, so the commit was not appended."""


class DatabaseUnavailable(UnavailableError):
    """The database that holds the views could not be reached."""


class BlobStoreUnavailable(UnavailableError):
    """The blob store could not be reached; no blob was written."""


class LogError(AnnologError):
    """The event log refused a record or holds one that cannot be read."""


class CommitTooLarge(LogError):
    """An encoded commit is larger than the log accepts for one record."""


class LogMisconfigured(LogError):
    """The log exists but its configuration would break annolog's guarantees."""


class UndecodableRecord(LogError):
    """A record in the log cannot be decoded (unknown writer schema, corrupt bytes)."""
