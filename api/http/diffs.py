"""The diff of two versions of a project: files added, removed and changed, keyset-paged."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from annolog.api.http.deps import SessionDep, VersionQuery
from annolog.projections.readmodels import Diff

router = APIRouter(prefix="/projects/{project}", tags=["diffs"])


@router.get(
    "/diff",
    response_model=Diff,
    summary="What changed from version base to head, by file id; the next page is after=next_after",
)
def diff(
    project: str,
    base: VersionQuery,
    head: VersionQuery,
    session: SessionDep,
    directory: Annotated[UUID | None, Query(description="a directory id; without it, every readable one")] = None,
    after: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="files per page, each read at both versions")] = 100,
) -> Diff:
    return session.diff(project, base, head, directory_id=directory, after=after, limit=limit)
