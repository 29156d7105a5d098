"""Export a dataset exactly as it is at its version: a COCO file, or YOLO text labels, optionally with the images.

>>> pinned = project.directory.get("train", version="v3")        # doctest: +SKIP
>>> export_coco(pinned, "out/", images=True).files                  # doctest: +SKIP
118

Category ids are class index + 1 and YOLO class numbers are class indices: labels are
only ever added, so both stay the same in every export of the project. COCO takes boxes,
polygons (of one or several parts), masks and keypoints (with their labels' skeletons in
the categories); YOLO takes boxes and single-ring polygons (its segment format). What a
format cannot hold (points, lines and tags everywhere; masks, polygons of several parts
and keypoints in YOLO), and files that are not sized images, are listed as skipped in the
summary.

Every export says which data it is, for a run trained on it to be repeated: the project,
the version number and the tag it was opened by (a tag can be moved; the number stays).
COCO keeps them in ``info`` (``info["annolog"]``), YOLO in ``annolog.json``, and the
summary has them.

Files are written under their own names where those are safe and unique in the export;
two files of one name, or a name no file system takes, get a short id of the file added
(``cat-3f9a1c2e.jpg``), and the summary lists every such rename.
"""

import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from tqdm import tqdm

from annolog import coco, coco_keypoints, yolo
from annolog.core.errors import InvalidInputError
from annolog.core.geometry import InstanceKind
from annolog.core.skeleton import Skeleton
from annolog.plan import Problem

if TYPE_CHECKING:
    from annolog.dataset import Dataset
    from annolog.file import File, Instance

COCO_FILE = "annotations.json"
CLASSES_FILE = "classes.txt"
MANIFEST_FILE = "annolog.json"
"""What a YOLO export is of (``Provenance``); COCO carries the same in ``info["annolog"]``."""


def _described(instance: "Instance") -> str:
    return "polygon of several parts" if instance.parts else str(instance.kind)


class Renamed(BaseModel):
    """A file written under another name than its own, and why."""

    model_config = ConfigDict(frozen=True)

    file_id: UUID
    name: str
    exported_as: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name!r} -> {self.exported_as!r} ({self.reason})"


class Provenance(BaseModel):
    """Which data an export is: its project, dataset, version number and the tag it was opened by."""

    model_config = ConfigDict(frozen=True)

    project: str
    dataset: str
    version: int
    tag: str | None


class ExportSummary(Provenance):
    format: Literal["coco", "yolo"]
    out: str
    files: int
    instances: int
    images_copied: int
    skipped: list[Problem]  # files and instances the format cannot hold
    renamed: list[Renamed]  # files written under another name: unsafe, too long, or taken
    seconds: float


def export_coco(dataset: "Dataset", out: str | Path, *, images: bool = False, progress: bool = False) -> ExportSummary:
    """Write ``out/annotations.json`` (and with ``images`` the files into ``out/images/``)."""
    with _Export(dataset, Path(out), "coco", images=images, progress=progress, unique=str) as export:
        skeletons = {
            name: Skeleton(keypoints=view.keypoints, skeleton=view.skeleton)
            for name, view in dataset.project.skeletons(version=dataset.version).items()
        }
        category_entries = coco.category_entries(dataset.classes, skeletons)
        categories = {name: entry["id"] for name, entry in zip(dataset.classes, category_entries)}
        entries: dict[str, list[dict[str, Any]]] = {"images": [], "annotations": []}
        for file, name, width, height in export.images():
            image_id = len(entries["images"]) + 1
            entries["images"].append(coco.image_entry(image_id, name, width, height, file.metadata))
            for instance in export.exported(file, _coco_geometry, "COCO"):
                geometry = _coco_geometry(instance)
                assert geometry is not None
                annotation_id = len(entries["annotations"]) + 1
                entries["annotations"].append(
                    coco.annotation_entry(
                        annotation_id, image_id, categories[instance.label], geometry, instance.attributes
                    )
                )
        document = {
            "info": {
                "description": export.described,
                "version": str(dataset.version),
                "annolog": export.provenance.model_dump(mode="json"),
            },
            "licenses": [],
            **entries,
            "categories": category_entries,
        }
        export.write(COCO_FILE, json.dumps(document))
    return export.summary()


def export_yolo(dataset: "Dataset", out: str | Path, *, images: bool = False, progress: bool = False) -> ExportSummary:
    """Write ``out/classes.txt``, ``out/labels/<name>.txt`` per image and ``out/annolog.json`` (and with
    ``images`` the files into ``out/images/``); an image without boxes gets an empty label file, as YOLO expects."""
    with _Export(dataset, Path(out), "yolo", images=images, progress=progress, unique=yolo.label_file) as export:
        index = {name: i for i, name in enumerate(dataset.classes)}
        for file, name, width, height in export.images():
            lines = [
                _yolo_line(instance, index[instance.label], width, height)
                for instance in export.exported(file, _yolo_takes, "YOLO")
            ]
            export.write(yolo.label_file(name), "".join(f"{line}\n" for line in lines))
        export.write(CLASSES_FILE, yolo.classes_text(dataset.classes))
        export.write(MANIFEST_FILE, export.provenance.model_dump_json(indent=2))
    return export.summary()


def _coco_geometry(instance: "Instance") -> dict[str, Any] | None:
    """What COCO writes of ``instance``; None for a kind it has no place for."""
    if instance.box is not None:
        return coco.box_geometry(instance.box)
    if instance.kind is InstanceKind.polygon:
        return coco.polygon_geometry(instance.polygons)
    if instance.rle is not None:
        return coco.mask_geometry(instance.rle.size, instance.rle.counts, instance.rle.area, instance.rle.bbox)
    if instance.kind is InstanceKind.keypoints:
        kept = instance.attributes.get(coco_keypoints.KEPT)
        return coco_keypoints.keypoints_geometry(instance.points, instance.visibility, kept)
    return None


def _yolo_takes(instance: "Instance") -> bool:
    """YOLO holds boxes, and polygons of one ring (one line of a segment per object)."""
    return instance.box is not None or (instance.kind is InstanceKind.polygon and not instance.parts)


def _yolo_line(instance: "Instance", class_index: int, width: int, height: int) -> str:
    if instance.box is not None:
        return yolo.label_line(class_index, instance.box, width, height)
    return yolo.segment_line(class_index, instance.points, width, height)


_NOT_IN_FILE_NAMES = re.compile(r'[\x00-\x1f\x7f<>:"\\|?*]')
"""Characters some file system refuses (Windows' reserved ones, control characters)."""
MAX_SEGMENT_BYTES = 200
"""The longest part of an exported path, in UTF-8 bytes: file systems take 255, and this
leaves room for the id a rename adds and for YOLO's ``.txt``."""


def _portable(name: str) -> tuple[str, str | None]:
    """``name`` as a relative path any file system takes, and why it had to change (or None)."""
    parts = name.split("/")
    kept = [part for part in parts if part not in ("", ".", "..")] or ["file"]
    reasons = [
        "it is not a plain relative path" if kept != parts else "",
        "it has characters some file systems refuse" if any(_NOT_IN_FILE_NAMES.search(p) for p in kept) else "",
        "it is too long for a file system" if any(len(p.encode()) > MAX_SEGMENT_BYTES for p in kept) else "",
    ]
    portable = "/".join(_shortened(_NOT_IN_FILE_NAMES.sub("_", part)) for part in kept)
    return portable, "; ".join(r for r in reasons if r) or None


def _shortened(part: str) -> str:
    """``part`` cut to ``MAX_SEGMENT_BYTES`` of UTF-8, keeping its extension."""
    if len(part.encode()) <= MAX_SEGMENT_BYTES:
        return part
    suffix = _suffix(part)
    stem = part[: len(part) - len(suffix)].encode()[: MAX_SEGMENT_BYTES - len(suffix.encode())]
    return stem.decode(errors="ignore") + suffix


def _suffix(name: str) -> str:
    """The extension worth keeping through a rename: ``.jpg``, not 300 characters after a dot."""
    suffix = PurePosixPath(name).suffix
    return suffix if len(suffix) <= 16 else ""


class _Names:
    """The name each file is exported under: its own when portable and not yet taken,
    else a portable one with the end of its id added, which no other file has.

    A name is taken by another file's name or by its ``unique`` twin (YOLO's label file),
    in any letter case (case-insensitive file systems), and by the folders either is in.
    """

    def __init__(self, unique: Callable[[str], str]) -> None:
        self._twin, self._files, self._folders = unique, set[str](), set[str]()
        self.renamed: list[Renamed] = []

    def of(self, file_id: UUID, name: str) -> str:
        portable, reason = _portable(name)
        if reason is None and self._free(portable):
            return self._take(portable)
        path = PurePosixPath(portable)
        suffix = _suffix(path.name)
        tagged = str(path.with_name(f"{path.name[: len(path.name) - len(suffix)]}-{file_id.hex[-8:]}{suffix}"))
        chosen = tagged if self._free(tagged) else str(path.with_name(f"{file_id.hex}{suffix}"))
        why = reason or "another file of the export has its name"
        self.renamed.append(Renamed(file_id=file_id, name=name, exported_as=chosen, reason=why))
        return self._take(chosen)

    def _paths(self, name: str) -> list[PurePosixPath]:
        return [PurePosixPath(name.casefold()), PurePosixPath(self._twin(name).casefold())]

    def _free(self, name: str) -> bool:
        return not any(
            str(path) in self._files or str(path) in self._folders or any(str(up) in self._files for up in path.parents)
            for path in self._paths(name)
        )

    def _take(self, name: str) -> str:
        for path in self._paths(name):
            self._files.add(str(path))
            self._folders.update(str(up) for up in path.parents)
        return name


class _Export:
    """One export in progress: the dataset's files in order, what was written, copied and skipped."""

    def __init__(
        self,
        dataset: "Dataset",
        out: Path,
        format: Literal["coco", "yolo"],
        *,
        images: bool,
        progress: bool,
        unique: Callable[[str], str],
    ) -> None:
        self.dataset, self.out, self.format, self.copy_images = dataset, out, format, images
        self.described = f"{dataset!r} of project {dataset.project.name!r}"
        self.provenance = Provenance(
            project=dataset.project.name, dataset=repr(dataset), version=dataset.version, tag=dataset.tag
        )
        self.files = self.instances = 0
        self.skipped: list[Problem] = []
        self._names = _Names(unique)  # what must differ between two files: YOLO's label file, COCO's name
        self._bar = tqdm(total=len(dataset), unit="file", desc=f"export {format}", disable=not progress)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="annolog-export")
        self._copies: list[Future[None]] = []
        self._started = time.perf_counter()

    def __enter__(self) -> "_Export":
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise self._unwritable(error) from error
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            for copy in self._copies:
                if kind is None:
                    copy.result()  # a failed copy fails the export
                else:
                    copy.cancel()
        except OSError as failed:
            raise self._unwritable(failed) from failed
        finally:
            self._pool.shutdown()
            self._bar.close()
        if isinstance(error, OSError):
            raise self._unwritable(error) from error

    def _unwritable(self, error: OSError) -> InvalidInputError:
        where = f" ({error.filename})" if error.filename and str(error.filename) != str(self.out) else ""
        return InvalidInputError(f"cannot write the export into {str(self.out)!r}{where}: {error.strerror or error}")

    def images(self) -> Iterator[tuple["File", str, int, int]]:
        """Each file that is a sized image, with the name it is exported under and its size;
        its bytes are copied meanwhile."""
        for file in self.dataset:
            self._bar.update()
            if file.width is None or file.height is None:
                self.skip(file.name, f"not an image with a known size ({file.media_type})")
                continue
            if file.frames is not None:  # COCO and YOLO label pictures; a video's boxes sit on its frames
                self.skip(file.name, f"a video of {file.frames} frames ({file.media_type}): only pictures export")
                continue
            name = self._names.of(file.id, file.name)
            self.files += 1
            if self.copy_images:
                self._copies.append(self._pool.submit(self._copy, file, name))
            yield file, name, file.width, file.height

    def exported(self, file: "File", takes: Callable[["Instance"], object], format: str) -> Iterator["Instance"]:
        """The file's instances that ``format`` ``takes``; the others are listed as skipped, by kind."""
        other = sorted({_described(i) for i in file.instances if not takes(i)})
        if other:
            left = sum(1 for i in file.instances if not takes(i))
            self.skip(file.name, f"{left} instance(s) of kind {', '.join(other)}: {format} cannot hold them")
        for instance in file.instances:
            if takes(instance):
                self.instances += 1
                yield instance

    def skip(self, name: str, message: str) -> None:
        self.skipped.append(Problem(location=f"file {name!r}", message=message))

    def write(self, relative: str, text: str) -> None:
        path = self.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def _copy(self, file: "File", name: str) -> None:
        path = self.out / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.read())

    def summary(self) -> ExportSummary:
        return ExportSummary(
            **self.provenance.model_dump(),
            format=self.format,
            out=str(self.out),
            files=self.files,
            instances=self.instances,
            images_copied=len(self._copies),
            skipped=self.skipped,
            renamed=self._names.renamed,
            seconds=round(time.perf_counter() - self._started, 3),
        )
