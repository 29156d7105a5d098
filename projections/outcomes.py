"""The rows a judged record leaves: its outcome, its audit history, or why it is not a commit.

Both ways of projecting (one commit at a time, or a batch at once) write exactly these
rows, so that their views are equal row for row.
"""

import hashlib
import json
import logging
import re
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError

from annolog.core.commit import Commit
from annolog.core.errors import AnnologError, ConflictError, JudgeFailed
from annolog.core.rules import Entry
from annolog.eventlog.log import BadRecord, LogRecord

log = logging.getLogger(__name__)

_CREATED_ID = {
    "DirectoryCreated": "directory_id",
    "FileAdded": "file_id",
    "FileCopied": "file_id",
    "InstanceAdded": "instance_id",
}
"""The id of the thing each creating event makes: fresh on every attempt unless the client chose it."""

_QUOTED_UUID = re.compile(r'"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"')
"""A JSON string holding exactly a UUID as pydantic writes it: no other text can match one."""


def commit_digest(commit: Commit) -> str:
    """sha256 of what ``commit`` says: its project, actor, command and events, not its time,
    and up to the ids of what it creates.

    Stored with the outcome, it tells a retry (same digest: the first outcome stands) from
    a commit id re-sent with other contents (a conflict the service reports). A retry may
    carry fresh ids for what it creates (the server fills in omitted ids; a bulk import makes
    new ones on each run), so each created id — and every reference to it in the commit —
    counts as "the k-th thing this commit creates".
    """
    said = commit.model_dump(mode="json", include={"project_id", "actor", "command", "events"})
    created: dict[str, str] = {}
    for event in said["events"]:
        if (field := _CREATED_ID.get(event["type"])) is not None:
            created.setdefault(event[field], f"created-{len(created)}")
    text = json.dumps(said, sort_keys=True, separators=(",", ":"))
    # One pass over the text: a replace per created id is quadratic in a bulk commit.
    text = _QUOTED_UUID.sub(lambda m: f'"{created.get(m[1], m[1])}"', text)
    return hashlib.sha256(text.encode()).hexdigest()


def accepted(record: LogRecord, version: int, chain: str) -> dict[str, Any]:
    """The outcome row of a commit that made ``version``."""
    return _outcome(record, accepted=True, version=version, chain=chain, error=None, reason=None)


def rejected(record: LogRecord, exc: Exception) -> dict[str, Any]:
    """The outcome row of a commit the judge refused, or failed on."""
    if isinstance(exc, AnnologError):
        return _refused(record, type(exc).__name__, str(exc))
    if isinstance(exc, IntegrityError):  # a rule the judge missed; the database's constraint caught it
        return _refused(record, ConflictError.__name__, f"conflicts with stored data: {exc.orig}")
    log.exception("the judge failed on commit %s at %s; it is rejected", record.commit.commit_id, record.position)
    # A driver error's text carries the statement and its parameters: the log has them, the reason only the cause.
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    first_line = next(iter(str(cause).splitlines()), "")
    reason = f"the judge failed on this commit ({type(cause).__name__}: {first_line}); rejected so the log goes on"
    return _refused(record, JudgeFailed.__name__, reason)


def _refused(record: LogRecord, error: str, reason: str) -> dict[str, Any]:
    return _outcome(record, accepted=False, version=None, chain=None, error=error, reason=reason)


def _outcome(record: LogRecord, **outcome: Any) -> dict[str, Any]:
    commit = record.commit
    return {
        "commit_id": commit.commit_id,
        "project_id": commit.project_id,
        "partition": record.position.partition,
        "offset": record.position.offset,
        "actor": commit.actor,
        "time": commit.time,
        "command": commit.command,
        "digest": commit_digest(commit),
        **outcome,
    }


def history(commit: Commit, version: int, entries: list[Entry]) -> list[dict[str, Any]]:
    """The audit history rows of an accepted commit, in the order its events made them."""
    return [
        {
            "commit_id": commit.commit_id,
            "seq": seq,
            "project_id": commit.project_id,
            "version": version,
            "event": e.event,
            "entity": e.entity,
            "entity_id": e.entity_id,
            "file_id": e.file_id,
            "directory_id": e.directory_id,
            "before": e.before,
            "after": e.after,
        }
        for seq, e in enumerate(entries)
    ]


def bad_record(record: BadRecord) -> dict[str, Any]:
    """The ``rejected_records`` row of a record that is not a valid commit (logged at ERROR)."""
    log.error(
        "log record at partition %d, offset %d is not a valid commit and is rejected: %s",
        record.position.partition,
        record.position.offset,
        record.reason,
    )
    return {
        "partition": record.position.partition,
        "offset": record.position.offset,
        "payload_sha256": hashlib.sha256(record.payload).hexdigest(),
        "size": len(record.payload),
        "reason": record.reason,
    }
