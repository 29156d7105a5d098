"""The SDK's backend over HTTP: the same calls as in process, made to an annolog server.

Problem details come back as the annolog error they were raised as (``ConflictError``,
``AccessDenied``…), so code written against the embedded SDK runs unchanged against a
server. Subscriptions are Server-Sent Events that reconnect and resume from the last
event id, so a dropped connection loses nothing.
"""

import hashlib
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import httpx
from httpx_sse import connect_sse

from annolog.api.wire import (
    CHUNKS_PER_LOOKUP,
    ChunkLookup,
    CommandEnvelope,
    CommitRequest,
    Lookup,
    PageRequest,
    ScopeBody,
)
from annolog.core import errors
from annolog.core.commands import Command
from annolog.pinned import Entry
from annolog.projections.readmodels import (
    ArrayView,
    ChunkView,
    CommitView,
    Cursor,
    Diff,
    DirectoryView,
    FileView,
    HistoryEntry,
    LabelStats,
    Outcome,
    ProjectView,
    Scope,
    SkeletonView,
    StoredBlob,
    TagView,
)

TIMEOUT = httpx.Timeout(60.0, connect=10.0)
REQUESTS_IN_FLIGHT = 16
"""Chunk uploads at once: one chunk per request, so a many-chunk write is bound by round trips."""
_ERRORS: dict[str, type[errors.AnnologError]] = {
    name: kind
    for name, kind in vars(errors).items()
    if isinstance(kind, type) and issubclass(kind, errors.AnnologError)
}


def _raise_for(response: httpx.Response) -> None:
    """Raise the annolog error a problem-details response carries."""
    if response.is_success:
        return
    try:
        problem = response.json()
        kind, detail = _ERRORS.get(problem.get("error", ""), errors.AnnologError), problem["detail"]
    except (ValueError, KeyError, AttributeError):
        kind, detail = errors.UnavailableError, f"{response.status_code} from {response.url}: {response.text[:200]}"
    if response.status_code == 503:
        kind = kind if issubclass(kind, errors.UnavailableError) else errors.UnavailableError
    raise kind(detail)


def request(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request to an annolog server: an unreachable one is ``UnavailableError``, and a
    problem-details answer is raised as the annolog error it names."""
    try:
        response = client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise errors.UnavailableError(f"the annolog server at {client.base_url} is unreachable: {exc}") from exc
    _raise_for(response)
    return response


def _readable_in(scope: Scope) -> dict[str, Any]:
    """The query string of a blob read: its version and directory decide access; its slice
    query does not (a file of a slice is a file of the directory), and could outgrow a URL."""
    params: dict[str, Any] = {"version": scope.version}
    if scope.directory_id is not None:
        params["directory"] = str(scope.directory_id)
    return params


def _body(scope: Scope) -> dict[str, Any]:
    """The scope as a body: a slice query of any length fits (GET would put it in the URL)."""
    return ScopeBody(version=scope.version, directory_id=scope.directory_id, query=scope.query).model_dump(mode="json")


def _quoted(name: str) -> str:
    return httpx.URL(path=name).raw_path.decode().replace("/", "%2F")


def _checked(data: bytes, sha256: str, where: str) -> bytes:
    if hashlib.sha256(data).hexdigest() != sha256:
        raise errors.CorruptBlob(f"the bytes of {where} do not hash to {sha256}")
    return data


class HttpBackend:
    """An annolog server at ``base_url``, as the principal ``token`` names."""

    def __init__(self, client: httpx.Client, *, token: str | None = None) -> None:
        self._client, self._token = client, token
        self.actor: str = self._get("/me")["principal"]

    @classmethod
    def connect(cls, url: str, *, token: str | None) -> "HttpBackend":
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return cls(httpx.Client(base_url=url, headers=headers, timeout=TIMEOUT), token=token)

    # -- plumbing ----------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return request(self._client, method, path, **kwargs)

    def _get(self, path: str, **params: Any) -> Any:
        return self._send("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def _post(self, path: str, body: Any) -> Any:
        return self._send("POST", path, json=body).json()

    def _project(self, project: str) -> str:
        return f"/projects/{_quoted(project)}"

    def _array(self, project: str, name: str) -> str:
        return f"{self._project(project)}/arrays/{_quoted(name)}"

    # -- writes ------------------------------------------------------------------------------

    def create_project(self, name: str, *, labels: Sequence[str] = ()) -> ProjectView:
        return ProjectView.model_validate(self._post("/projects", {"name": name, "labels": list(labels)}))

    def execute(self, project: str, commands: Sequence[Command], *, commit_id: UUID | None = None) -> Outcome:
        body = CommitRequest(commands=[CommandEnvelope.of(c) for c in commands], commit_id=commit_id)
        return Outcome.model_validate(self._post(f"{self._project(project)}/commits", body.model_dump(mode="json")))

    def store_blob(self, project: str, data: bytes, *, name: str, media_type: str | None = None) -> StoredBlob:
        form = {"name": name} | ({"media_type": media_type} if media_type else {})
        response = self._send("POST", f"{self._project(project)}/blobs", files={"file": (name, data)}, data=form)
        return StoredBlob.model_validate(response.json())

    # -- reads -------------------------------------------------------------------------------

    def projects(self) -> list[ProjectView]:
        return [ProjectView.model_validate(p) for p in self._get("/projects")]

    def project(self, name: str) -> ProjectView:
        return ProjectView.model_validate(self._get(self._project(name)))

    def resolve(self, project: str, version: int | str | None) -> int:
        at = "latest" if version is None else _quoted(str(version))
        return int(self._get(f"{self._project(project)}/versions/{at}")["version"])

    def labels(self, project: str, version: int) -> list[str]:
        return list(self._get(f"{self._project(project)}/labels", version=version))

    def classes(self, project: str, version: int) -> list[str]:
        return list(self._get(f"{self._project(project)}/classes", version=version))

    def skeletons(self, project: str, version: int) -> list[SkeletonView]:
        found = self._get(f"{self._project(project)}/skeletons", version=version)
        return [SkeletonView.model_validate(s) for s in found]

    def tags(self, project: str) -> list[TagView]:
        return [TagView.model_validate(t) for t in self._get(f"{self._project(project)}/tags")]

    def directories(self, project: str, version: int) -> list[DirectoryView]:
        found = self._get(f"{self._project(project)}/directories", version=version)
        return [DirectoryView.model_validate(d) for d in found]

    def directory(self, project: str, name: str, version: int) -> DirectoryView:
        path = f"{self._project(project)}/directories/{_quoted(name)}"
        return DirectoryView.model_validate(self._get(path, version=version))

    def saved_slice(self, project: str, name: str) -> tuple[str, UUID | None]:
        found = self._get(f"{self._project(project)}/slices/{_quoted(name)}")
        return found["query"], None if found["directory_id"] is None else UUID(found["directory_id"])

    def file_page(self, scope: Scope, *, after: UUID | None = None, limit: int | None = None) -> list[UUID]:
        page = PageRequest(**_body(scope), after=after, limit=limit)
        found = self._post(f"{self._project(scope.project)}/files/query", page.model_dump(mode="json"))
        return [UUID(i) for i in found["ids"]]

    def file_keys(self, scope: Scope) -> list[str]:
        return list(self._post(f"{self._project(scope.project)}/files/query/keys", _body(scope)))

    def file_count(self, scope: Scope) -> int:
        return int(self._post(f"{self._project(scope.project)}/files/query/count", _body(scope))["count"])

    def files(self, scope: Scope, ids: Sequence[UUID]) -> list[FileView]:
        body = Lookup(version=scope.version, directory_id=scope.directory_id, query=scope.query, ids=list(ids))
        return [
            FileView.model_validate(f)
            for f in self._post(f"{self._project(scope.project)}/files/lookup", body.model_dump(mode="json"))
        ]

    def read_blob(self, scope: Scope, file_id: UUID) -> bytes:
        (view,) = self.files(scope, [file_id])
        path = f"{self._project(scope.project)}/files/{file_id}/blob"
        # A signed S3 URL is a redirect; httpx drops the token when the origin changes.
        response = self._send("GET", path, params=_readable_in(scope), follow_redirects=True)
        return _checked(response.content, view.sha256, f"file {view.name!r}")

    def read_mask(self, scope: Scope, file_id: UUID, sha256: str) -> bytes:
        path = f"{self._project(scope.project)}/files/{file_id}/masks/{sha256}"
        return _checked(
            self._send("GET", path, params=_readable_in(scope)).content, sha256, f"mask blob of file {file_id}"
        )

    def diff(
        self,
        project: str,
        base: int,
        head: int,
        *,
        directory_id: UUID | None = None,
        after: UUID | None = None,
        limit: int = 100,
    ) -> Diff:
        found = self._get(
            f"{self._project(project)}/diff", base=base, head=head, directory=directory_id, after=after, limit=limit
        )
        return Diff.model_validate(found)

    def label_stats(self, scope: Scope) -> LabelStats:
        """Posted, as a page of files is: a slice query of any length fits in a body."""
        return LabelStats.model_validate(self._post(f"{self._project(scope.project)}/label-stats", _body(scope)))

    def arrays(self, project: str, version: int) -> list[ArrayView]:
        return [ArrayView.model_validate(a) for a in self._get(f"{self._project(project)}/arrays", version=version)]

    def array(self, project: str, name: str, version: int) -> ArrayView:
        return ArrayView.model_validate(self._get(self._array(project, name), version=version))

    def array_chunks(self, project: str, name: str, version: int, chunks: Sequence[str] | None) -> list[ChunkView]:
        """Asked ``CHUNKS_PER_LOOKUP`` keys at a time; every page reads the same version."""
        if chunks is None:
            return self._chunk_page(project, name, version, None)
        pages = (chunks[i : i + CHUNKS_PER_LOOKUP] for i in range(0, len(chunks), CHUNKS_PER_LOOKUP))
        return [view for page in pages for view in self._chunk_page(project, name, version, list(page))]

    def _chunk_page(self, project: str, name: str, version: int, chunks: list[str] | None) -> list[ChunkView]:
        body = ChunkLookup(chunks=chunks).model_dump(mode="json")
        found = self._send("POST", f"{self._array(project, name)}/chunks", params={"version": version}, json=body)
        return [ChunkView.model_validate(c) for c in found.json()]

    def store_chunks(self, project: str, data: Sequence[bytes]) -> list[str]:
        """One request per chunk, ``REQUESTS_IN_FLIGHT`` at once (the client's pool is thread-safe)."""
        path = f"{self._project(project)}/chunks"

        def upload(chunk: bytes) -> str:
            response = self._send("POST", path, content=chunk, headers={"Content-Type": "application/octet-stream"})
            return str(response.json()["sha256"])

        if len(data) <= 1:
            return [upload(chunk) for chunk in data]
        with ThreadPoolExecutor(
            max_workers=min(len(data), REQUESTS_IN_FLIGHT), thread_name_prefix="annolog-upload"
        ) as pool:
            return list(pool.map(upload, data))

    def read_chunk(self, project: str, name: str, sha256: str) -> bytes:
        response = self._send("GET", f"{self._array(project, name)}/blobs/{sha256}")
        return _checked(response.content, sha256, f"a chunk of array {name!r}")

    def history(
        self,
        project: str,
        *,
        file_id: UUID | None = None,
        instance_id: UUID | None = None,
        directory_id: UUID | None = None,
        **filters: Any,
    ) -> list[HistoryEntry]:
        after = filters.pop("after", None)
        params = {
            "file": file_id,
            "instance": instance_id,
            "directory": directory_id,
            "after": None if after is None else f"{after[0]}.{after[1]}",
            **filters,
        }
        return [HistoryEntry.model_validate(h) for h in self._get(f"{self._project(project)}/history", **params)]

    def commits(self, project: str, *, actor: str | None = None, **filters: Any) -> list[CommitView]:
        found = self._get(f"{self._project(project)}/commits", actor=actor, **filters)
        return [CommitView.model_validate(c) for c in found]

    def subscribe(self, scope: Scope, *, after: Cursor) -> Iterator[HistoryEntry]:
        """Server-Sent Events, resumed from the last event id after a dropped connection."""
        last = f"{after[0]}.{after[1]}"
        path = f"{self._project(scope.project)}/changes"
        params = {"directory": str(scope.directory_id)} if scope.directory_id else {}
        while True:
            try:
                with connect_sse(
                    self._client, "GET", path, params=params, headers={"Last-Event-ID": last}, timeout=None
                ) as source:
                    _raise_for(source.response)
                    for event in source.iter_sse():
                        if event.event == "change":
                            last = event.id
                            yield HistoryEntry.model_validate_json(event.data)
            except httpx.TransportError:
                time.sleep(1.0)  # the server restarts or the network blips: resume from `last`

    def manifest_source(self, scope: Scope) -> "HttpSource":
        return HttpSource(str(self._client.base_url), self._token, scope)

    def close(self) -> None:
        self._client.close()


class HttpSource:
    """A training worker's view of a server: manifest pages and blobs over HTTP; pickles as
    the URL, the token and the scope, and opens its own connection pool in each process."""

    remote = True

    def __init__(self, base_url: str, token: str | None, scope: Scope) -> None:
        self.base_url, self.token, self.scope = base_url, token, scope
        self._backend: HttpBackend | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_backend": None}

    def views(self, ids: list[UUID]) -> list[FileView]:
        return self._opened().files(self.scope, ids)

    def fetch(self, entry: Entry) -> bytes:
        backend = self._opened()
        path = f"{backend._project(self.scope.project)}/files/{entry.file_id}/blob"
        response = backend._send("GET", path, params=_readable_in(self.scope), follow_redirects=True)
        return _checked(response.content, entry.sha256, f"file {entry.name!r}")

    def fetch_mask(self, file_id: UUID, sha256: str) -> bytes:
        return self._opened().read_mask(self.scope, file_id, sha256)

    def array_chunks(self, project: str, name: str, version: int, chunks: Sequence[str] | None) -> list[ChunkView]:
        return self._opened().array_chunks(project, name, version, chunks)

    def read_chunk(self, project: str, name: str, sha256: str) -> bytes:
        return self._opened().read_chunk(project, name, sha256)

    def _opened(self) -> HttpBackend:
        if self._backend is None:
            self._backend = HttpBackend.connect(self.base_url, token=self.token)
        return self._backend
