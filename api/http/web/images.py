"""A file's bytes for the pages' ``<img>``: the API's read check, the cookie's reader.

The bytes come through this server even where the blob store could sign a URL: the pages'
Content-Security-Policy admits images from this origin only, and a store inside a private
network (MinIO in docker compose) has no address the browser can reach.
"""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from annolog.api.http.files import served_as
from annolog.api.http.web import urls
from annolog.api.http.web.auth import PageSessionDep
from annolog.api.http.web.render import PageRoute
from annolog.blobs.store import CHUNK_BYTES
from annolog.projections.readmodels import Scope

router = APIRouter(prefix=urls.ROOT, route_class=PageRoute, include_in_schema=False)


@router.get("/p/{project}/v/{version}/f/{file_id}/image")
def image(
    request: Request,
    project: str,
    version: int,
    file_id: UUID,
    session: PageSessionDep,
    d: Annotated[str | None, Query(description="the directory the file is read through")] = None,
) -> Response:
    directory_id = session.directory(project, d, version).directory_id if d else None
    view, _ = session.blob(Scope(project=project, version=version, directory_id=directory_id), file_id)
    etag = f'"{view.sha256}"'
    # A file's bytes never change; private: whether the reader may see them can.
    headers = {"ETag": etag, "Cache-Control": "private, max-age=86400"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    stream = session.service.blobs.open(view.sha256)
    chunks = iter(lambda: stream.read(CHUNK_BYTES), b"")
    return StreamingResponse(chunks, media_type=view.media_type, headers=served_as(view) | headers)
