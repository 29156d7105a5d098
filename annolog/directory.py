"""A directory as a dataset; writable when read at the latest version."""

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from annolog.core.commands import AddFile, MirrorFile, RemoveFileFromDirectory
from annolog.core.errors import InvalidInputError
from annolog.dataset import Dataset
from annolog.file import File
from annolog.projections.readmodels import DirectoryView

if TYPE_CHECKING:
    from annolog.ingest import IngestSummary
    from annolog.project import Project


class Directory(Dataset):
    """A named set of files of a project (a Diffgram dataset), read at one version."""

    def __init__(self, project: "Project", view: DirectoryView, *, pinned: bool, tag: str | None = None) -> None:
        super().__init__(project, version=view.version, pinned=pinned, tag=tag)
        self.id: UUID = view.directory_id
        self.name = view.name
        self.access_type = view.access_type

    @property
    def directory_id(self) -> UUID:
        return self.id

    def add_file(
        self,
        source: str | Path | bytes,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
        media_type: str | None = None,
    ) -> File:
        """Add a file from a path or bytes (bytes need ``name``); images are checked and sized."""
        self._writable("add a file")
        if isinstance(source, bytes):
            if name is None:
                raise InvalidInputError("add_file(bytes) needs name=, e.g. add_file(data, name='dog.jpg')")
            data = source
        else:
            data, name = Path(source).read_bytes(), name or Path(source).name
        stored = self.project.store_blob(data, name=name, media_type=media_type)
        command = AddFile(directory_id=self.id, name=name, metadata=metadata or {}, **stored.model_dump())
        self._committed(self.project.execute([command]))
        return self._files([command.file_id])[0]

    def add_files(
        self, sources: Iterable[str | Path], *, workers: int = 8, batch_files: int = 200, progress: bool = False
    ) -> "IngestSummary":
        """Add many files (a folder adds the images in it) in batched commits; see ``annolog.ingest``.

        Re-running skips what is already in, so an interrupted run can simply be run again.
        """
        from annolog import ingest

        self._writable("add files")
        return ingest.add_files(self, sources, workers=workers, batch_files=batch_files, progress=progress)

    def import_coco(
        self,
        annotations: str | Path,
        images: str | Path | None = None,
        *,
        predictions: bool = False,
        workers: int = 8,
        batch_files: int = 200,
        progress: bool = False,
    ) -> "IngestSummary":
        """Import a COCO file's images and boxes (``predictions=True``: scored, as ``attributes.score``).

        Invalid parts are listed with their place in the file and left out; see ``annolog.ingest``.
        """
        from annolog import ingest

        self._writable("import into it")
        return ingest.import_coco(
            self,
            annotations,
            images,
            predictions=predictions,
            workers=workers,
            batch_files=batch_files,
            progress=progress,
        )

    def add(self, file: File) -> File:
        """Mirror ``file`` here: the same file and instances, seen in both directories."""
        self._writable("mirror a file into it")
        self._committed(self.project.execute([MirrorFile(file_id=file.id, directory_id=self.id)]))
        return self._files([file.id])[0]

    def remove(self, file: File) -> None:
        """Take ``file`` out of this directory; the file and its instances stay elsewhere."""
        self._writable("remove a file")
        self._committed(self.project.execute([RemoveFileFromDirectory(file_id=file.id, directory_id=self.id)]))

    def __repr__(self) -> str:
        return f"Directory({self.name!r}, {self._at()})"
