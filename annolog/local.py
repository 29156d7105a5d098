"""The SDK's backend in this process: a ``Session`` of the service, plus what only a local
caller can do directly (read blobs from the store, wait on the projector in process)."""

from collections.abc import Iterator
from uuid import UUID

from annolog.pinned import DatabaseSource, ManifestSource
from api.session import Session
from projections.audit import Cursor
from projections.readmodels import HistoryEntry, Scope

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
