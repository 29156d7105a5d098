"""What reads return: plain, serializable values of the views at one version."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, JsonValue

Cursor = tuple[int, int]
"""(version, seq) of a history entry: where a page or a subscription goes on from."""

_LAST_SEQ = 2**31 - 1


def after_version(version: int) -> Cursor:
    """The cursor just past every change of ``version``."""
    return (version, _LAST_SEQ)


class ReadModel(BaseModel):
    model_config = ConfigDict(frozen=True)


class ProjectView(ReadModel):
    project_id: UUID
    name: str
    version: int


class DirectoryView(ReadModel):
    directory_id: UUID
    name: str
    access_type: str
    version: int  # the version it was read at


class MaskView(ReadModel):
    """A mask as COCO writes it: ``size`` (height, width), compressed RLE ``counts``, ``area``, ``bbox``;
    a large mask's counts are a blob instead (``counts_sha256``, ``counts_size``), read through the
    file that holds it (``Session.read_mask``) when its pixels are wanted."""

    size: tuple[int, int]
    counts: str | None = None
    area: int
    bbox: tuple[int, int, int, int]
    counts_sha256: str | None = None
    counts_size: int | None = None


class InstanceView(ReadModel):
    instance_id: UUID
    file_id: UUID
    label: str
    kind: str
    points: tuple[tuple[float, float], ...]
    attributes: dict[str, JsonValue]
    revision: int
    parts: tuple[int, ...] = ()  # a polygon's ring lengths, when it has several rings
    mask: MaskView | None = None
    frame: int | None = None  # the video frame it is drawn on
    track: int | str | None = None  # the object it follows across frames
    visibility: tuple[int, ...] = ()  # a keypoints instance's COCO flag per point


class FileView(ReadModel):
    file_id: UUID
    sha256: str
    name: str
    media_type: str
    size: int
    width: int | None
    height: int | None
    metadata: dict[str, JsonValue]
    copied_from: UUID | None
    created_version: int
    version: int  # the version it was read at
    instances: tuple[InstanceView, ...]
    frames: int | None = None  # a video's frame count; None for a single picture
    fps: float | None = None


class SkeletonView(ReadModel):
    """A label's keypoints by name and the edges between them, as 0-based indices (COCO's file
    format counts from 1)."""

    label: str
    keypoints: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]


class TagView(ReadModel):
    name: str
    version: int


class InstanceChange(ReadModel):
    """An instance between two versions: ``before`` at the base (None: added), ``after`` at the
    head (None: deleted). Changed means its label, kind, points, attributes, frame or track differ."""

    instance_id: UUID
    change: Literal["added", "changed", "deleted"]
    before: InstanceView | None
    after: InstanceView | None


class FileChange(ReadModel):
    """A file between two versions: added to or removed from the diff's directories, or changed
    (its instances or its metadata); ``before``/``after`` are the file with its instances at
    base/head."""

    file_id: UUID
    name: str
    change: Literal["added", "removed", "changed"]
    before: FileView | None
    after: FileView | None
    instances: tuple[InstanceChange, ...] = ()  # what changed in a "changed" file; empty otherwise


class Diff(ReadModel):
    """One page of what changed from version ``base`` to ``head``, by file id; the next page
    starts after ``next_after`` (None: this is the last page)."""

    project: str
    directory_id: UUID | None  # None: every directory the reader may read
    base: int
    head: int
    files: tuple[FileChange, ...]
    next_after: UUID | None


class LabelCount(ReadModel):
    label: str
    class_index: int
    instances: int
    files: int  # files with at least one instance of the label


class LabelStats(ReadModel):
    """Instances and files per label at a version, over a scope's files: every label defined
    at that version, by class index, those without instances too."""

    project: str
    directory_id: UUID | None
    version: int
    files: int  # files in scope
    labels: tuple[LabelCount, ...]


class ArrayView(ReadModel):
    """An array's layout and revision at a version; its chunks are read separately, only
    those a selection touches (``ChunkView``)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    chunks: tuple[int, ...]
    fill_value: float
    compressor: str
    revision: int  # bumped by every write and resize: what a resize names as expected
    created_version: int
    version: int  # the version it was read at


class ChunkView(ReadModel):
    """One written chunk of an array at a version; ``sha256`` None: all fill value again."""

    chunk: str
    sha256: str | None
    size: int
    revision: int


class HistoryEntry(ReadModel):
    """One change to one entity, with who made it, when, in which commit and version.

    ``(version, seq)`` orders a project's changes; it is the cursor of history pages and
    the id of a subscription's events.
    """

    version: int
    seq: int
    commit_id: UUID
    time: datetime
    actor: str
    command: str
    event: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class CommitView(ReadModel):
    """A judged commit: accepted (with the version it made and its chain hash) or rejected (why)."""

    commit_id: UUID
    partition: int
    offset: int
    time: datetime
    actor: str
    command: str
    accepted: bool
    version: int | None
    error: str | None
    reason: str | None
    chain: str | None


class Scope(ReadModel):
    """What a dataset reads: a project's files at one version, in a directory or in any
    directory the reader may read, all of them or those matching a slice ``query``."""

    project: str
    version: int
    directory_id: UUID | None = None
    query: str | None = None


class Outcome(ReadModel):
    """An accepted commit: the version it made."""

    commit_id: UUID
    version: int


class StoredBlob(ReadModel):
    """Bytes in the blob store, probed: what an ``AddFile`` needs to describe them."""

    sha256: str
    media_type: str
    size: int
    width: int | None
    height: int | None
    frames: int | None = None
    fps: float | None = None
