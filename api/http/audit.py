"""History, judged commits, and live changes as Server-Sent Events."""

import json
from collections.abc import Callable, Iterator
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from annolog.api.http.deps import SessionDep, TokenHoldsDep
from annolog.api.session import Session
from annolog.api.wire import cursor
from annolog.core.events import INT32_MAX
from annolog.projections.readmodels import CommitView, Cursor, HistoryEntry, Scope, after_version

router = APIRouter(prefix="/projects/{project}", tags=["audit"])

HEARTBEAT_S = 15.0
"""An idle stream sends a comment this often, so proxies keep it open and dead peers show."""


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


def _events(session: Session, scope: Scope, start: Cursor, token_holds: Callable[[], bool]) -> Iterator[str]:
    """SSE frames: one ``change`` per history entry, its id the cursor to resume after.

    The stream ends once its token no longer holds (checked at least every heartbeat);
    roles are checked again on every read of the changes.
    """
    found: list[HistoryEntry] = []

    def arrived() -> bool:
        found[:] = session.changes(scope, after=start)
        return bool(found)

    yield "retry: 1000\n\n"
    while True:
        any_arrived = session.service.watch(arrived, HEARTBEAT_S)
        if not token_holds():
            return
        if not any_arrived:
            yield ": heartbeat\n\n"
            continue
        for entry in found:
            start = (entry.version, entry.seq)
            data = json.dumps(entry.model_dump(mode="json"))
            yield f"id: {entry.version}.{entry.seq}\nevent: change\ndata: {data}\n\n"


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
    start = cursor(last_event_id) or after_version(since)
    session.changes(scope, after=start, limit=1)  # refuse a bad scope now, as a problem, not mid-stream
    return StreamingResponse(
        _events(session, scope, start, token_holds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
