"""Small builders of realistic commits for tests and benchmarks."""

import hashlib
from typing import Any
from uuid import UUID

from annolog.core import AddFile, AddInstance, Commit, CreateDirectory, uuid7
from annolog.projections.readmodels import FileView, InstanceView


def file_commit(project_id: UUID, *, instances: int = 1, actor: str = "ana") -> Commit:
    """One commit that adds a directory, a file in it and ``instances`` boxes on the file."""
    directory = CreateDirectory(name=f"dir-{uuid7()}")
    file = AddFile(
        directory_id=directory.directory_id,
        sha256=hashlib.sha256(uuid7().bytes).hexdigest(),
        name="street.jpg",
        media_type="image/jpeg",
        size=48_213,
        width=640,
        height=480,
        metadata={"weather": "rain", "camera": {"id": 7}},
    )
    boxes = [
        AddInstance(
            file_id=file.file_id,
            label="car",
            kind="box",
            points=((i % 600, i % 400), (i % 600 + 30, i % 400 + 20)),
            attributes={"score": 0.5 + (i % 50) / 100},
        )
        for i in range(instances)
    ]
    events = directory.events() + file.events() + tuple(e for box in boxes for e in box.events())
    return Commit(project_id=project_id, actor=actor, command="ImportFiles", events=events)


def file_view(file_id: UUID, *instances: InstanceView, **fields: Any) -> FileView:
    """A 100 x 80 JPEG's view at version 2 holding ``instances``; ``fields`` replace any of its own."""
    view = {
        "sha256": "ab" * 32,
        "name": "a.jpg",
        "media_type": "image/jpeg",
        "size": 1,
        "width": 100,
        "height": 80,
        "metadata": {},
        "copied_from": None,
        "created_version": 1,
        "version": 2,
    }
    return FileView(file_id=file_id, instances=instances, **(view | fields))
