"""The SDK's entry point: a client over the embedded default (a directory) or a service."""

import getpass
from pathlib import Path

from annolog.project import Project
from api.bootstrap import build_service
from api.service import Service
from api.settings import load_settings
from core.commands import CreateProject, DefineLabel
from core.errors import ConfigurationError
from projections import queries


class Client:
    """Opens annolog data.

    >>> client = annolog.Client("./annolog-data")         # doctest: +SKIP
    >>> project = client.create_project("demo", labels=["dog", "cat"])  # doctest: +SKIP

    ``target`` is a directory (the embedded default: SQLite, SqlLog and local blobs in it,
    no services) or a ``Service`` already built over Kafka + PostgreSQL + S3. Commits are
    made as ``actor`` (default: the operating-system user).
    """

    def __init__(self, target: str | Path | Service, *, actor: str | None = None) -> None:
        if isinstance(target, str) and target.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"annolog.Client({target!r}): this version has no HTTP client yet; "
                "pass a directory for the embedded default"
            )
        self._service = target if isinstance(target, Service) else build_service(load_settings(data_dir=Path(target)))
        self.actor = actor or getpass.getuser()

    def create_project(self, name: str, *, labels: tuple[str, ...] | list[str] = ()) -> Project:
        """A new project owned by this client's actor, with ``labels`` defined in the same commit."""
        command = CreateProject(name=name)
        self._service.execute(command.project_id, self.actor, [command, *(DefineLabel(name=n) for n in labels)])
        return self.project(name)

    def project(self, name: str) -> Project:
        """An existing project; ``NotFoundError`` lists the projects there are."""
        return Project(self._service, self.actor, self._service.read(queries.project_named, name))

    def projects(self) -> list[Project]:
        return [Project(self._service, self.actor, view) for view in self._service.read(queries.list_projects)]

    def close(self) -> None:
        self._service.log.close()
        self._service.engine.dispose()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
