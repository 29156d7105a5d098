"""The version a page is at, as its URL writes it and as the number that names now."""

from dataclasses import dataclass

from annolog.api.session import Session
from annolog.core.errors import InvalidInputError
from annolog.core.events import LATEST
from annolog.projections.readmodels import DirectoryView, Scope, TagView


@dataclass(frozen=True)
class At:
    """``written`` is the URL's own (a number, a tag or ``latest``), kept in every link so a
    pinned view stays pinned and a live one live; ``number`` is what it resolves to now."""

    project: str
    written: str
    number: int
    latest: int
    tags: tuple[TagView, ...]
    """The project's tags, for the version picker; those naming ``number`` are ``here``."""

    @property
    def here(self) -> list[str]:
        return [tag.name for tag in self.tags if tag.version == self.number]

    @property
    def pinned(self) -> bool:
        return self.written.isascii() and self.written.isdigit()


def resolve(session: Session, project: str, written: str) -> At:
    """The version ``written`` names in ``project``; the project must be readable first, so a
    stranger learns nothing of its tags."""
    if not written:
        raise InvalidInputError("a version is a number, a tag or 'latest', got an empty one")
    latest = session.project(project).version
    number = latest if written == LATEST else session.resolve(project, written)
    return At(project=project, written=written, number=number, latest=latest, tags=tuple(session.tags(project)))


def read_through(
    session: Session, project: str, version: int, directory: str | None
) -> tuple[DirectoryView | None, Scope]:
    """The directory a page reads ``project`` through at ``version`` (None: every directory the
    reader may read), and the scope of that read."""
    folder = session.directory(project, directory, version) if directory else None
    return folder, Scope(project=project, version=version, directory_id=folder.directory_id if folder else None)
