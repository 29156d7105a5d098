"""The files of a dataset (a directory or a slice at a version): pages, manifests, bytes."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from api.http.deps import ScopeDep, SessionDep
from api.wire import Count, Ids, Lookup
from blobs.store import CHUNK_BYTES
from projections.readmodels import FileView, Scope

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


@router.post("/lookup", response_model=list[FileView], summary="Files with their instances, by id")
def lookup(project: str, body: Lookup, session: SessionDep) -> list[FileView]:
    scope = Scope(project=project, version=body.version, directory_id=body.directory_id, query=body.query)
    return session.files(scope, body.ids)


@router.get("/{file_id}", response_model=FileView, summary="One file with its instances")
def file(file_id: UUID, scope: ScopeDep, session: SessionDep) -> FileView:
    return session.files(scope, [file_id])[0]


@router.get(
    "/{file_id}/blob",
    summary="The file's bytes: a redirect to a short-lived signed URL, or the bytes themselves",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, 307: {"description": "signed URL"}},
)
def blob(file_id: UUID, scope: ScopeDep, session: SessionDep) -> Response:
    view, url = session.blob(scope, file_id)  # the access check comes first, always
    if url is not None:
        return RedirectResponse(url, status_code=307)
    stream = session.service.blobs.open(view.sha256)
    chunks = iter(lambda: stream.read(CHUNK_BYTES), b"")
    return StreamingResponse(chunks, media_type=view.media_type, headers={"Content-Length": str(view.size)})
