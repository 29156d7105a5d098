"""The diff page: what changed in a directory (or every readable one) between two versions,
written as the reader wrote them, one keyset page of files at a time."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from annolog.api.http.web import urls
from annolog.api.http.web.auth import PageSessionDep
from annolog.api.http.web.render import PageRoute, page
from annolog.api.http.web.versions import resolve
from annolog.core.events import LATEST
from annolog.projections.readmodels import FileChange

PAGE_SIZE = 50
"""Files per page of a diff: each is read at both versions and drawn twice."""

router = APIRouter(prefix=urls.ROOT, route_class=PageRoute, include_in_schema=False)

WrittenVersion = Annotated[str | None, Query(max_length=200, description="a number, a tag or 'latest'")]


def marks(change: FileChange) -> dict[UUID, str]:
    """Each changed instance's id → its change, to class its shape on both drawings."""
    return {instance.instance_id: instance.change for instance in change.instances}


@router.get("/p/{project}/diff")
def diff(
    request: Request,
    project: str,
    session: PageSessionDep,
    base: WrittenVersion = None,
    head: WrittenVersion = None,
    d: Annotated[str | None, Query(description="a directory's name; without it, every readable one")] = None,
    after: UUID | None = None,
) -> Response:
    """Without both versions, the form alone (head defaults to latest); with them, the page
    of changes. Links keep the versions as written: a diff of tags follows the tags."""
    head_at = resolve(session, project, (head or LATEST).strip())
    base_at = resolve(session, project, base.strip()) if base and base.strip() else None
    folder = session.directory(project, d, head_at.number) if d else None
    shown = None
    if base_at is not None:
        shown = session.diff(
            project,
            base_at.number,
            head_at.number,
            directory_id=folder.directory_id if folder else None,
            after=after,
            limit=PAGE_SIZE,
        )
    return page(
        request,
        "diff.html",
        session=session,
        project=project,
        base=base_at,
        head=head_at,
        directory=folder,
        directories=session.directories(project, head_at.number),
        diff=shown,
        after=after,
        marks=marks,
    )
