"""Commands for people at a terminal: list projects and directories, tag, read the history."""

import typer

from annolog.api.cli.app import app, emit, open_client
from annolog.core.events import INT32_MAX

project_app = typer.Typer(help="Projects.", no_args_is_help=True)
directory_app = typer.Typer(help="Directories of a project.", no_args_is_help=True)
app.add_typer(project_app, name="project")
app.add_typer(directory_app, name="directory")

_JSON = typer.Option(False, "--json", help="print JSON for scripts")


@project_app.command("list")
def list_projects(as_json: bool = _JSON) -> None:
    """The projects you have a role in, with their latest version."""
    with open_client() as client:
        rows = [{"name": p.name, "version": p.version, "id": str(p.id)} for p in client.projects()]
    emit(rows, as_json, lambda rs: "\n".join(f"{r['name']:<30} version {r['version']}" for r in rs) or "no projects")


@directory_app.command("list")
def list_directories(
    project: str = typer.Option(..., help="the project's name"),
    version: str = typer.Option(None, help="a version number or tag (default: latest)"),
    as_json: bool = _JSON,
) -> None:
    """The directories you may read, with their file counts at that version."""
    with open_client() as client:
        directories = client.project(project).directory.list(version=version)
        rows = [
            {"name": d.name, "files": len(d), "access": d.access_type, "version": d.version, "id": str(d.id)}
            for d in directories
        ]
    emit(
        rows,
        as_json,
        lambda rs: "\n".join(f"{r['name']:<30} {r['files']:>8} files  {r['access']}" for r in rs) or "no directories",
    )


@app.command()
def tag(
    name: str = typer.Argument(..., help="the tag, e.g. release-1"),
    project: str = typer.Option(..., help="the project's name"),
    version: int = typer.Option(None, help="the version to name (default: latest)"),
    as_json: bool = _JSON,
) -> None:
    """Name a version of a project, for pinned reads and training runs."""
    with open_client() as client:
        tagged = client.project(project).tag(name, version)
    emit({"tag": name, "version": tagged}, as_json, lambda r: f"{r['tag']} -> version {r['version']}")


@app.command()
def history(
    project: str = typer.Option(..., help="the project's name"),
    directory: str = typer.Option(None, help="only this directory (its files joining and leaving)"),
    file: str = typer.Option(None, help="only this file (a name in --directory) and its instances"),
    actor: str = typer.Option(None, help="only commits by this actor"),
    event: str = typer.Option(None, help="only this event type, e.g. InstanceChanged"),
    since: int = typer.Option(None, min=1, max=INT32_MAX, help="from this version"),
    until: int = typer.Option(None, min=1, max=INT32_MAX, help="up to this version"),
    limit: int = typer.Option(100, min=1, max=10_000, help="at most this many entries (as GET …/history)"),
    as_json: bool = _JSON,
) -> None:
    """Who changed what, when, at which version: the audit history."""
    if file is not None and directory is None:
        raise typer.BadParameter("--file needs --directory (file names are unique per directory)")
    with open_client() as client:
        chosen = client.project(project)
        folder = chosen.directory.get(directory) if directory else None
        target = next((f for f in folder or [] if f.name == file), None) if file else None
        if file is not None and target is None:
            raise typer.BadParameter(f"no file named {file!r} in directory {directory!r}")
        entries = chosen.history(
            file=target,
            directory=folder if target is None else None,
            actor=actor,
            event=event,
            since=since,
            until=until,
            limit=limit,
        )
    rows = [e.model_dump(mode="json") for e in entries]
    emit(rows, as_json, lambda rs: "\n".join(_line(r) for r in rs) or "no changes")


def _line(entry: dict[str, object]) -> str:
    change = entry["after"] if entry["after"] is not None else {"removed": entry["before"]}
    return f"v{entry['version']:<5} {str(entry['time'])[:19]}  {entry['actor']:<12} {entry['event']:<22} {change}"
