"""Live directory pages: the API's change stream behind the cookie, and the grid's tiles
as a fragment, which the page's script (static/live.js) fetches again when a change comes."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from annolog.api.http.audit import change_stream
from annolog.api.http.deps import SliceQueryParameter
from annolog.api.http.web import urls
from annolog.api.http.web.auth import CookieTokenHoldsDep, PageSessionDep
from annolog.api.http.web.pages import grid
from annolog.api.http.web.render import PageRoute, page
from annolog.api.http.web.versions import resolve
from annolog.api.wire import cursor
from annolog.core.events import INT32_MAX
from annolog.projections.readmodels import Scope, after_version

router = APIRouter(prefix=urls.ROOT, route_class=PageRoute, include_in_schema=False)


@router.get("/p/{project}/changes")
def changes(
    project: str,
    session: PageSessionDep,
    token_holds: CookieTokenHoldsDep,
    d: Annotated[str | None, Query(description="a directory's name; without it, every readable one")] = None,
    since: Annotated[int, Query(ge=0, le=INT32_MAX, description="stream the changes after this version")] = 0,
    last_event_id: Annotated[str | None, Header(description="resume after this event id")] = None,
) -> StreamingResponse:
    """The API's ``/changes`` for a signed-in page: ends when the cookie's token stops holding."""
    directory_id = session.directory(project, d, session.project(project).version).directory_id if d else None
    scope = Scope(project=project, version=1, directory_id=directory_id)
    return change_stream(session, scope, cursor(last_event_id) or after_version(since), token_holds)


@router.get("/p/{project}/v/{version}/tiles")
def tiles(
    request: Request,
    project: str,
    version: str,
    d: str,
    session: PageSessionDep,
    after: UUID | None = None,
    query: SliceQueryParameter = None,
) -> Response:
    """The grid, count and paging of a directory page, as the page would show them now."""
    at = resolve(session, project, version)
    folder = session.directory(project, d, at.number)
    return page(request, "tiles.html", at=at, directory=folder, **grid(session, at, folder, query, after))
