"""Export a dataset exactly as it is at its version: a COCO file, or YOLO text labels, optionally with the images.

>>> pinned = project.directory.get("train", version="v3")        # doctest: +SKIP
>>> export_coco(pinned, "out/", images=True).files                  # doctest: +SKIP
118

Category ids are class index + 1 and YOLO class numbers are class indices: labels are
only ever added, so both stay the same in every export of the project. Only boxes are
exported; other instance kinds, and files that are not sized images, are listed as
skipped in the summary.
"""

import json
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict
from tqdm import tqdm

from annolog import coco, yolo
from annolog.plan import Box, Problem

if TYPE_CHECKING:
    from annolog.dataset import Dataset
    from annolog.file import File

COCO_FILE = "annotations.json"
CLASSES_FILE = "classes.txt"


class ExportSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: Literal["coco", "yolo"]
    project: str
    dataset: str
    version: int
    out: str
    files: int
    instances: int
    images_copied: int
    skipped: list[Problem]  # files and instances the format cannot hold
    seconds: float


def export_coco(dataset: "Dataset", out: str | Path, *, images: bool = False, progress: bool = False) -> ExportSummary:
    """Write ``out/annotations.json`` (and with ``images`` the files into ``out/images/``)."""
    with _Export(dataset, Path(out), "coco", images=images, progress=progress) as export:
        categories = {name: entry["id"] for name, entry in zip(dataset.classes, coco.category_entries(dataset.classes))}
        entries: dict[str, list[dict[str, Any]]] = {"images": [], "annotations": []}
        for file, width, height in export.images():
            image_id = len(entries["images"]) + 1
            entries["images"].append(coco.image_entry(image_id, file.name, width, height, file.metadata))
            for box, label, attributes in export.boxes(file):
                annotation_id = len(entries["annotations"]) + 1
                entries["annotations"].append(
                    coco.annotation_entry(annotation_id, image_id, categories[label], box, attributes)
                )
        document = {
            "info": {"description": export.described, "version": str(dataset.version)},
            "licenses": [],
            **entries,
            "categories": coco.category_entries(dataset.classes),
        }
        export.write(COCO_FILE, json.dumps(document))
    return export.summary()


def export_yolo(dataset: "Dataset", out: str | Path, *, images: bool = False, progress: bool = False) -> ExportSummary:
    """Write ``out/classes.txt`` and ``out/labels/<name>.txt`` per image (and with ``images`` the files
    into ``out/images/``); an image without boxes gets an empty label file, as YOLO expects."""
    with _Export(dataset, Path(out), "yolo", images=images, progress=progress) as export:
        index = {name: i for i, name in enumerate(dataset.classes)}
        written: dict[str, str] = {}
        for file, width, height in export.images():
            path = f"labels/{PurePosixPath(file.name).with_suffix('.txt')}"
            if path in written:
                export.skip(file.name, f"its labels would overwrite those of {written[path]!r} ({path})")
                continue
            written[path] = file.name
            lines = [yolo.label_line(index[label], box, width, height) for box, label, _ in export.boxes(file)]
            export.write(path, "".join(f"{line}\n" for line in lines))
        export.write(CLASSES_FILE, yolo.classes_text(dataset.classes))
    return export.summary()


def _safe(name: str) -> PurePosixPath | None:
    """``name`` as a path inside the export, or None if it would climb out of it."""
    path = PurePosixPath(name)
    return None if path.is_absolute() or ".." in path.parts or "\\" in name else path


class _Export:
    """One export in progress: the dataset's files in order, what was written, copied and skipped."""

    def __init__(
        self, dataset: "Dataset", out: Path, format: Literal["coco", "yolo"], *, images: bool, progress: bool
    ) -> None:
        self.dataset, self.out, self.format, self.copy_images = dataset, out, format, images
        self.described = f"{dataset!r} of project {dataset.project.name!r}"
        self.files = self.instances = 0
        self.skipped: list[Problem] = []
        self._bar = tqdm(total=len(dataset), unit="file", desc=f"export {format}", disable=not progress)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="annolog-export")
        self._copies: list[Future[None]] = []
        self._started = time.perf_counter()

    def __enter__(self) -> "_Export":
        self.out.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            for copy in self._copies:
                if kind is None:
                    copy.result()  # a failed copy fails the export
                else:
                    copy.cancel()
        finally:
            self._pool.shutdown()
            self._bar.close()

    def images(self) -> Iterator[tuple["File", int, int]]:
        """Each file that is a sized image with a safe name, with its size; its bytes are copied meanwhile."""
        for file in self.dataset:
            self._bar.update()
            if file.width is None or file.height is None:
                self.skip(file.name, f"not an image with a known size ({file.media_type})")
            elif _safe(file.name) is None:
                self.skip(file.name, "its name would write outside the export folder")
            else:
                self.files += 1
                if self.copy_images:
                    self._copies.append(self._pool.submit(self._copy, file))
                yield file, file.width, file.height

    def boxes(self, file: "File") -> Iterator[tuple[Box, str, dict[str, Any]]]:
        other = [i.kind for i in file.instances if i.box is None]
        if other:
            self.skip(file.name, f"{len(other)} instance(s) of kind {', '.join(sorted(set(other)))}: only boxes export")
        for instance in file.instances:
            if instance.box is not None:
                self.instances += 1
                yield instance.box, instance.label, instance.attributes

    def skip(self, name: str, message: str) -> None:
        self.skipped.append(Problem(location=f"file {name!r}", message=message))

    def write(self, relative: str, text: str) -> None:
        path = self.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def _copy(self, file: "File") -> None:
        path = self.out / "images" / str(_safe(file.name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.read())

    def summary(self) -> ExportSummary:
        return ExportSummary(
            format=self.format,
            project=self.dataset.project.name,
            dataset=repr(self.dataset),
            version=self.dataset.version,
            out=str(self.out),
            files=self.files,
            instances=self.instances,
            images_copied=len(self._copies),
            skipped=self.skipped,
            seconds=round(time.perf_counter() - self._started, 3),
        )
