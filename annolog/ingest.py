"""Bulk ingest into a directory: many files and instances per commit, blobs stored in parallel, safe to re-run.

>>> summary = import_coco(project.directory.get("train"), "instances.json", "images/")  # doctest: +SKIP
>>> summary.files_added, summary.instances_added, summary.problems                      # doctest: +SKIP
(118, 2340, [Problem(location='annotations[17] (id 4521)', message='category_id 99 is not in categories')])

Re-running an import, after an interruption or on purpose, skips what the directory
already holds: a file with the same name and bytes (sha256), and on it each instance with
the same label, geometry and attributes, and a skeleton the label already declares.
Commit ids derive from each batch's content, so a batch whose commit was appended but
never acknowledged is not applied twice.
"""

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Never
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, JsonValue
from tqdm import tqdm

from annolog import masks
from annolog.batches import batches, commit_once
from annolog.coco import plan_coco, read_coco
from annolog.core.commands import AddFile, AddInstance, Command, DeclareSkeleton, DefineLabel
from annolog.core.errors import AnnologError, ConflictError, InvalidInputError, NotFoundError, ReadOnlyError
from annolog.core.mask import RLE_MEDIA_TYPE
from annolog.core.skeleton import Skeleton
from annolog.plan import Plan, PlannedFile, PlannedInstance, Problem, plan_files
from annolog.projections.readmodels import StoredBlob

if TYPE_CHECKING:
    from annolog.directory import Directory
    from annolog.file import File

Signature = tuple[str, str, tuple[tuple[float, float], ...], tuple[int, ...], str | None, tuple[int, ...], str]


class IngestSummary(BaseModel):
    """What an import did: counts, labels it defined, versions it made, and every refused part."""

    model_config = ConfigDict(frozen=True)

    project: str
    directory: str
    files_added: int
    files_present: int  # already in the directory, same name and bytes: skipped
    instances_added: int
    instances_present: int  # already on their file: skipped
    labels_defined: list[str]
    problems: list[Problem]
    commits: int
    first_version: int | None  # the versions this import made, None if it made none
    last_version: int | None
    seconds: float


def add_files(
    directory: "Directory",
    sources: Iterable[str | Path],
    *,
    workers: int = 8,
    batch_files: int = 200,
    progress: bool = False,
) -> IngestSummary:
    """Add files (paths; a folder adds the images in it, named by their path inside it), many per commit.

    >>> add_files(project.directory.new("raw"), ["photos/"], progress=True)  # doctest: +SKIP
    """
    return ingest(directory, plan_files(sources), workers=workers, batch_files=batch_files, progress=progress)


def import_coco(
    directory: "Directory",
    annotations_path: str | Path,
    images_dir: str | Path | None = None,
    *,
    predictions: bool = False,
    workers: int = 8,
    batch_files: int = 200,
    progress: bool = False,
) -> IngestSummary:
    """Import a COCO file's images (from ``images_dir``) with their boxes, polygons, masks and keypoints;
    categories become labels, and a category's ``keypoints``/``skeleton`` its label's skeleton.

    Without ``images_dir`` the images must already be in the directory (e.g. model
    predictions for images imported before). With ``predictions`` every annotation needs
    a ``score``, kept as ``attributes.score`` for slices such as ``attributes.score > 0.9``.
    Malformed JSON is refused whole with its line and column; every other problem refuses
    only its part, and is listed in the summary with where it is in the file.
    """
    coco = read_coco(Path(annotations_path))
    images = None if images_dir is None else Path(images_dir)
    declared = {
        name: Skeleton(keypoints=s.keypoints, skeleton=s.skeleton) for name, s in directory.project.skeletons().items()
    }
    with plan_coco(coco, images_dir=images, predictions=predictions, declared=declared) as plan:
        return ingest(directory, plan, workers=workers, batch_files=batch_files, progress=progress)


def ingest(
    directory: "Directory", plan: Plan, *, workers: int = 8, batch_files: int = 200, progress: bool = False
) -> IngestSummary:
    """Carry out ``plan`` in ``directory``: labels first (one commit), their skeletons (one more), then
    files and instances in batches."""
    if directory.pinned:
        raise ReadOnlyError(f"cannot import into {directory!r}: read it without version= to write")
    if workers < 1 or batch_files < 1:
        raise InvalidInputError(f"workers and batch_files must be at least 1, got {workers} and {batch_files}")
    started = time.perf_counter()
    directory.refresh()
    labels, versions = _define_labels(directory, plan.labels)
    versions += _declare_skeletons(directory, plan.skeletons)
    run = _Run(directory, _present(directory), directory.project.version, list(plan.problems), versions)
    with tqdm(total=len(plan.files), unit="file", desc=f"import into {directory.name}", disable=not progress) as bar:
        run.all(_chunks(plan.files, batch_files), workers, bar)
    directory.refresh()
    return run.summary(labels, time.perf_counter() - started)


def _chunks(files: Sequence[PlannedFile], size: int) -> Iterator[Sequence[PlannedFile]]:
    """One chunk at a time: a COCO plan's files are read from disk as they are sliced."""
    return (files[i : i + size] for i in range(0, len(files), size))


def _define_labels(directory: "Directory", wanted: Sequence[str]) -> tuple[list[str], list[int]]:
    """Define the labels the project lacks, in one commit named after them (a retry defines them once);
    the labels defined and the version that defined them."""
    project = directory.project
    known = set(project.backend.classes(project.name, project.version))  # merged labels' names are taken too
    missing = [name for name in wanted if name not in known]
    if not missing:
        return [], []
    commit_id = uuid5(project.id, "define labels\n" + "\n".join(missing))
    return missing, [project.execute([DefineLabel(name=name) for name in missing], commit_id=commit_id).version]


def _declare_skeletons(directory: "Directory", wanted: Sequence[tuple[str, Skeleton]]) -> list[int]:
    """Declare the skeletons the plan asks for, in one commit named after them (a retry declares them
    once); the version that declared them. The plan holds only skeletons the project lacks."""
    if not wanted:
        return []
    project = directory.project
    commands = [DeclareSkeleton(label=label, **skeleton.model_dump()) for label, skeleton in wanted]
    commit_id = uuid5(project.id, "declare skeletons\n" + "\n".join(c.model_dump_json() for c in commands))
    return [project.execute(commands, commit_id=commit_id).version]


def _signature(
    label: str,
    kind: str,
    points: Iterable[Sequence[float]],
    parts: tuple[int, ...],
    counts_sha256: str | None,
    visibility: tuple[int, ...],
    attributes: dict[str, JsonValue],
) -> Signature:
    """What makes two instances the same for a re-run: label, kind, geometry (points to a millionth,
    parts, a mask's counts by their digest, keypoints' visibility) and attributes."""
    rounded = tuple((round(x, 6), round(y, 6)) for x, y in points)
    return label, kind, rounded, tuple(parts), counts_sha256, tuple(visibility), json.dumps(attributes, sort_keys=True)


def _planned_signature(planned: PlannedInstance) -> Signature:
    digest = None if planned.mask is None else masks.counts_digest(planned.mask)
    return _signature(
        planned.label, planned.kind, planned.points, planned.parts, digest, planned.visibility, planned.attributes
    )


@dataclass(frozen=True)
class _Present:
    """A file the directory already holds, and its instances, to skip on a re-run."""

    file_id: UUID
    sha256: str
    width: int | None
    height: int | None
    signatures: Counter[Signature]


def _present(directory: "Directory") -> dict[str, _Present]:
    return {file.name: _present_file(file) for file in directory}


def _present_file(file: "File") -> _Present:
    signatures = Counter(
        _signature(
            i.label,
            i.kind,
            i.points,
            i.parts,
            None if i.stored_rle is None else masks.counts_digest(i.stored_rle),  # no blob read
            i.visibility,
            i.attributes,
        )
        for i in file.instances
    )
    return _Present(file.id, file.sha256, file.width, file.height, signatures)


@dataclass(frozen=True)
class _Prepared:
    """One planned file checked and its bytes stored (``stored`` None: already in), with its new instances.

    Commands are made from it later, in plan order on one thread: their uuid7 ids then
    follow the plan, and so does the order the directory lists its files in.
    """

    planned: PlannedFile
    stored: StoredBlob | None
    present: _Present | None
    instances: list[PlannedInstance]

    def commands(self, directory_id: UUID) -> list[Command]:
        head: list[Command] = []
        if self.present is not None:
            file_id = self.present.file_id
        else:
            assert self.stored is not None
            add = AddFile(
                directory_id=directory_id,
                name=self.planned.name,
                metadata=self.planned.metadata,
                **self.stored.model_dump(),
            )
            file_id, head = add.file_id, [add]
        return head + [
            AddInstance(
                file_id=file_id,
                label=i.label,
                kind=i.kind,
                points=i.points,
                parts=i.parts,
                mask=i.mask,
                visibility=i.visibility,
                attributes=i.attributes,
            )
            for i in self.instances
        ]


def _rejected(groups: list[tuple[_Prepared, list[Command]]], batch: list[Command], error: AnnologError) -> Problem:
    """A rejected commit as one problem naming the span of files it held."""
    held = {id(command) for command in batch}
    where = [p.planned.location for p, commands in groups if any(id(c) in held for c in commands)]
    span = where[0] if len(where) == 1 else f"{where[0]} … {where[-1]} ({len(where)} files)"
    return Problem(location=span, message=f"the commit was rejected: {type(error).__name__}: {error}")


@dataclass
class _Run:
    """One import's progress through its plan: what it committed, skipped and refused."""

    directory: "Directory"
    present: dict[str, _Present]
    started_at: int
    problems: list[Problem]
    versions: list[int]
    files_added: int = 0
    files_present: int = 0
    instances_added: int = 0
    instances_present: int = 0

    def all(self, chunks: Iterator[Sequence[PlannedFile]], workers: int, bar: "tqdm[Never]") -> None:
        """Each chunk's blobs are stored while the chunk before it is committed."""
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="annolog-ingest") as pool:
            pending = self._submit(pool, next(chunks, []))
            try:
                while pending:
                    ready = [future.result() for future in pending]
                    pending = self._submit(pool, next(chunks, []))
                    self.commit(ready)
                    bar.update(len(ready))
                    bar.set_postfix(instances=self.instances_added, refresh=False)
            finally:
                for future in pending:
                    future.cancel()

    def _submit(self, pool: ThreadPoolExecutor, chunk: Sequence[PlannedFile]) -> list["Future[_Prepared | Problem]"]:
        return [pool.submit(self.prepare, planned) for planned in chunk]

    def prepare(self, planned: PlannedFile) -> "_Prepared | Problem":
        """Read, check and store one file's bytes (in a worker thread); a refusal is a problem."""
        try:
            return self._prepared(planned)
        except OSError as exc:
            return Problem(location=planned.location, message=f"cannot read {planned.source}: {exc.strerror or exc}")
        except InvalidInputError as exc:
            return Problem(location=planned.location, message=str(exc))

    def _prepared(self, planned: PlannedFile) -> "_Prepared | Problem":
        present = self.present.get(planned.name)
        if present is not None:
            return self._already_in(planned, present)
        if planned.source is None:
            return self._refused(planned, f"image {planned.name!r} is not in directory {self.directory.name!r}")
        stored = self.directory.project.store_blob(planned.source.read_bytes(), name=planned.name)
        return self._checked(planned, stored, None, (stored.width, stored.height))

    def _already_in(self, planned: PlannedFile, present: _Present) -> "_Prepared | Problem":
        if planned.source is not None and present.sha256 != hashlib.sha256(planned.source.read_bytes()).hexdigest():
            return self._refused(
                planned, f"directory {self.directory.name!r} has a different file named {planned.name!r}"
            )
        return self._checked(planned, None, present, (present.width, present.height))

    def _checked(
        self,
        planned: PlannedFile,
        stored: StoredBlob | None,
        present: _Present | None,
        size: tuple[int | None, int | None],
    ) -> "_Prepared | Problem":
        """The file with the instances it does not have yet, if its real size is the size the input states."""
        stated = (planned.width, planned.height)
        if planned.width is not None and size != stated:
            return self._refused(planned, f"the image is {size[0]}x{size[1]} pixels, not {stated[0]}x{stated[1]}")
        unseen = Counter(present.signatures) if present else Counter()
        new = []
        for instance in planned.instances:
            if unseen[signature := _planned_signature(instance)] > 0:
                unseen[signature] -= 1
            else:
                new.append(self._kept(instance))
        return _Prepared(planned, stored, present, new)

    def _kept(self, instance: PlannedInstance) -> PlannedInstance:
        """``instance`` as committed: a large mask's counts uploaded as a blob (here, in the worker)."""
        if instance.mask is None:
            return instance
        project = self.directory.project
        kept = masks.kept(
            instance.mask, lambda data: project.store_blob(data, name="mask.rle", media_type=RLE_MEDIA_TYPE)
        )
        return replace(instance, mask=kept)

    def _refused(self, planned: PlannedFile, message: str) -> Problem:
        held = f" (with its {len(planned.instances)} instances)" if planned.instances else ""
        return Problem(location=planned.location, message=message + held)

    def commit(self, ready: list["_Prepared | Problem"]) -> None:
        prepared = [p for p in ready if isinstance(p, _Prepared)]
        self.problems += [p for p in ready if isinstance(p, Problem)]
        self.files_present += sum(1 for p in prepared if p.present is not None)
        self.instances_present += sum(len(p.planned.instances) - len(p.instances) for p in prepared)
        groups = [(p, p.commands(self.directory.id)) for p in prepared]
        for batch in batches(commands for _, commands in groups if commands):
            try:
                outcome = commit_once(
                    self.directory.project, batch, namespace=self.directory.id, started_at=self.started_at
                )
            except (ConflictError, NotFoundError, InvalidInputError) as error:
                self.problems.append(_rejected(groups, batch.commands, error))
                continue
            self.versions.append(outcome.version)
            self.files_added += sum(1 for c in batch.commands if isinstance(c, AddFile))
            self.instances_added += sum(1 for c in batch.commands if isinstance(c, AddInstance))

    def summary(self, labels: list[str], seconds: float) -> IngestSummary:
        return IngestSummary(
            project=self.directory.project.name,
            directory=self.directory.name,
            files_added=self.files_added,
            files_present=self.files_present,
            instances_added=self.instances_added,
            instances_present=self.instances_present,
            labels_defined=labels,
            problems=self.problems,
            commits=len(self.versions),
            first_version=min(self.versions, default=None),
            last_version=max(self.versions, default=None),
            seconds=round(seconds, 3),
        )
