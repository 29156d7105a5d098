"""Commands that bring data in and take it out: `annolog import images|coco`, `annolog export coco|yolo`.

Progress bars go to stderr; the summary to stdout, for people or, with --json, for scripts.
An import that refused part of its input exits with status 1 after listing every part.
"""

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from annolog.api.cli.app import DirectoryOption, JsonOption, ProjectOption, app, open_client
from annolog.core.errors import NotFoundError

if TYPE_CHECKING:
    from annolog import Client, Directory
    from annolog.export import ExportSummary
    from annolog.ingest import IngestSummary

import_app = typer.Typer(help="Bring files and annotations in, many per commit; re-running skips what is in.")
app.add_typer(import_app, name="import")

NewProjectOption = Annotated[str, typer.Option("--project", "-p", help="the project (created if missing)")]
NewDirectoryOption = Annotated[str, typer.Option("--directory", "-d", help="the directory (created if missing)")]
VersionOption = Annotated[str | None, typer.Option("--version", help="a version number or a tag (default: latest)")]
ImagesOption = Annotated[bool, typer.Option("--images", help="copy the images too, into OUT/images/")]
WorkersOption = Annotated[int, typer.Option(min=1, help="files read and stored in parallel")]
BatchOption = Annotated[int, typer.Option(min=1, help="files per commit (fewer if their boxes are many)")]


@import_app.command("images")
def import_images(
    folder: Annotated[Path, typer.Argument(exists=True, help="a folder of images, walked recursively")],
    project: NewProjectOption,
    directory: NewDirectoryOption,
    workers: WorkersOption = 8,
    batch_files: BatchOption = 200,
    as_json: JsonOption = False,
) -> None:
    """Add the images in FOLDER, named by their path inside it."""
    from annolog.ingest import add_files

    with open_client() as client:
        target, created = _directory(client, project, directory)
        summary = add_files(target, [folder], workers=workers, batch_files=batch_files, progress=True)
    _report_import(summary, created, as_json=as_json)


@import_app.command("coco")
def import_coco(
    annotations: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the COCO JSON file")],
    project: NewProjectOption,
    directory: NewDirectoryOption,
    images: Annotated[
        Path | None,
        typer.Option(file_okay=False, help="the folder of the images; without it they must be in the directory"),
    ] = None,
    predictions: Annotated[bool, typer.Option(help="the annotations are model predictions, each with a score")] = False,
    workers: WorkersOption = 8,
    batch_files: BatchOption = 200,
    as_json: JsonOption = False,
) -> None:
    """Import a COCO file: categories become labels, boxes become instances (score -> attributes.score)."""
    from annolog import ingest

    with open_client() as client:
        target, created = _directory(client, project, directory)
        summary = ingest.import_coco(
            target,
            annotations,
            images,
            predictions=predictions,
            workers=workers,
            batch_files=batch_files,
            progress=True,
        )
    _report_import(summary, created, as_json=as_json)


class Format(str, Enum):
    coco = "coco"
    yolo = "yolo"


@app.command("export")
def export_dataset(
    kind: Annotated[
        Format, typer.Argument(metavar="coco|yolo", help="COCO (pycocotools reads it) or YOLO text labels")
    ],
    out: Annotated[Path, typer.Argument(file_okay=False, help="the folder to write the annotations (and images/) in")],
    project: ProjectOption,
    directory: DirectoryOption,
    version: VersionOption = None,
    images: ImagesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write the directory at VERSION for other tools: COCO annotations.json, or YOLO labels/*.txt + classes.txt."""
    with open_client() as client:
        dataset = client.project(project).directory.get(directory, version=version)  # "3" is version 3
        write = dataset.export_coco if kind is Format.coco else dataset.export_yolo
        _report_export(write(out, images=images, progress=True), as_json=as_json)


def _directory(client: "Client", project: str, directory: str) -> "tuple[Directory, list[str]]":
    """The directory to import into, at its latest version, and what had to be created for it."""
    created = []
    found = next((p for p in client.projects() if p.name == project), None)
    if found is None:
        found = client.create_project(project)
        created.append(f"project {project!r}")
    try:
        return found.directory.get(directory), created
    except NotFoundError:
        created.append(f"directory {directory!r}")
        return found.directory.new(directory), created


def _report_import(summary: "IngestSummary", created: list[str], *, as_json: bool) -> None:
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
    else:
        made = f"versions {summary.first_version} to {summary.last_version}" if summary.commits else "no new version"
        typer.echo(f"imported into project {summary.project!r}, directory {summary.directory!r}")
        _rows(
            ("created", ", ".join(created) or "nothing"),
            ("files added", f"{summary.files_added:,}"),
            ("files already in", f"{summary.files_present:,}"),
            ("instances added", f"{summary.instances_added:,}"),
            ("instances already in", f"{summary.instances_present:,}"),
            ("labels defined", ", ".join(summary.labels_defined) or "none"),
            ("commits", f"{summary.commits:,} ({made})"),
            (
                "time",
                f"{summary.seconds:.1f} s ({summary.instances_added / max(summary.seconds, 1e-9):,.0f} instances/s)",
            ),
        )
        _problems("refused", [str(p) for p in summary.problems])
    if summary.problems:
        raise typer.Exit(code=1)


def _report_export(summary: "ExportSummary", *, as_json: bool) -> None:
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
        return
    typer.echo(f"exported {summary.dataset} of project {summary.project!r} as {summary.format.upper()}")
    _rows(
        ("written to", summary.out),
        ("files", f"{summary.files:,}"),
        ("instances", f"{summary.instances:,}"),
        ("images copied", f"{summary.images_copied:,}"),
        ("time", f"{summary.seconds:.1f} s"),
    )
    _problems("skipped", [str(p) for p in summary.skipped])
    _problems("renamed", [str(r) for r in summary.renamed])


def _rows(*rows: tuple[str, str]) -> None:
    for name, value in rows:
        typer.echo(f"  {name:<22}{value}")


def _problems(what: str, lines: list[str]) -> None:
    if lines:
        typer.echo(f"{len(lines):,} {what}:")
        for line in lines:
            typer.echo(f"  {line}")
