"""The audit page of a project (admins): its history, filtered as the API allows and paged,
and the commits the judge rejected, with their reasons."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from annolog.api.http.web import urls
from annolog.api.http.web.auth import PageSessionDep
from annolog.api.http.web.render import PageRoute, page
from annolog.api.wire import cursor
from annolog.core.events import INT32_MAX
from annolog.projections.audit import EVENT_TYPES

PAGE_SIZE = 100
"""History entries, and rejected commits, per page."""

router = APIRouter(prefix=urls.ROOT, route_class=PageRoute, include_in_schema=False)

Version = Annotated[int | None, Query(ge=1, le=INT32_MAX)]


@router.get("/p/{project}/audit")
def audit(
    request: Request,
    project: str,
    session: PageSessionDep,
    actor: str | None = None,
    event: str | None = None,
    since: Version = None,
    until: Version = None,
    after: Annotated[str | None, Query(description="'<version>.<seq>' of the last entry shown")] = None,
    rejected_after: Annotated[int | None, Query(ge=-(2**63), le=2**63 - 1)] = None,
) -> Response:
    filters: dict[str, Any] = {"actor": actor or None, "event": event or None, "since": since, "until": until}
    entries = session.history(project, after=cursor(after or None), limit=PAGE_SIZE, **filters)
    rejected = session.commits(project, accepted=False, after=rejected_after, limit=PAGE_SIZE)
    latest = session.project(project).version
    return page(
        request,
        "audit.html",
        session=session,
        project=project,
        latest=latest,
        filters=filters,
        event_types=EVENT_TYPES,
        entries=entries,
        next_after=f"{entries[-1].version}.{entries[-1].seq}" if len(entries) == PAGE_SIZE else None,
        rejected=rejected,
        next_rejected=rejected[-1].offset if len(rejected) == PAGE_SIZE else None,
    )
