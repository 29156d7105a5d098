"""What a bulk import intends to write, and what it refused: checked before anything is written.

Readers of input formats (a folder of images, a COCO file) turn their input into a
``Plan``; ``annolog.ingest`` carries a plan out. Everything that can be judged from the
input alone is judged while planning, so a refused part is listed with where it is in
the input ("annotations[17] (id 4521): category_id 99 is not in categories") and the
rest goes in.
"""

import mimetypes
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, JsonValue

from annolog.core.geometry import InstanceKind, Point
from annolog.core.mask import Mask
from annolog.core.skeleton import Skeleton

Box = tuple[float, float, float, float]
"""x_min, y_min, x_max, y_max in pixels."""


class Problem(BaseModel):
    """One refused part of the input: where it is, and why it was refused."""

    model_config = ConfigDict(frozen=True)

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass(frozen=True)
class PlannedInstance:
    """An instance to draw: a box (two corners), a polygon (of one or several ``parts``), a ``mask``,
    or keypoints (a point per keypoint of its label's skeleton, with COCO's ``visibility`` flags)."""

    label: str
    kind: InstanceKind
    points: tuple[Point, ...]
    attributes: dict[str, JsonValue]
    location: str
    parts: tuple[int, ...] = ()
    mask: Mask | None = None
    visibility: tuple[int, ...] = ()

    @classmethod
    def box(cls, label: str, box: Box, attributes: dict[str, JsonValue], location: str) -> "PlannedInstance":
        x_min, y_min, x_max, y_max = box
        return cls(label, InstanceKind.box, ((x_min, y_min), (x_max, y_max)), attributes, location)


@dataclass(frozen=True)
class PlannedFile:
    """A file to add (from ``source``), or with ``source=None`` one the directory must already hold.

    ``width`` and ``height``, when the input states them, must be the image's real size:
    the instances were checked against them.
    """

    name: str
    source: Path | None
    location: str
    metadata: dict[str, JsonValue] = field(default_factory=dict)
    width: int | None = None
    height: int | None = None
    instances: tuple[PlannedInstance, ...] = ()


@dataclass(frozen=True)
class Plan:
    """Labels to define (in this order), skeletons to declare on them, files with their instances,
    and what was refused.

    ``files`` may be read from disk a slice at a time (``annolog.spill``): take slices of it.
    """

    files: Sequence[PlannedFile]
    labels: tuple[str, ...] = ()
    skeletons: tuple[tuple[str, Skeleton], ...] = ()
    problems: tuple[Problem, ...] = ()


def plan_files(sources: Iterable[str | Path]) -> Plan:
    """Files to add from paths: a file is named after itself, a folder's images after their
    path inside the folder (``cars/0001.jpg``), walked in name order, hidden entries left out."""
    files: list[PlannedFile] = []
    problems: list[Problem] = []
    first: dict[str, str] = {}
    for source in map(Path, sources):
        for name, path in _named(source):
            if name in first:
                problems.append(Problem(location=str(path), message=f"duplicate name {name!r}, first at {first[name]}"))
                continue
            first[name] = str(path)
            files.append(PlannedFile(name=name, source=path, location=str(path)))
    return Plan(files=tuple(files), problems=tuple(problems))


def _named(source: Path) -> Iterator[tuple[str, Path]]:
    if not source.is_dir():
        yield source.name, source  # a missing file is reported when it is read
        return
    for path in sorted(source.rglob("*")):
        name = path.relative_to(source).as_posix()
        kind, _ = mimetypes.guess_type(path.name)
        if path.is_file() and (kind or "").startswith("image/") and not any(p.startswith(".") for p in name.split("/")):
            yield name, path
