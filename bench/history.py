"""Latest and pinned reads as the history of the same files deepens: a latest read must cost the same.

    python -m bench.history [--depths 10 1000 10000] [--files 50] [--boxes 4] [--cold-files 950]
                            [--repeats 30] [--database-url URL]

For each database (the embedded SQLite file; PostgreSQL at ``--database-url`` or
ANNOLOG_TEST_DATABASE_URL when set) and each depth D, a fresh schema is filled directly
(this bench measures reads, not the projector): one project, one directory holding
``--files`` hot files of ``--boxes`` boxes and ``--cold-files`` files of one box, all as of
version 1. Versions 2..D+1 each relabel one box of every hot file (car <-> person), which
closes its instance row and both its label_counts rows and opens new ones, as the projector
does. Then, through ``projections.queries`` as the service reads, at the latest version and
pinned at version 1, the median of ``--repeats`` timed runs (after one untimed) of:

- hot files: ``files_by_id`` of the hot files, with their instances;
- slice page: the first 100 files of ``labels.person >= 1`` in the directory;
- directory page: the first 100 file ids of the directory.

And, to choose between the two designs the issue names, the hot files' current instances
read through the partial index (``valid_to IS NULL`` on the versioned table, what annolog
does) against the same rows copied into a separate table of current rows alone.

Prints the medians and, per read, latest(deepest) / latest(shallowest): target <= 1.5x.
Every SQLite file and PostgreSQL schema is new for the run and removed at its end.
"""

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Connection, Engine, Index, MetaData, Table, create_engine, insert, select, text

from annolog.core import uuid7
from annolog.core.query import parse
from annolog.eventlog.sql import open_sqlite
from annolog.projections import queries
from annolog.projections.database import create_schema
from annolog.projections.readmodels import ProjectView
from annolog.projections.replay import drop_database, fresh_database
from annolog.projections.tables import directories, files, instances, label_counts, labels, memberships, projects
from bench.common import chunks

TARGET = 1.5
PAGE = 100
SLICE = "labels.person >= 1"
_CHUNK = 5000  # rows per executemany: bounded memory at any depth


@dataclass(frozen=True)
class Shape:
    """The synthetic directory: hot files edited at every version, cold files never."""

    files: int
    boxes: int
    cold_files: int


@dataclass(frozen=True)
class Built:
    """What the reads need of the built project."""

    view: ProjectView
    directory_id: UUID
    hot: list[UUID]


# -- building the history -------------------------------------------------------------------------


def _insert(db: Connection, table: Table, rows: Iterable[dict[str, Any]]) -> None:
    for chunk in chunks(rows, _CHUNK):
        db.execute(insert(table), chunk)


def _spans(last: int) -> Iterator[tuple[int, int | None]]:
    """(valid_from, valid_to) of a row replaced at every version from 1 to ``last``."""
    for version in range(1, last + 1):
        yield version, (version + 1 if version < last else None)


def _file_row(project_id: UUID, file_id: UUID, number: int) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "file_id": file_id,
        "valid_from": 1,
        "valid_to": None,
        "sha256": f"{number:064x}",
        "name": f"frame_{number:08d}.jpg",
        "media_type": "image/jpeg",
        "size": 200_000,
        "width": 1920,
        "height": 1080,
        "metadata": {},
        "copied_from": None,
        "created_version": 1,
    }


def _instance(project_id: UUID, file_id: UUID, label: str, span: tuple[int, int | None]) -> dict[str, Any]:
    valid_from, valid_to = span
    return {
        "project_id": project_id,
        "instance_id": uuid7(),
        "valid_from": valid_from,
        "valid_to": valid_to,
        "file_id": file_id,
        "label": label,
        "kind": "box",
        "points": [[10, 10], [60, 80]],
        "attributes": {},
        "revision": valid_from,
    }


def _count(project_id: UUID, file_id: UUID, label: str, count: int, span: tuple[int, int | None]) -> dict[str, Any]:
    valid_from, valid_to = span
    return {
        "project_id": project_id,
        "file_id": file_id,
        "label": label,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "count": count,
    }


def _hot_instances(project_id: UUID, hot: Sequence[UUID], boxes: int, last: int) -> Iterator[dict[str, Any]]:
    """Box 0 is relabelled at every version (car at odd ones, person at even); box 1 is a
    person and the others are cars, never edited."""
    for file_id in hot:
        for box in range(1, boxes):
            yield _instance(project_id, file_id, "person" if box == 1 else "car", (1, None))
    instance_ids = {file_id: uuid7() for file_id in hot}
    for span in _spans(last):
        for file_id in hot:
            row = _instance(project_id, file_id, "car" if span[0] % 2 else "person", span)
            yield row | {"instance_id": instance_ids[file_id]}


def _hot_counts(project_id: UUID, hot: Sequence[UUID], boxes: int, last: int) -> Iterator[dict[str, Any]]:
    for span in _spans(last):
        car = span[0] % 2 == 1
        for file_id in hot:
            yield _count(project_id, file_id, "car", boxes - 1 if car else boxes - 2, span)
            yield _count(project_id, file_id, "person", 1 if car else 2, span)


def _load(db: Connection, shape: Shape, depth: int) -> Built:
    project_id, directory_id, last = uuid7(), uuid7(), depth + 1
    hot = [uuid7() for _ in range(shape.files)]  # created first: the first page of any read holds them
    cold = [uuid7() for _ in range(shape.cold_files)]
    db.execute(insert(projects).values(project_id=project_id, name="history-bench", version=last, created_by="bench"))
    _insert(
        db,
        labels,
        (
            {"project_id": project_id, "name": n, "valid_from": 1, "class_index": i}
            for i, n in enumerate(("car", "person"))
        ),
    )
    db.execute(
        insert(directories).values(
            project_id=project_id, directory_id=directory_id, valid_from=1, name="all", access_type="project"
        )
    )
    _insert(db, files, (_file_row(project_id, f, n) for n, f in enumerate(hot + cold)))
    _insert(
        db,
        memberships,
        ({"project_id": project_id, "directory_id": directory_id, "file_id": f, "valid_from": 1} for f in hot + cold),
    )
    cold_labels = [("person" if n % 2 else "car", f) for n, f in enumerate(cold)]
    _insert(db, instances, (_instance(project_id, f, label, (1, None)) for label, f in cold_labels))
    _insert(db, label_counts, (_count(project_id, f, label, 1, (1, None)) for label, f in cold_labels))
    _insert(db, instances, _hot_instances(project_id, hot, shape.boxes, last))
    _insert(db, label_counts, _hot_counts(project_id, hot, shape.boxes, last))
    return Built(ProjectView(project_id=project_id, name="history-bench", version=last), directory_id, hot)


def build(engine: Engine, shape: Shape, depth: int) -> Built:
    """Fill ``engine``'s fresh schema with ``depth`` versions of edits; PostgreSQL is then
    vacuumed and analyzed, as autovacuum would in time (the embedded file is left as annolog leaves it)."""
    create_schema(engine)
    with engine.begin() as db:
        built = _load(db, shape, depth)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            db.execute(text("VACUUM (ANALYZE)"))
    return built


# -- the reads --------------------------------------------------------------------------------------


Read = Callable[[Connection, int], object]


def reads(built: Built) -> dict[str, Read]:
    """The reads, as the service makes them, at a version."""
    project_id, directory_id, expr = built.view.project_id, built.directory_id, parse(SLICE)
    return {
        "hot files": lambda db, version: queries.files_by_id(db, project_id, built.hot, version),
        "slice page": lambda db, version: queries.slice_file_ids(
            db, built.view, version, expr, directory_ids=[directory_id], limit=PAGE
        ),
        "directory page": lambda db, version: queries.file_ids(db, project_id, directory_id, version, limit=PAGE),
    }


def median_ms(run: Callable[[], object], repeats: int) -> float:
    """The median of ``repeats`` timed runs after one untimed (a reader's database is warm)."""
    run()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1e3


def current_table_ms(db: Connection, built: Built, repeats: int) -> tuple[float, float]:
    """The hot files' current instances: through the partial index, and from a table of current rows alone."""
    now = Table("instances_now", MetaData(), *(Column(c.name, c.type) for c in instances.columns))
    db.execute(text("CREATE TABLE instances_now AS SELECT * FROM instances WHERE valid_to IS NULL"))
    Index("ix_instances_now_file_id", now.c.project_id, now.c.file_id).create(db)
    if db.dialect.name == "postgresql":
        db.execute(text("ANALYZE instances_now"))
    mine = (instances.c.project_id == built.view.project_id, instances.c.file_id.in_(built.hot))
    partial = select(instances).where(*mine, instances.c.valid_to.is_(None))
    separate = select(now).where(now.c.project_id == built.view.project_id, now.c.file_id.in_(built.hot))
    return (
        median_ms(lambda: db.execute(partial).all(), repeats),
        median_ms(lambda: db.execute(separate).all(), repeats),
    )


@dataclass(frozen=True)
class Figures:
    """Medians in ms at one depth: each read latest and pinned, and the current-row design pair."""

    depth: int
    latest: dict[str, float]
    pinned: dict[str, float]
    partial_index: float
    current_table: float


def measure(engine: Engine, shape: Shape, depth: int, repeats: int) -> Figures:
    started = time.perf_counter()
    built = build(engine, shape, depth)
    built_s = time.perf_counter() - started
    with engine.connect() as db:
        timed = reads(built)
        latest = {name: median_ms(partial(read, db, built.view.version), repeats) for name, read in timed.items()}
        pinned = {name: median_ms(partial(read, db, 1), repeats) for name, read in timed.items()}
        partial_index, current_table = current_table_ms(db, built, repeats)
    figures = Figures(depth, latest, pinned, partial_index, current_table)
    print(_line(figures) + f"   (built in {built_s:.1f} s)", flush=True)
    return figures


def _line(f: Figures) -> str:
    cells = "".join(f"{f.latest[name]:>18.2f} {f.pinned[name]:>8.2f}  " for name in f.latest)
    return f"  {f.depth:>7,}  {cells}{f.partial_index:>10.2f} {f.current_table:>10.2f}"


def bench(
    name: str, open_fresh: Callable[[], Engine], close: Callable[[Engine], None], args: argparse.Namespace
) -> None:
    shape = Shape(args.files, args.boxes, args.cold_files)
    print(
        f"\n{name}: {shape.files} hot files of {shape.boxes} boxes edited at every version, {shape.cold_files} cold "
        f"files; median ms of {args.repeats} runs; pinned = version 1\n"
        f"  {'depth':>7}  "
        + "".join(f"{read + ' latest':>18} {'pinned':>8}  " for read in ("hot files", "slice page", "dir page"))
        + f"{'partial ix':>10} {'cur. table':>10}"
    )
    by_depth = []
    for depth in args.depths:
        engine = open_fresh()
        try:
            by_depth.append(measure(engine, shape, depth, args.repeats))
        finally:
            close(engine)
    first, last = by_depth[0], by_depth[-1]
    for read in first.latest:
        ratio = last.latest[read] / first.latest[read]
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(
            f"  {read:<15} latest at depth {last.depth:,} / depth {first.depth:,}: {ratio:5.2f}x "
            f"(target <= {TARGET}x: {verdict})"
        )


def _sqlite() -> Engine:
    # Named as replay names its files: ``drop_database`` removes only those.
    return open_sqlite(Path(tempfile.mkdtemp(prefix="annolog-replay-")) / "history.db")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("ANNOLOG_TEST_DATABASE_URL"))
    parser.add_argument("--depths", type=int, nargs="+", default=[10, 1000, 10_000], help="edit commits, ascending")
    parser.add_argument("--files", type=int, default=50, help="hot files, edited at every version")
    parser.add_argument("--boxes", type=int, default=4, help="boxes per hot file (at least 3)")
    parser.add_argument("--cold-files", type=int, default=950, help="files never edited")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs of each read")
    args = parser.parse_args()
    if args.boxes < 3:
        parser.error(f"--boxes must be at least 3 (one relabelled, one person, one car), got {args.boxes}")
    if args.depths != sorted(args.depths) or args.depths[0] < 1:
        parser.error(f"--depths must be positive and ascending, got {args.depths}")
    bench("SQLite (embedded)", _sqlite, drop_database, args)
    if args.database_url is None:
        print("\nPostgreSQL: skipped (no --database-url or ANNOLOG_TEST_DATABASE_URL)")
        return
    server = create_engine(args.database_url)
    try:
        bench("PostgreSQL", lambda: fresh_database(server), drop_database, args)
    finally:
        server.dispose()


if __name__ == "__main__":
    main()
