"""The SDK's entry point: a client over the embedded default, a service, or an annolog server."""

import getpass
from pathlib import Path
from typing import TYPE_CHECKING

from annolog.backend import Backend
from annolog.core.errors import ConflictError
from annolog.project import Project

if TYPE_CHECKING:
    from annolog.api.service import Service


def _backend(target: "str | Path | Service | Backend", actor: str | None, token: str | None) -> Backend:
    # Each way in imports only what it needs: a client of a server never loads SQLAlchemy or Kafka.
    if isinstance(target, str) and target.startswith(("http://", "https://")):
        from annolog.http import HttpBackend

        return HttpBackend.connect(target, token=token)
    from annolog.api.service import Service

    if isinstance(target, str | Path):
        from annolog.api.bootstrap import build_service
        from annolog.api.settings import load_settings

        target = build_service(load_settings(data_dir=Path(target)))
    if not isinstance(target, Service):
        return target
    from annolog.local import LocalBackend

    return LocalBackend(target, actor or getpass.getuser())


class Client:
    """Opens annolog data.

    >>> client = annolog.Client("./annolog-data")         # doctest: +SKIP
    >>> project = client.create_project("demo", labels=["dog", "cat"])  # doctest: +SKIP
    >>> remote = annolog.Client("http://annolog:8000", token="al_...")  # doctest: +SKIP

    ``target`` is a directory (the embedded default: SQLite, SqlLog and local blobs in it,
    no services), a ``Service`` already built over Kafka + PostgreSQL + S3, or the URL
    of an annolog server (``annolog serve``) with an API ``token`` — or any ``Backend``
    (tests pass an ``HttpBackend`` over an in-process transport). Locally, commits are
    made as ``actor`` (default: the operating-system user); a server takes the actor
    from the token.
    """

    def __init__(
        self, target: "str | Path | Service | Backend", *, actor: str | None = None, token: str | None = None
    ) -> None:
        self.backend = _backend(target, actor, token)
        self.actor = self.backend.actor

    def create_project(self, name: str, *, labels: tuple[str, ...] | list[str] = (), exist_ok: bool = False) -> Project:
        """A new project owned by this client's actor, with ``labels`` defined in the same commit.

        ``exist_ok=True`` opens the project if it exists already, defining the ``labels`` it lacks,
        so a script that sets up its project can simply be run again:

        >>> project = client.create_project("demo", labels=["dog"], exist_ok=True)  # doctest: +SKIP
        """
        try:
            return Project(self.backend, self.backend.create_project(name, labels=labels))
        except ConflictError:
            if not exist_ok:
                raise
        project = self.project(name)  # AccessDenied when the name is taken by a project of others
        missing = [label for label in dict.fromkeys(labels) if label not in project.labels]
        if missing:
            project.define_labels(*missing)
        return project

    def project(self, name: str) -> Project:
        """An existing project; ``NotFoundError`` lists the projects there are."""
        return Project(self.backend, self.backend.project(name))

    def projects(self) -> list[Project]:
        """The projects this client's actor has a role in."""
        return [Project(self.backend, view) for view in self.backend.projects()]

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
