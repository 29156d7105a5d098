"""History, judged commits, and live changes as Server-Sent Events."""

import json
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated, TypeVar
from uuid import UUID

import anyio
from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from annolog.api.http.deps import SessionDep, TokenHoldsDep
from annolog.api.session import Session
from annolog.api.wire import cursor
from annolog.core.events import INT32_MAX
from annolog.projections.readmodels import CommitView, Cursor, HistoryEntry, Scope, after_version

router = APIRouter(prefix="/projects/{project}", tags=["audit"])

T = TypeVar("T")

HEARTBEAT_S = 15.0
"""An idle stream sends a comment this often, so proxies keep it open and dead peers show."""
RECHECK_S = 5.0
"""An idle stream reads the database this often even when no projected batch woke it (a
writer in another process on the embedded SQLite file cannot notify): 200 open streams
cost 40 small reads a second, where every second would cost 200."""
STREAM_READ_THREADS = 4
"""Threads (and so pooled database connections) the streams' reads share: a batch that
wakes hundreds of streams queues their reads here, not in front of the API's requests."""

_stream_reads = anyio.CapacityLimiter(STREAM_READ_THREADS)


@router.get("/history", response_model=list[HistoryEntry], summary="Changes, oldest first, filtered and paged")
def history(
    project: str,
    session: SessionDep,
    file: UUID | None = None,
    instance: UUID | None = None,
    directory: UUID | None = None,
    array: Annotated[str | None, Query(description="an array's name")] = None,
    actor: str | None = None,
    event: Annotated[str | None, Query(description="an event type, e.g. InstanceChanged")] = None,
    since: Annotated[int | None, Query(ge=1, le=INT32_MAX, description="from this version")] = None,
    until: Annotated[int | None, Query(ge=1, le=INT32_MAX, description="up to this version")] = None,
    after: Annotated[str | None, Query(description="'<version>.<seq>' of the last entry seen")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[HistoryEntry]:
    return session.history(
        project,
        file_id=file,
        instance_id=instance,
        directory_id=directory,
        array=array,
        actor=actor,
        event=event,
        since=since,
        until=until,
        after=cursor(after),
        limit=limit,
    )


@router.get("/commits", response_model=list[CommitView], summary="Judged commits, rejected ones with the reason")
def commits(
    project: str,
    session: SessionDep,
    actor: str | None = None,
    accepted: bool | None = None,
    after: Annotated[
        int | None, Query(ge=-(2**63), le=2**63 - 1, description="the offset of the last commit seen")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[CommitView]:
    return session.commits(project, actor=actor, accepted=accepted, after=after, limit=limit)


def change_stream(session: Session, scope: Scope, start: Cursor, token_holds: Callable[[], bool]) -> StreamingResponse:
    """The changes to ``scope`` after ``start`` as Server-Sent Events, live.

    Call it from a sync route: it reads once, so that a scope the caller may not read is
    refused now, as a problem, not mid-stream. The stream then holds no worker thread
    while it waits (see ``_events``).
    """
    session.changes(scope, after=start, limit=1)
    project_id = session.project(scope.project).project_id
    return StreamingResponse(
        _events(session, scope, project_id, start, token_holds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(
    session: Session, scope: Scope, project_id: UUID, start: Cursor, token_holds: Callable[[], bool]
) -> AsyncIterator[str]:
    """SSE frames: one ``change`` per history entry, its id the cursor to resume after.

    Waits on the projector's progress in the stream's project without a thread; only the
    reads (the changes, the token) borrow one. The stream ends once its token no longer
    holds (checked at least every heartbeat), or when the client goes away (Starlette
    cancels this generator); roles are checked again on every read of the changes.
    """
    found: list[HistoryEntry] = []

    async def arrived() -> bool:
        found[:] = await _read(partial(session.changes, scope, after=start))
        return bool(found)

    yield "retry: 1000\n\n"
    while True:
        any_arrived = await session.service.watch_async(arrived, HEARTBEAT_S, project=project_id, recheck_s=RECHECK_S)
        if not await _read(token_holds):
            return
        if not any_arrived:
            yield ": heartbeat\n\n"
            continue
        for entry in found:
            start = (entry.version, entry.seq)
            data = json.dumps(entry.model_dump(mode="json"))
            yield f"id: {entry.version}.{entry.seq}\nevent: change\ndata: {data}\n\n"


async def _read(read: Callable[[], T]) -> T:
    """``read()`` on one of the streams' threads."""
    return await anyio.to_thread.run_sync(read, limiter=_stream_reads)


@router.get("/changes", summary="Live changes to a directory (or every readable one) as Server-Sent Events")
def changes(
    project: str,
    session: SessionDep,
    token_holds: TokenHoldsDep,
    directory: UUID | None = None,
    since: Annotated[int, Query(ge=0, le=INT32_MAX, description="stream the changes after this version")] = 0,
    last_event_id: Annotated[str | None, Header(description="resume after this event id")] = None,
) -> StreamingResponse:
    scope = Scope(project=project, version=1, directory_id=directory)
    return change_stream(session, scope, cursor(last_event_id) or after_version(since), token_holds)
