"""Where a COCO import's checked images and instances wait for their commit: a temporary SQLite file.

A COCO file may list its annotations in any order, and a file is committed with all its
instances; holding them in memory took ~2.6 GB per million annotations. The spill keeps them
on disk instead, and hands back the planned files one chunk at a time, in image order.
"""

import json
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self, overload

from annolog.core.geometry import InstanceKind
from annolog.core.mask import Mask
from annolog.plan import PlannedFile, PlannedInstance

FileBuilder = Callable[[str, str, list[PlannedInstance]], PlannedFile]
"""A planned file from its spilled image entry, where it is in the input, and its instances."""

_SCHEMA = """
CREATE TABLE images (rank INTEGER PRIMARY KEY, entry TEXT NOT NULL, location TEXT NOT NULL);
CREATE TABLE instances (image INTEGER NOT NULL, annotation TEXT NOT NULL UNIQUE, instance TEXT NOT NULL);
CREATE INDEX instances_by_image ON instances (image);
"""


class Spill:
    """Images (by rank, their order among the images imported) and their instances, on disk until closed."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="annolog-import-")
        # Nothing here outlives the import: no journal, no syncs, and one transaction never committed.
        self._db = sqlite3.connect(Path(self._folder.name) / "spill.db")
        self._db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        self._images = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._db.close()
        self._folder.cleanup()

    def add_image(self, entry: str, location: str) -> None:
        self._db.execute("INSERT INTO images VALUES (?, ?, ?)", (self._images, entry, location))
        self._images += 1

    def add_instance(self, annotation_id: int, image: int, planned: PlannedInstance) -> None:
        mask = None if planned.mask is None else planned.mask.model_dump()
        content = json.dumps(
            [
                planned.location,
                planned.label,
                planned.kind,
                planned.points,
                planned.attributes,
                planned.parts,
                mask,
                planned.visibility,
            ]
        )
        self._db.execute("INSERT INTO instances VALUES (?, ?, ?)", (image, str(annotation_id), content))

    def instance_location(self, annotation_id: int) -> str | None:
        """Where the instance spilled under ``annotation_id`` is in the input, or None if there is none."""
        row = self._db.execute("SELECT instance FROM instances WHERE annotation = ?", (str(annotation_id),)).fetchone()
        return None if row is None else str(json.loads(row[0])[0])

    def files(self, build: FileBuilder) -> "SpilledFiles":
        return SpilledFiles(self, build, self._images)

    def read(self, start: int, stop: int, build: FileBuilder) -> list[PlannedFile]:
        """The planned files of images ``start`` to ``stop`` (excluded), with their instances in input order."""
        planned: dict[int, list[PlannedInstance]] = {rank: [] for rank in range(start, stop)}
        query = "SELECT image, instance FROM instances WHERE image >= ? AND image < ? ORDER BY image, rowid"
        for image, content in self._db.execute(query, (start, stop)):
            location, label, kind, points, attributes, parts, mask, visibility = json.loads(content)
            shape = tuple((x, y) for x, y in points)
            planned[image].append(
                PlannedInstance(
                    label,
                    InstanceKind(kind),
                    shape,
                    attributes,
                    location,
                    tuple(parts),
                    mask and Mask(**mask),
                    tuple(visibility),
                )
            )
        query = "SELECT rank, entry, location FROM images WHERE rank >= ? AND rank < ? ORDER BY rank"
        return [
            build(entry, location, planned[rank]) for rank, entry, location in self._db.execute(query, (start, stop))
        ]


class SpilledFiles(Sequence[PlannedFile]):
    """The planned files of a spill, in image order; a slice reads only its own files from disk."""

    def __init__(self, spill: Spill, build: FileBuilder, count: int) -> None:
        self._spill, self._build, self._count = spill, build, count

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> PlannedFile: ...

    @overload
    def __getitem__(self, index: slice) -> list[PlannedFile]: ...

    def __getitem__(self, index: int | slice) -> PlannedFile | list[PlannedFile]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._count)
            if step != 1:
                raise ValueError(f"spilled files are read in runs, not every {step}th")
            return self._spill.read(start, max(start, stop), self._build)
        if not -self._count <= index < self._count:
            raise IndexError(f"file {index} of {self._count}")
        at = index % self._count
        return self._spill.read(at, at + 1, self._build)[0]
