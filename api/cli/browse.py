"""Commands for people at a terminal: list projects and directories, tag, read the history."""

import json
from typing import Annotated, Any

import typer

from annolog.api.cli.app import JsonOption, ProjectOption, app, emit, open_client
from annolog.api.cli.table import table
from annolog.core.events import INT32_MAX

project_app = typer.Typer(help="Projects.", no_args_is_help=True)
directory_app = typer.Typer(help="Directories of a project.", no_args_is_help=True)
app.add_typer(project_app, name="project")
app.add_typer(directory_app, name="directory")


@project_app.command("list")
def list_projects(as_json: JsonOption = False) -> None:
    """The projects you have a role in, with their latest version."""
    with open_client() as client:
        rows = [{"name": p.name, "version": p.version, "id": str(p.id)} for p in client.projects()]
    emit(
        rows,
        as_json,
        lambda rs: table(["project", "version"], [[r["name"], str(r["version"])] for r in rs], empty="no projects"),
    )


@directory_app.command("list")
def list_directories(
    project: ProjectOption,
    version: Annotated[str | None, typer.Option(help="a version number or tag (default: latest)")] = None,
    as_json: JsonOption = False,
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
        lambda rs: table(
            ["directory", "files", "access"],
            [[r["name"], f"{r['files']:,}", r["access"]] for r in rs],
            empty="no directories",
        ),
    )


@app.command()
def tag(
    name: Annotated[str, typer.Argument(help="the tag, e.g. release-1")],
    project: ProjectOption,
    version: Annotated[
        int | None, typer.Argument(min=1, max=INT32_MAX, help="the version to name (default: latest)")
    ] = None,
    version_option: Annotated[
        int | None,
        # Hidden: the positional VERSION is the one way shown; scripts of earlier releases still work.
        typer.Option("--version", min=1, max=INT32_MAX, hidden=True, help="the version to name (use VERSION)"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="move the tag if it exists (admin; audited)")] = False,
    as_json: JsonOption = False,
) -> None:
    """Name a version of a project, for pinned reads and training runs. A tag pins its version
    for good: naming it again fails, saying which version it names, unless --force moves it."""
    if version is not None and version_option is not None and version != version_option:
        raise typer.BadParameter(f"VERSION {version} and --version {version_option} differ: give one")
    version = version if version is not None else version_option
    with open_client() as client:
        chosen = client.project(project)
        before = chosen.tags().get(name) if force else None
        tagged = chosen.tag(name, version, force=force)
    emit({"tag": name, "version": tagged, "before": before}, as_json, _tagged)


def _tagged(result: dict[str, Any]) -> str:
    named = f"{result['tag']} -> version {result['version']}"
    if result["before"] is None:
        return named
    if result["before"] == result["version"]:
        return f"{named} (already; nothing changed)"
    return f"{named} (moved from version {result['before']})"


@app.command()
def history(
    project: ProjectOption,
    directory: Annotated[
        str | None, typer.Option("--directory", "-d", help="only this directory (its files joining and leaving)")
    ] = None,
    file: Annotated[str | None, typer.Option(help="only this file (a name in --directory) and its instances")] = None,
    actor: Annotated[str | None, typer.Option(help="only commits by this actor")] = None,
    event: Annotated[str | None, typer.Option(help="only this event type, e.g. InstanceChanged")] = None,
    since: Annotated[int | None, typer.Option(min=1, max=INT32_MAX, help="from this version")] = None,
    until: Annotated[int | None, typer.Option(min=1, max=INT32_MAX, help="up to this version")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="at most this many entries (as GET …/history)")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Who changed what, when, at which version, from what to what: the audit history."""
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
    emit(rows, as_json, _history_table)


def _history_table(entries: list[dict[str, Any]]) -> str:
    headers = ["version", "time (UTC)", "actor", "event", "entity", "before", "after"]
    rows = [
        [
            str(e["version"]),
            str(e["time"])[:19].replace("T", " "),
            e["actor"],
            e["event"],
            e["entity"],
            *_change(e["before"], e["after"]),
        ]
        for e in entries
    ]
    return table(headers, rows, empty="no changes", wrap=["before", "after"])


def _change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> tuple[str, str]:
    """Before and after as ``key=value``; of an edit, only what it changed (--json has all)."""
    if before is not None and after is not None:
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        before = {k: v for k, v in before.items() if k in changed}
        after = {k: v for k, v in after.items() if k in changed}
    return _fields(before), _fields(after)


def _fields(values: dict[str, Any] | None) -> str:
    if values is None:
        return "-"
    return ", ".join(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in values.items())
