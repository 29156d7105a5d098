"""The port the SDK talks through: the service in this process, or an annolog server over HTTP.

``annolog.local.LocalBackend`` (embedded, or a ``Service`` built over the server stack)
and ``annolog.http.HttpBackend`` implement it; the SDK's classes are the same over both,
and one contract test suite runs them all.
"""

from collections.abc import Iterator, Sequence
from typing import Any, Protocol
from uuid import UUID

from annolog.core.commands import Command
from annolog.pinned import ManifestSource
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


class Backend(Protocol):
    """What the SDK needs, for one actor; every read is checked against the actor's roles."""

    actor: str

    def create_project(self, name: str, *, labels: Sequence[str] = ()) -> ProjectView: ...

    def execute(self, project: str, commands: Sequence[Command], *, commit_id: UUID | None = None) -> Outcome: ...

    def store_blob(self, project: str, data: bytes, *, name: str, media_type: str | None = None) -> StoredBlob: ...

    def projects(self) -> list[ProjectView]: ...

    def project(self, name: str) -> ProjectView: ...

    def resolve(self, project: str, version: int | str | None) -> int: ...

    def labels(self, project: str, version: int) -> list[str]: ...

    def classes(self, project: str, version: int) -> list[str]: ...

    def skeletons(self, project: str, version: int) -> list[SkeletonView]: ...

    def tags(self, project: str) -> list[TagView]: ...

    def directories(self, project: str, version: int) -> list[DirectoryView]: ...

    def directory(self, project: str, name: str, version: int) -> DirectoryView: ...

    def saved_slice(self, project: str, name: str) -> tuple[str, UUID | None]: ...

    def file_page(self, scope: Scope, *, after: UUID | None = None, limit: int | None = None) -> list[UUID]: ...

    def file_keys(self, scope: Scope) -> list[str]: ...

    def file_count(self, scope: Scope) -> int: ...

    def files(self, scope: Scope, ids: Sequence[UUID]) -> list[FileView]: ...

    def read_blob(self, scope: Scope, file_id: UUID) -> bytes:
        """The bytes of a file the scope may read, checked against its sha256."""
        ...

    def read_mask(self, scope: Scope, file_id: UUID, sha256: str) -> bytes:
        """The counts blob ``sha256`` of a mask an instance of a readable file has at the scope's version."""
        ...

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
        """One page of what changed from ``base`` to ``head``; the next starts after ``next_after``."""
        ...

    def label_stats(self, scope: Scope) -> LabelStats: ...

    def arrays(self, project: str, version: int) -> list[ArrayView]: ...

    def array(self, project: str, name: str, version: int) -> ArrayView: ...

    def array_chunks(self, project: str, name: str, version: int, chunks: Sequence[str] | None) -> list[ChunkView]:
        """The written chunks among ``chunks`` (None: every one) at ``version``; unwritten keys are left out."""
        ...

    def store_chunks(self, project: str, data: Sequence[bytes]) -> list[str]:
        """Store encoded chunks, unprobed, for a write to name; their sha256s in order (needs editor)."""
        ...

    def read_chunk(self, project: str, name: str, sha256: str) -> bytes:
        """Bytes some chunk of the array had at some version, checked against ``sha256``."""
        ...

    def history(
        self,
        project: str,
        *,
        file_id: UUID | None = None,
        instance_id: UUID | None = None,
        directory_id: UUID | None = None,
        **filters: Any,
    ) -> list[HistoryEntry]: ...

    def commits(self, project: str, *, actor: str | None = None, **filters: Any) -> list[CommitView]: ...

    def subscribe(self, scope: Scope, *, after: Cursor) -> Iterator[HistoryEntry]:
        """Changes to the scope's directories after ``after``, as they are projected (never ends)."""
        ...

    def manifest_source(self, scope: Scope) -> ManifestSource:
        """What training workers read the scope's files and bytes through, in any process."""
        ...

    def close(self) -> None: ...
