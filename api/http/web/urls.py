"""The web app's URLs, built in one place so that templates and redirects agree on them.

Every page URL carries the version as the reader wrote it: a number pins the view forever,
a tag follows the tag, ``latest`` stays live. Directories are named by name (names are
unique in a project and never change), files by id.
"""

from urllib.parse import quote, urlencode
from uuid import UUID

ROOT = "/ui"

GRID_THUMBNAIL = 256
"""The thumbnail size a grid tile shows: tiles are 180-260 CSS pixels wide. One size, since
an SVG ``<image>`` (which keeps boxes and image in one frame) has no ``srcset``."""
SIDE_BY_SIDE_THUMBNAIL = 512
"""The size a diff's before and after show at, two to a row."""
NO_THUMBNAIL = f"{ROOT}/static/no-thumbnail.svg"


def _part(text: str) -> str:
    return quote(text, safe="")


def _query(**parameters: str | int | UUID | None) -> str:
    given = {k: str(v) for k, v in parameters.items() if v is not None and v != ""}
    return f"?{urlencode(given)}" if given else ""


def projects() -> str:
    return f"{ROOT}/"


def project(project: str, version: str | int) -> str:
    return f"{ROOT}/p/{_part(project)}/v/{_part(str(version))}/"


def directory(
    project: str, version: str | int, name: str, *, after: UUID | None = None, query: str | None = None
) -> str:
    return f"{ROOT}/p/{_part(project)}/v/{_part(str(version))}/d/{_part(name)}" + _query(query=query, after=after)


def file(
    project: str, version: str | int, file_id: UUID, *, directory: str | None = None, history_after: str | None = None
) -> str:
    path = f"{ROOT}/p/{_part(project)}/v/{_part(str(version))}/f/{file_id}"
    return path + _query(d=directory, history_after=history_after)


def image(project: str, version: int, file_id: UUID, *, directory: str | None = None) -> str:
    """The file's bytes for an ``<img>``; ``version`` is a number, so the URL of a file's bytes
    changes only with the version read, and the browser's cache keeps them across pages."""
    return f"{file(project, version, file_id)}/image" + _query(d=directory)


def thumbnail(project: str, version: int, file_id: UUID, *, directory: str | None = None, size: int = 256) -> str:
    """A file's thumbnail; like ``image``, by version number, so the browser caches it for good."""
    return f"{file(project, version, file_id)}/thumbnail" + _query(size=size, d=directory)


def diff(
    project: str,
    base: str | int | None = None,
    head: str | int | None = None,
    *,
    directory: str | None = None,
    after: UUID | None = None,
) -> str:
    """What changed from ``base`` to ``head``, each as written (a number, a tag or ``latest``)."""
    return f"{ROOT}/p/{_part(project)}/diff" + _query(base=base, head=head, d=directory, after=after)


def stats(project: str, version: str | int, *, directory: str | None = None, since: str | int | None = None) -> str:
    return f"{ROOT}/p/{_part(project)}/v/{_part(str(version))}/stats" + _query(since=since, d=directory)


def changes(project: str, *, directory: str | None = None, since: int | None = None) -> str:
    """The live stream of changes a signed-in page listens to (Server-Sent Events)."""
    return f"{ROOT}/p/{_part(project)}/changes" + _query(d=directory, since=since)


def tiles(
    project: str, version: str | int, directory: str, *, after: UUID | None = None, query: str | None = None
) -> str:
    """A directory page's grid alone, as the page's script fetches it again."""
    return f"{ROOT}/p/{_part(project)}/v/{_part(str(version))}/tiles" + _query(d=directory, after=after, query=query)


def audit(project: str, **filters: str | int | None) -> str:
    return f"{ROOT}/p/{_part(project)}/audit" + _query(**filters)


def signin(next_page: str | None = None) -> str:
    return f"{ROOT}/signin" + _query(next=next_page)


def safe_next(candidate: str | None) -> str:
    """Where to go after signing in: only a page of this app, never another site
    (``//evil.example`` and ``/\\evil.example`` are other sites to a browser)."""
    if candidate and candidate.startswith(f"{ROOT}/") and "\\" not in candidate and "//" not in candidate:
        return candidate
    return projects()


def within_version(raw_path: str, query: str) -> str:
    """What follows ``/ui/p/{project}/v/{version}/`` in a page's raw (still quoted) path, with
    its query: the same page at another version is ``project(p, other) + within_version(...)``."""
    parts = raw_path.split("/", 6)  # '', 'ui', 'p', project, 'v', version, the rest
    rest = parts[6] if len(parts) == 7 and parts[1:3] == ["ui", "p"] and parts[4] == "v" else ""
    return rest + (f"?{query}" if query and rest else "")
