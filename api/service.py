"""The application service: commands in, outcomes out; reads of any version. No transport.

Writes append ONE commit to the log and wait until the projector has judged it, so a
caller always reads its own writes and learns at once whether the commit was accepted
(the version it made) or rejected (the error the judge raised, re-raised here). The SDK
calls this in-process when embedded; the HTTP API calls the same methods on the server.
"""

import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Connection, Engine, select

from annolog.api.settings import Settings
from annolog.api.uploads import Uploads
from annolog.blobs.media import probe
from annolog.blobs.store import BlobStore
from annolog.blobs.thumbnail_cache import ThumbnailCache
from annolog.blobs.thumbnails import Thumbnail, check_request, make_thumbnail
from annolog.core.commands import Command
from annolog.core.commit import Commit
from annolog.core.errors import (
    AccessDenied,
    AnnologError,
    ConflictError,
    InvalidInputError,
    JudgeFailed,
    NotFoundError,
    UnavailableError,
)
from annolog.core.ids import uuid7
from annolog.eventlog.log import EventLog, Position
from annolog.projections import queries
from annolog.projections.database import database_errors
from annolog.projections.notify import PostgresListener, Progress
from annolog.projections.outcomes import commit_digest
from annolog.projections.projector import Projector
from annolog.projections.readmodels import FileView, Outcome, StoredBlob
from annolog.projections.tables import log_positions

T = TypeVar("T")

PUTS_IN_FLIGHT = 16
"""Blob puts at once for one batch of chunks: S3 answers each PUT in tens of milliseconds,
so one at a time would bound a write far below the network."""

_RACED_S = 0.005
"""How long an embedded writer waits when another process is projecting the offsets it needs."""

_REJECTIONS: dict[str, type[AnnologError]] = {
    error.__name__: error for error in (ConflictError, NotFoundError, AccessDenied, InvalidInputError, JudgeFailed)
}


def _commit_of(commands: Sequence[Command], project_id: UUID, actor: str, commit_id: UUID | None) -> Commit:
    """One commit of several commands, applied all or nothing, named after its commands."""
    if not commands:
        raise InvalidInputError("a commit needs at least one command, got none")
    names = dict.fromkeys(type(c).__name__ for c in commands)
    return Commit(
        commit_id=commit_id or uuid7(),
        project_id=project_id,
        actor=actor,
        command="+".join(names),
        events=tuple(e for c in commands for e in c.events()),
    )


class Service:
    """annolog's use cases over one log, one database and one blob store.

    With ``projector`` (the embedded default) each append is projected right away in this
    process; without it a separate ``annolog projector`` does the work and writes wait
    for it, up to ``wait_timeout_s``.
    """

    def __init__(
        self,
        *,
        log: EventLog,
        engine: Engine,
        blobs: BlobStore,
        thumbnails: ThumbnailCache,
        projector: Projector | None,
        settings: Settings,
        wait_timeout_s: float = 30.0,
    ) -> None:
        self.settings = settings  # what other processes (training workers) open the same stack with
        self.log = log
        self.engine = engine
        self.blobs = blobs
        self.thumbnails = thumbnails
        self.uploads = Uploads(engine)  # which project each blob was uploaded to: what its files may name
        self._projector = projector
        self._wait_timeout_s = wait_timeout_s
        self._write_lock = threading.Lock()
        self._listener_lock = threading.Lock()
        self.progress = Progress()
        self._listener: PostgresListener | None = None

    def execute(
        self, project_id: UUID, actor: str, commands: Sequence[Command], *, commit_id: UUID | None = None
    ) -> Outcome:
        """Append the commands as one commit and return its outcome once judged.

        Raises the judge's error (``ConflictError``, ``NotFoundError``, ``AccessDenied``…)
        when the commit was rejected. Pass the ``commit_id`` of an earlier attempt to
        retry safely: a commit id is applied at most once.
        """
        commit = _commit_of(commands, project_id, actor, commit_id)
        if self._projector is None:  # the server: appends run concurrently, a projector judges them
            self._await(self.log.append(commit))
        else:
            with self._write_lock:  # in process: append and project one commit at a time
                self._await(self.log.append(commit))
        return self._outcome(commit)

    def store_blob(self, data: bytes, *, name: str, media_type: str | None = None) -> StoredBlob:
        """Probe and store bytes (once per content) ahead of the ``AddFile`` commands naming them.

        Bulk ingest stores many blobs, then commits many files at once. Undecodable
        images are refused here, before anything is stored.
        """
        media = probe(data, name=name, media_type=media_type)
        return StoredBlob(
            sha256=self.blobs.put(data),
            media_type=media.media_type,
            size=len(data),
            width=media.width,
            height=media.height,
            frames=media.frames,
            fps=media.fps,
        )

    def store_chunks(self, data: Sequence[bytes]) -> list[str]:
        """Store encoded array chunks as they are, in parallel, ahead of the write naming them;
        their sha256s, in order. Not probed: a chunk is codec output, never a medium to show."""
        if len(data) <= 1:
            return [self.blobs.put(chunk) for chunk in data]
        with ThreadPoolExecutor(max_workers=min(len(data), PUTS_IN_FLIGHT), thread_name_prefix="annolog-put") as pool:
            return list(pool.map(self.blobs.put, data))

    def thumbnail(self, file: FileView, size: int) -> Thumbnail:
        """The thumbnail of ``file`` with longest side ``size``: from the machine's cache, else
        made from its blob and kept (a sha256's bytes never change, so neither does it).
        The caller has checked that the actor may read ``file``."""
        check_request(name=file.name, media_type=file.media_type, size=size)
        found = self.thumbnails.get(file.sha256, size)
        if found is None:
            data = self.blobs.get(file.sha256)
            found = make_thumbnail(data, sha256=file.sha256, name=file.name, media_type=file.media_type, size=size)
            self.thumbnails.put(found)
        return found

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for ``projections.queries`` reads, with unreachable databases mapped."""
        with database_errors(self.engine, "read the views"), self.engine.connect() as db:
            yield db

    def read(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one ``projections.queries`` function: ``service.read(queries.project_named, "cars")``."""
        with self.reading() as db:
            return query(db, *args, **kwargs)

    def _await(self, position: Position) -> None:
        if self._projector is not None:
            with database_errors(self.engine, "project the commit"):
                self._project_through(self._projector, position)
            self.progress.advance()
            return
        if not self.watch(lambda: self._projected_until(position.partition) > position.offset, self._wait_timeout_s):
            raise UnavailableError(
                f"the commit at {position} was appended but not judged within {self._wait_timeout_s}s; "
                "is `annolog projector` running? It will be applied when the projector catches up"
            )

    def _project_through(self, projector: Projector, position: Position) -> None:
        """Project in this process until ``position`` is judged. Another process on the same
        embedded files may move the stored offset under a batch, which then applies nothing
        (``Projector.run_batch``): a catch-up that stopped there has not judged this commit yet,
        so go on, briefly yielding to the process that is projecting it."""
        deadline = time.monotonic() + self._wait_timeout_s
        while self._projected_until(position.partition) <= position.offset:
            if projector.catch_up([position.partition]) == 0:
                if time.monotonic() > deadline:
                    raise UnavailableError(
                        f"the commit at {position} was appended but not judged within {self._wait_timeout_s}s"
                    )
                time.sleep(_RACED_S)

    def watch(self, ready: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until ``ready()`` holds, re-checking each time the projector commits a batch
        (PostgreSQL NOTIFY on the server stack); False if ``timeout_s`` passed first."""
        return self._listened().wait_until(ready, timeout_s)

    async def watch_async(
        self,
        ready: Callable[[], Awaitable[bool]],
        timeout_s: float,
        *,
        project: UUID | None = None,
        recheck_s: float | None = None,
    ) -> bool:
        """``watch`` for a coroutine (a live stream), holding no thread while it waits, and
        woken only by batches of ``project`` when given (see ``Progress.await_until``)."""
        return await self._listened().await_until(ready, timeout_s, project=project, recheck_s=recheck_s)

    def close(self) -> None:
        """Release the log, the database pool, the listener thread and the thumbnail cache."""
        if self._listener is not None:
            self._listener.close()
        self.log.close()
        self.thumbnails.close()
        self.engine.dispose()

    def _listened(self) -> Progress:
        """``progress``, advanced from here on by each batch another process projects (PostgreSQL)."""
        if self._listener is None and self.engine.dialect.name == "postgresql":
            with self._listener_lock:
                self._listener = self._listener or PostgresListener(self.engine, self.progress)
        return self.progress

    def _projected_until(self, partition: int) -> int:
        with self.reading() as db:
            found = db.execute(
                select(log_positions.c.next_offset).where(log_positions.c.partition == partition)
            ).scalar_one_or_none()
        return int(found or 0)

    def _outcome(self, commit: Commit) -> Outcome:
        """The judged outcome of ``commit``; a conflict when its id was first judged with other contents."""
        commit_id = commit.commit_id
        row = self.read(queries.commit_outcome, commit_id)
        if row is None:
            raise UnavailableError(f"commit {commit_id} was projected but has no outcome; the views are inconsistent")
        if row.digest is not None and row.digest != commit_digest(commit):
            raise ConflictError(
                f"commit id {commit_id} was already used for a commit with other contents; "
                "a retry must re-send the same commands, new commands need a new commit id"
            )
        if not row.accepted:
            raise _REJECTIONS.get(row.error, ConflictError)(row.reason)
        return Outcome(commit_id=commit_id, version=row.version)
