"""The label statistics page: instances and files per label at a version, drawn as bars, and
how each changed since another version (the same counts read there, subtracted)."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from annolog.api.http.web import urls
from annolog.api.http.web.auth import PageSessionDep
from annolog.api.http.web.render import PageRoute, page
from annolog.api.http.web.versions import read_through, resolve
from annolog.api.session import Session
from annolog.projections.readmodels import LabelCount, LabelStats, Scope

router = APIRouter(prefix=urls.ROOT, route_class=PageRoute, include_in_schema=False)


@dataclass(frozen=True)
class Row:
    """A label's counts now and their change since the other version (None: no other version)."""

    count: LabelCount
    instances_delta: int | None
    files_delta: int | None


def rows(now: LabelStats, since: LabelStats | None) -> list[Row]:
    """One row per label defined now; a label not yet defined then counted 0 there (labels are
    only ever added, so a label's name names the same class at every version)."""
    then = {count.label: count for count in since.labels} if since else {}
    zero = LabelCount(label="", class_index=0, instances=0, files=0)
    return [
        Row(
            count=count,
            instances_delta=count.instances - then.get(count.label, zero).instances if since else None,
            files_delta=count.files - then.get(count.label, zero).files if since else None,
        )
        for count in now.labels
    ]


def _counted_then(session: Session, scope: Scope, version: int) -> LabelStats:
    """The scope's counts at ``version``; nothing at all where its directory did not exist yet,
    so "since" a version before the directory was made counts everything in it as new."""
    then = scope.model_copy(update={"version": version})
    existed = {d.directory_id for d in session.directories(scope.project, version)}
    if scope.directory_id is not None and scope.directory_id not in existed:
        return LabelStats(project=scope.project, directory_id=scope.directory_id, version=version, files=0, labels=())
    return session.label_stats(then)


@router.get("/p/{project}/v/{version}/stats")
def stats(
    request: Request,
    project: str,
    version: str,
    session: PageSessionDep,
    since: Annotated[str | None, Query(max_length=200, description="a number, a tag or 'latest'")] = None,
    d: Annotated[str | None, Query(description="a directory's name; without it, every readable one")] = None,
) -> Response:
    at = resolve(session, project, version)
    since_at = resolve(session, project, since.strip()) if since and since.strip() else None
    folder, scope = read_through(session, project, at.number, d)
    now = session.label_stats(scope)
    then = _counted_then(session, scope, since_at.number) if since_at else None
    return page(
        request,
        "stats.html",
        session=session,
        at=at,
        since=since_at,
        directory=folder,
        directories=session.directories(project, at.number),
        stats=now,
        then=then,
        rows=rows(now, then),
        most=max((count.instances for count in now.labels), default=0),
    )
