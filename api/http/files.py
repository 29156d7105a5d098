"""The files of a dataset (a directory or a slice at a version): pages, manifests, bytes."""

from pathlib import PurePosixPath
from typing import Annotated
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from annolog.api.http.deps import ScopeDep, SessionDep
from annolog.api.session import Session
from annolog.api.wire import Count, Ids, Lookup, PageRequest, ScopeBody
from annolog.blobs.store import CHUNK_BYTES
from annolog.blobs.thumbnails import THUMBNAIL_SIZES, Thumbnail
from annolog.core.mask import RLE_MEDIA_TYPE
from annolog.projections.readmodels import FileView

router = APIRouter(prefix="/projects/{project}/files", tags=["files"])


@router.get("", response_model=Ids, summary="File ids in id order, keyset-paged with after=")
def page(
    scope: ScopeDep,
    session: SessionDep,
    after: UUID | None = None,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> Ids:
    return Ids(ids=session.file_page(scope, after=after, limit=limit))


@router.get("/keys", response_model=list[str], summary="Every file id, as text: a training manifest")
def keys(scope: ScopeDep, session: SessionDep) -> list[str]:
    return session.file_keys(scope)


@router.get("/count", response_model=Count)
def count(scope: ScopeDep, session: SessionDep) -> Count:
    return Count(count=session.file_count(scope))


@router.post("/query", response_model=Ids, summary="A page of file ids, the dataset in the body (long queries)")
def page_of(project: str, body: PageRequest, session: SessionDep) -> Ids:
    return Ids(ids=session.file_page(body.scope(project), after=body.after, limit=body.limit))


@router.post("/query/keys", response_model=list[str], summary="Every file id, the dataset in the body")
def keys_of(project: str, body: ScopeBody, session: SessionDep) -> list[str]:
    return session.file_keys(body.scope(project))


@router.post("/query/count", response_model=Count, summary="How many files, the dataset in the body")
def count_of(project: str, body: ScopeBody, session: SessionDep) -> Count:
    return Count(count=session.file_count(body.scope(project)))


@router.post("/lookup", response_model=list[FileView], summary="Files with their instances, by id")
def lookup(project: str, body: Lookup, session: SessionDep) -> list[FileView]:
    return session.files(body.scope(project), body.ids)


@router.get("/{file_id}", response_model=FileView, summary="One file with its instances")
def file(file_id: UUID, scope: ScopeDep, session: SessionDep) -> FileView:
    return session.files(scope, [file_id])[0]


INLINE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/bmp"})
"""Media types a browser may show in place: raster images, which run no script. Anything else
(text/html, image/svg+xml, whatever an uploader claimed) is a download, so a file added to a
dataset can never run as a page of this server's origin."""


def served_as(view: FileView) -> dict[str, str]:
    disposition = "inline" if view.media_type in INLINE_MEDIA_TYPES else "attachment"
    return {
        "Content-Length": str(view.size),
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(PurePosixPath(view.name).name, safe='')}",
        "X-Content-Type-Options": "nosniff",  # the browser believes Content-Type, never the bytes
    }


@router.get(
    "/{file_id}/blob",
    summary="The file's bytes: a redirect to a short-lived signed URL, or the bytes themselves",
    response_class=Response,
    responses={
        200: {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
        307: {"description": "signed URL"},
    },
)
def blob(file_id: UUID, scope: ScopeDep, session: SessionDep) -> Response:
    view, url = session.blob(scope, file_id)  # the access check comes first, always
    if url is not None:
        return RedirectResponse(url, status_code=307)
    return blob_response(session, view)


def blob_response(session: Session, view: FileView, headers: dict[str, str] | None = None) -> StreamingResponse:
    """The bytes of a file the session was allowed to read, streamed, served as ``served_as`` says."""
    stream = session.service.blobs.open(view.sha256)
    chunks = iter(lambda: stream.read(CHUNK_BYTES), b"")
    return StreamingResponse(chunks, media_type=view.media_type, headers=served_as(view) | (headers or {}))


@router.get(
    "/{file_id}/masks/{sha256}",
    summary="The counts (COCO compressed RLE, ASCII) of a large mask an instance of the file has at the version",
    response_class=Response,
    responses={200: {"content": {RLE_MEDIA_TYPE: {"schema": {"type": "string"}}}}},
)
def mask(
    file_id: UUID, sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")], scope: ScopeDep, session: SessionDep
) -> Response:
    return Response(session.read_mask(scope, file_id, sha256), media_type=RLE_MEDIA_TYPE)  # access checked first


THUMBNAIL_CACHING = "private, max-age=31536000, immutable"
"""A year, never revalidated: the URL names the version and the bytes of a sha256 at a size
never change. Private: the file is access-controlled, so no shared cache may hand it to anyone
else (a shared cache keys on the URL, not on who asked)."""


@router.get(
    "/{file_id}/thumbnail",
    summary="The image file's thumbnail, upright, its longest side `size` (JPEG, or PNG with transparency)",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}}},
        304: {"description": "If-None-Match names the thumbnail's ETag"},
    },
)
def thumbnail(
    file_id: UUID,
    scope: ScopeDep,
    session: SessionDep,
    size: Annotated[
        int, Query(description=f"longest side in pixels: one of {', '.join(map(str, THUMBNAIL_SIZES))}")
    ] = 256,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    return thumbnail_response(session.thumbnail(scope, file_id, size), if_none_match)  # access checked first


def thumbnail_response(made: Thumbnail, if_none_match: str | None) -> Response:
    """``made`` with its ETag and year-long caching, or 304 when the browser already holds it:
    the one answer for a thumbnail, to the API's bearer and to the pages' cookie alike."""
    headers = {
        "ETag": f'"{made.sha256}-{made.size}"',
        "Cache-Control": THUMBNAIL_CACHING,
        "X-Content-Type-Options": "nosniff",
    }
    if names(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(made.data, media_type=made.media_type, headers=headers)


def names(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (weakly, as RFC 9110 compares for GET) or is ``*``."""
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags
