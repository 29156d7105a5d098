"""The pages that browse a project: the projects, a version's directories, a directory's
grid of files, and one file with its instances, mirrors, lineage and history."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from annolog.api.http.deps import SliceQueryParameter
from annolog.api.http.web import urls
from annolog.api.http.web.auth import PageSessionDep
from annolog.api.http.web.render import PageRoute, page
from annolog.api.http.web.versions import At, read_through, resolve
from annolog.api.session import Session
from annolog.api.wire import cursor
from annolog.core.query import QueryError
from annolog.projections.readmodels import DirectoryView, Scope

PAGE_SIZE = 48
"""Files per grid page: a few screens of thumbnails, read as one keyset page."""

HISTORY_PAGE = 200
"""History entries per file page; the rest are a link away (keyset, by cursor)."""

router = APIRouter(prefix=urls.ROOT, route_class=PageRoute, include_in_schema=False)


@router.get("/")
def projects(request: Request, session: PageSessionDep) -> Response:
    listed = session.projects()
    tags = {p.name: session.tags(p.name) for p in listed}
    return page(request, "projects.html", session=session, projects=listed, tags=tags)


@router.get("/p/{project}/at")
def goto_version(project: str, session: PageSessionDep, version: str, then: str = "") -> Response:
    """The version picker's target: the same page at the version picked (checked first, so
    an unknown tag is a 404 here, not a broken link)."""
    at = resolve(session, project, version.strip())
    return RedirectResponse(urls.safe_next(urls.project(project, at.written) + then.lstrip("/")), status_code=303)


@router.get("/p/{project}/v/{version}/")
def directories(request: Request, project: str, version: str, session: PageSessionDep) -> Response:
    at = resolve(session, project, version)
    listed = session.directories(project, at.number)
    counts = {
        d.directory_id: session.file_count(Scope(project=project, version=at.number, directory_id=d.directory_id))
        for d in listed
    }
    return page(request, "directories.html", session=session, at=at, directories=listed, counts=counts)


@router.get("/p/{project}/v/{version}/d/{directory:path}")
def directory(
    request: Request,
    project: str,
    version: str,
    directory: str,
    session: PageSessionDep,
    after: UUID | None = None,
    query: SliceQueryParameter = None,
) -> Response:
    """A keyset page of the directory's files (or of a slice of it), drawn with their instances;
    a query that does not parse is shown with its caret, in place of the grid."""
    at = resolve(session, project, version)
    folder = session.directory(project, directory, at.number)
    query = (query or "").strip() or None
    context: dict[str, Any] = {"session": session, "at": at, "directory": folder, "query": query, "after": after}
    try:
        shown = grid(session, at, folder, query, after)
    except QueryError as error:
        return page(request, "directory.html", status=422, files=[], count=None, query_error=str(error), **context)
    return page(request, "directory.html", **(context | shown))


def grid(session: Session, at: At, folder: DirectoryView, query: str | None, after: UUID | None) -> dict[str, Any]:
    """What a directory page's grid shows: its files after ``after``, their count, the next page's key.
    Shared with the live page's fragment, so a redrawn grid is the grid a reload would show."""
    query = (query or "").strip() or None
    scope = Scope(project=at.project, version=at.number, directory_id=folder.directory_id, query=query)
    ids = session.file_page(scope, after=after, limit=PAGE_SIZE + 1)
    count = session.file_count(scope)
    files = session.files(scope, ids[:PAGE_SIZE]) if ids else []
    next_after = ids[PAGE_SIZE - 1] if len(ids) > PAGE_SIZE else None
    return {"files": files, "count": count, "next_after": next_after, "query": query, "after": after}


@router.get("/p/{project}/v/{version}/f/{file_id}")
def file(
    request: Request,
    project: str,
    version: str,
    file_id: UUID,
    session: PageSessionDep,
    d: Annotated[str | None, Query(description="the directory the file was opened from")] = None,
    history_after: Annotated[str | None, Query(description="'<version>.<seq>' of the last entry shown")] = None,
) -> Response:
    at = resolve(session, project, version)
    folder, scope = read_through(session, project, at.number, d)
    (shown,) = session.files(scope, [file_id])
    history = session.history(project, file_id=file_id, after=cursor(history_after), limit=HISTORY_PAGE)
    return page(
        request,
        "file.html",
        session=session,
        at=at,
        file=shown,
        directory=folder,
        mirrors=session.mirrors(scope, file_id),
        history=history,
        more_history=history[-1] if len(history) == HISTORY_PAGE else None,
    )
