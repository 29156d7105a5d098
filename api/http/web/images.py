"""A file's bytes and thumbnails for the pages' images: the API's read check, the cookie's reader.

The bytes come through this server even where the blob store could sign a URL: the pages'
Content-Security-Policy admits images from this origin only, and a store inside a private
network (MinIO in docker compose) has no address the browser can reach.
"""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import RedirectResponse

from annolog.api.http.files import blob_response, names, thumbnail_response
from annolog.api.http.web import urls
from annolog.api.http.web.auth import PageSessionDep
from annolog.api.http.web.render import PageRoute
from annolog.api.http.web.versions import read_through
from annolog.api.session import Session
from annolog.blobs.thumbnails import THUMBNAIL_SIZES
from annolog.core.errors import InvalidInputError
from annolog.core.events import INT32_MAX
from annolog.projections.readmodels import Scope

router = APIRouter(prefix=urls.ROOT, route_class=PageRoute, include_in_schema=False)

DirectoryName = Annotated[str | None, Query(description="the directory the file is read through")]


Pinned = Annotated[int, Path(ge=1, le=INT32_MAX, description="a version number: image URLs are pinned")]


def _scope(session: Session, project: str, version: int, directory: str | None) -> Scope:
    """The scope of an image URL; its version must exist now, so a URL of a version yet to come
    is not cached as the bytes of a state that version will not have."""
    session.resolve(project, version)
    return read_through(session, project, version, directory)[1]


@router.get("/p/{project}/v/{version}/f/{file_id}/image")
def image(
    project: str,
    version: Pinned,
    file_id: UUID,
    session: PageSessionDep,
    d: DirectoryName = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    view, _ = session.blob(_scope(session, project, version, d), file_id)
    etag = f'"{view.sha256}"'
    # A file's bytes never change; private: whether the reader may see them can.
    headers = {"ETag": etag, "Cache-Control": "private, max-age=86400"}
    if names(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return blob_response(session, view, headers)


@router.get("/p/{project}/v/{version}/f/{file_id}/thumbnail")
def thumbnail(
    project: str,
    version: Pinned,
    file_id: UUID,
    session: PageSessionDep,
    d: DirectoryName = None,
    size: int = urls.GRID_THUMBNAIL,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The API's thumbnail, cached the same way; a file whose bytes are no image it can shrink
    (a corrupt upload, a format Pillow cannot read) gets a placeholder, so a grid never shows
    a broken image."""
    try:
        made = session.thumbnail(_scope(session, project, version, d), file_id, size)
    except InvalidInputError:
        if size not in THUMBNAIL_SIZES:
            raise
        return RedirectResponse(urls.NO_THUMBNAIL, status_code=307)
    return thumbnail_response(made, if_none_match)
