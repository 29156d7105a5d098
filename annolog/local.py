"""The SDK's backend in this process: a ``Session`` of the service, plus what only a local
caller can do directly (read blobs from the store, wait on the projector in process)."""

from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from annolog.api.bootstrap import build_blobs, remote_blobs
from annolog.api.session import Session
from annolog.api.settings import Settings
from annolog.blobs.store import BlobStore
from annolog.pinned import Entry, ManifestSource
from annolog.projections import queries
from annolog.projections.database import open_database
from annolog.projections.readmodels import ChunkView, Cursor, FileView, HistoryEntry, Scope

HEARTBEAT_S = 15.0
"""How long a subscription waits for the projector before it checks again anyway."""


class LocalBackend(Session):
    """The embedded default (or a ``Service`` built over the server stack), for one actor."""

    def read_blob(self, scope: Scope, file_id: UUID) -> bytes:
        file, _ = self.blob(scope, file_id)
        return self.service.blobs.get(file.sha256)

    def subscribe(self, scope: Scope, *, after: Cursor) -> Iterator[HistoryEntry]:
        """Changes after ``after``, woken by the projector (in process, or PostgreSQL NOTIFY)."""
        found: list[HistoryEntry] = []

        def arrived() -> bool:
            found[:] = self.changes(scope, after=after)
            return bool(found)

        while True:
            if self.service.watch(arrived, HEARTBEAT_S):
                yield from found
                after = (found[-1].version, found[-1].seq)

    def manifest_source(self, scope: Scope) -> ManifestSource:
        return DatabaseSource(self.service.settings, self.project(scope.project).project_id, scope.version)

    def close(self) -> None:
        self.service.close()


class DatabaseSource:
    """The views' database and the blob store, opened read-only from the settings (embedded,
    or a trusted process on the server stack). The file ids come from an access-checked
    read, so this only ever reads files its reader was allowed to list."""

    def __init__(self, settings: Settings, project_id: UUID, version: int) -> None:
        self.settings, self.project_id, self.version = settings, project_id, version
        self._opened: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_opened": {}}  # connections and pools are per process

    @property
    def remote(self) -> bool:
        return remote_blobs(self.settings)

    def views(self, ids: list[UUID]) -> list[FileView]:
        with self._engine().connect() as db:
            return queries.files_by_id(db, self.project_id, ids, self.version)

    def fetch(self, entry: Entry) -> bytes:
        return self._store().get(entry.sha256)

    def fetch_mask(self, file_id: UUID, sha256: str) -> bytes:
        """Verified against ``sha256`` by the store; the hash comes from ``views`` of a file its
        reader was allowed to list, as ``fetch``'s does."""
        return self._store().get(sha256)

    def array_chunks(self, project: str, name: str, version: int, chunks: Sequence[str] | None) -> list[ChunkView]:
        """The chunk rows of an array of this source's project (``project`` names it)."""
        with self._engine().connect() as db:
            return queries.chunks_at(db, self.project_id, name, version, chunks)

    def read_chunk(self, project: str, name: str, sha256: str) -> bytes:
        """Bytes verified against ``sha256``, unchecked against the array as ``fetch`` is against
        the file: the hashes come from ``array_chunks`` of an array its reader was allowed to open."""
        return self._store().get(sha256)

    def _engine(self) -> Any:
        if "engine" not in self._opened:
            self._opened["engine"] = open_database(
                self.settings.database_url, embedded=self.settings.embedded_database, read_only=True
            )
        return self._opened["engine"]

    def _store(self) -> BlobStore:
        if "store" not in self._opened:
            self._opened["store"] = build_blobs(self.settings)
        store: BlobStore = self._opened["store"]
        return store
