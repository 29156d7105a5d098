"""Arrays: their layout and chunk rows at a version, chunk uploads, and chunk bytes.

Writes are commands like any other (``POST /projects/{project}/commits`` with ``CreateArray``,
``WriteArrayChunks``, ``ResizeArray``); the chunks they name are uploaded here first.
"""

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response

from annolog.api.http.deps import SessionDep, VersionQuery
from annolog.api.wire import ChunkLookup, StoredChunk
from annolog.projections.readmodels import ArrayView, ChunkView

router = APIRouter(prefix="/projects/{project}", tags=["arrays"])

Sha256Path = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="the chunk's bytes' sha256, lowercase hex")]
IMMUTABLE = "private, max-age=31536000, immutable"
"""A chunk's bytes never change under their hash, so a browser or proxy of the reader may keep
them; private, since they were served after a role check."""


@router.get("/arrays", response_model=list[ArrayView], summary="The project's arrays at a version, by name")
def arrays(project: str, version: VersionQuery, session: SessionDep) -> list[ArrayView]:
    return session.arrays(project, version)


@router.get("/arrays/{name}", response_model=ArrayView, summary="An array's layout and revision at a version")
def array(project: str, name: str, version: VersionQuery, session: SessionDep) -> ArrayView:
    return session.array(project, name, version)


@router.post(
    "/arrays/{name}/chunks",
    response_model=list[ChunkView],
    summary="The written chunks among those named (null: all of them) at a version; unwritten ones are left out",
)
def chunks(project: str, name: str, version: VersionQuery, body: ChunkLookup, session: SessionDep) -> list[ChunkView]:
    return session.array_chunks(project, name, version, body.chunks)


@router.post(
    "/chunks",
    response_model=StoredChunk,
    status_code=201,
    summary="Upload one encoded chunk (raw bytes) for an array write to name; needs editor",
)
def upload_chunk(
    project: str,
    data: Annotated[bytes, Body(media_type="application/octet-stream", description="the chunk's encoded bytes")],
    session: SessionDep,
) -> StoredChunk:
    (sha256,) = session.store_chunks(project, [data])
    return StoredChunk(sha256=sha256)


@router.get(
    "/arrays/{name}/blobs/{sha256}",
    summary="A chunk's bytes, if a chunk of this array had them at some version",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
)
def chunk_bytes(project: str, name: str, sha256: Sha256Path, session: SessionDep) -> Response:
    data = session.read_chunk(project, name, sha256)
    headers = {"Cache-Control": IMMUTABLE, "ETag": f'"{sha256}"', "X-Content-Type-Options": "nosniff"}
    return Response(data, media_type="application/octet-stream", headers=headers)
