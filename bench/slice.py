"""Slice latency on a large synthetic project in PostgreSQL: first pages and counts, latest and pinned.

    python -m bench.slice [--files 1000000] [--instances 10000000] [--labels 50] [--versions 11]
                          [--churn 0.01] [--pinned 2] [--repeats 25] [--budget 60] [--database-url URL]

1. Build: a fresh PostgreSQL schema is filled directly (this benchmark measures reads, not
   the projector) by set-based SQL over generate_series: one project, its labels, one
   directory holding every file, instances with a Zipf-like label distribution and a
   geometric number per file, and the matching label_counts, all as of version 1. Versions
   2..N then each edit ``--churn`` of the files (relabel some boxes, rescore all, add one),
   closing the old instance and label_counts rows and inserting new ones, as the projector
   does. Prints the build time and each table's size.
2. Reads: for each typical slice, the first page of 100 matching files in the directory and
   the count, at the latest and at the pinned version, through ``projections.queries``:
   ``--repeats`` timed runs of each (fewer where that would take more than ``--budget``
   seconds); p50/p95/max and the ratio pinned/latest, against the targets (first page
   p95 < 100 ms at latest; pinned within 2x of latest). Every read that misses a target
   gets its EXPLAIN (ANALYZE, BUFFERS).

The schema is new for the run and dropped at its end.
"""

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from uuid import UUID, uuid4

from sqlalchemy import Connection, Engine, Index, create_engine, event, text

from annolog.core.query import Expr, parse
from annolog.projections import queries, tables
from annolog.projections.database import create_schema
from annolog.projections.readmodels import ProjectView
from annolog.projections.replay import drop_database, fresh_database
from bench.common import timed

T = TypeVar("T")

PROJECT = "slice-bench"
LABEL_NAMES = tuple(
    "car pedestrian truck bicycle bus motorcycle traffic_light traffic_sign rider trailer van pole cone barrier dog "
    "cat stroller wheelchair scooter tram train bench fire_hydrant parking_meter mailbox trash_can street_light "
    "billboard bird horse construction_vehicle ambulance police_car fire_truck taxi school_bus crosswalk stop_sign "
    "speed_bump pothole manhole tree bush building bridge tunnel guard_rail debris animal person_sitting".split()
)
WEATHER = ("clear", "cloudy", "rain", "snow", "fog")
CAMERAS = 8
PAGE = 100
PAGE_TARGET_S = 0.100
PINNED_TARGET = 2.0
MIN_REPEATS = 3  # a read slower than --budget / --repeats still gets this many timed runs
BULK_TABLES = (tables.files, tables.memberships, tables.instances, tables.label_counts)


@dataclass(frozen=True)
class Shape:
    """The synthetic project's size and history."""

    files: int
    instances: int
    labels: int
    versions: int
    churn: float


@dataclass(frozen=True)
class Project:
    """What the reads need of the built project."""

    view: ProjectView
    directory_id: UUID
    labels: tuple[str, ...]  # most common first


@dataclass(frozen=True)
class Read:
    """One timed read: a slice's first page or count at one version."""

    query: str
    kind: str  # "page" or "count"
    version: int
    seconds: tuple[float, ...]
    matches: int

    @property
    def p50(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.seconds, n=100, method="inclusive")[94]


# -- building the project with set-based SQL ---------------------------------------------------


def label_names(count: int) -> tuple[str, ...]:
    """``count`` label names, the realistic ones first, then ``class_<n>``."""
    return (LABEL_NAMES + tuple(f"class_{n}" for n in range(len(LABEL_NAMES) + 1, count + 1)))[:count]


def _uuid_sql(prefix: str, number: str) -> str:
    """SQL for a uuid7-shaped id that sorts by ``number`` (files list in creation order, like uuid7)."""
    return f"('{prefix}-7000-8000-' || lpad(to_hex({number}), 12, '0'))::uuid"


# ln(L+1)-uniform draws: label rank k (1-based) has probability ln((k+1)/k) / ln(L+1), Zipf-like.
_ZIPF_LABEL = "(CAST(:labels AS text[]))[floor(power(cardinality(CAST(:labels AS text[])) + 1, random()))::int]"
_ATTRIBUTES = "json_build_object('score', round(random()::numeric, 3), 'occluded', random() < 0.2)"

_FILES = f"""
INSERT INTO files (project_id, file_id, valid_from, valid_to, sha256, name, media_type, size, width, height,
                   metadata, copied_from, created_version)
SELECT :project_id, {_uuid_sql("018f0000-0000", "n")}, 1, NULL, encode(sha256(n::text::bytea), 'hex'),
       format('frame_%s.jpg', lpad(n::text, 8, '0')), 'image/jpeg', 200000 + (random() * 600000)::int, 1920, 1080,
       json_build_object('weather', (CAST(:weather AS text[]))[1 + floor(random() * :weathers)::int],
                         'camera', 1 + floor(random() * :cameras)::int),
       NULL, 1
FROM generate_series(1, :files) AS n
"""

_MEMBERSHIPS = """
INSERT INTO memberships (project_id, directory_id, file_id, valid_from, valid_to)
SELECT project_id, :directory_id, file_id, 1, NULL FROM files WHERE project_id = :project_id
"""

# A geometric number of boxes per file (mean instances / files): most frames hold a few, some crowds.
_INSTANCES = f"""
INSERT INTO instances (project_id, instance_id, valid_from, valid_to, file_id, label, kind, points, attributes,
                       revision)
SELECT :project_id, {_uuid_sql("018f0001-0000", "(n::bigint << 16) + box")}, 1, NULL,
       {_uuid_sql("018f0000-0000", "n")}, {_ZIPF_LABEL}, 'box',
       json_build_array(json_build_array(x, y), json_build_array(x + 10 + (random() * 200)::int,
                                                                   y + 10 + (random() * 200)::int)),
       {_ATTRIBUTES}, 1
FROM (SELECT n, floor(ln(1 - random()) / ln(1 - 1 / (:mean + 1)))::int AS boxes
      FROM generate_series(1, :files) AS n) AS per_file
CROSS JOIN LATERAL generate_series(1, per_file.boxes) AS box
CROSS JOIN LATERAL (SELECT (random() * 1700)::int AS x, (random() * 860)::int AS y) AS corner
"""

# ``= ANY(ARRAY(...))`` rather than ``IN (SELECT ...)``: the planner then probes the file_id index for
# the few changed files instead of hash-joining all instances.
_CHANGED = "file_id = ANY(ARRAY(SELECT file_id FROM changed))"

_LABEL_COUNTS = """
INSERT INTO label_counts (project_id, file_id, label, valid_from, valid_to, count)
SELECT project_id, file_id, label, :version, NULL, count(*)
FROM instances
WHERE project_id = :project_id AND valid_to IS NULL {only}
GROUP BY project_id, file_id, label
"""


def _run(db: Connection, sql: str, **params: Any) -> int:
    return db.execute(text(sql), params).rowcount


def _load_small_tables(db: Connection, project_id: UUID, directory_id: UUID, names: Sequence[str]) -> None:
    _run(
        db,
        "INSERT INTO projects (project_id, name, version, created_by) VALUES (:p, :name, 1, 'bench')",
        p=project_id,
        name=PROJECT,
    )
    for index, name in enumerate(names):
        _run(
            db,
            "INSERT INTO labels (project_id, name, valid_from, class_index) VALUES (:p, :name, 1, :index)",
            p=project_id,
            name=name,
            index=index,
        )
    _run(
        db,
        "INSERT INTO directories (project_id, directory_id, valid_from, name, access_type) "
        "VALUES (:p, :d, 1, 'all', 'project')",
        p=project_id,
        d=directory_id,
    )


def _load_version_1(db: Connection, shape: Shape, project_id: UUID, directory_id: UUID, names: Sequence[str]) -> None:
    _load_small_tables(db, project_id, directory_id, names)
    _run(
        db,
        _FILES,
        project_id=project_id,
        files=shape.files,
        weather=list(WEATHER),
        weathers=len(WEATHER),
        cameras=CAMERAS,
    )
    _run(db, _MEMBERSHIPS, project_id=project_id, directory_id=directory_id)
    _run(
        db, _INSTANCES, project_id=project_id, files=shape.files, mean=shape.instances / shape.files, labels=list(names)
    )
    _run(db, _LABEL_COUNTS.format(only=""), project_id=project_id, version=1)


def _drop_indexes(db: Connection) -> list[Index]:
    """Drop the bulk tables' secondary indexes: building them once after the load is far faster
    than maintaining them row by row."""
    indexes = [index for table in BULK_TABLES for index in table.indexes]
    for index in indexes:
        index.drop(db)
    return indexes


def _create_indexes(db: Connection, indexes: Sequence[Index]) -> None:
    for index in indexes:
        index.create(db)


_CLOSE = f"""
UPDATE {{table}} SET valid_to = :version
WHERE project_id = :project_id AND valid_to IS NULL AND {_CHANGED}
"""

# An annotation pass over the changed files: every box is rescored (revision + 1), some are
# relabelled, and each file gets one new box.
_EDIT_INSTANCES = f"""
WITH closed AS ({_CLOSE.format(table="instances")} RETURNING *)
INSERT INTO instances (project_id, instance_id, valid_from, valid_to, file_id, label, kind, points, attributes,
                       revision)
SELECT project_id, instance_id, :version, NULL, file_id,
       CASE WHEN random() < 0.3 THEN {_ZIPF_LABEL} ELSE label END, kind, points, {_ATTRIBUTES}, revision + 1
FROM closed
"""

_ADD_INSTANCES = f"""
INSERT INTO instances (project_id, instance_id, valid_from, valid_to, file_id, label, kind, points, attributes,
                       revision)
SELECT :project_id, md5(file_id::text || :version)::uuid, :version, NULL, file_id, {_ZIPF_LABEL}, 'box',
       '[[100, 100], [180, 220]]', {_ATTRIBUTES}, 1
FROM changed
"""


def _change_files(db: Connection, project_id: UUID, version: int, churn: float, names: Sequence[str]) -> int:
    """Commit ``version``: edit a random ``churn`` of the files, set-based; the number of files edited."""
    changed = _run(
        db,
        "CREATE TEMP TABLE changed ON COMMIT DROP AS SELECT file_id FROM files "
        "WHERE project_id = :project_id AND valid_to IS NULL AND random() < :churn",
        project_id=project_id,
        churn=churn,
    )
    _run(db, "ANALYZE changed")
    params = {"project_id": project_id, "version": version, "labels": list(names)}
    _run(db, _EDIT_INSTANCES, **params)
    _run(db, _ADD_INSTANCES, **params)
    _run(db, _CLOSE.format(table="label_counts"), **params)
    _run(db, _LABEL_COUNTS.format(only=f"AND {_CHANGED}"), **params)
    _run(db, "UPDATE projects SET version = :version WHERE project_id = :project_id", **params)
    return changed


def _vacuum_analyze(engine: Engine) -> None:
    """Set hint bits and visibility maps, and gather statistics, as autovacuum would in time."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
        for table in (*BULK_TABLES, tables.projects, tables.labels, tables.directories):
            db.execute(text(f"VACUUM (ANALYZE) {table.name}"))


def _step(label: str, seconds: float) -> None:
    print(f"  {label:<56} {seconds:>7.1f} s", flush=True)


def _build_version_1(engine: Engine, shape: Shape, project_id: UUID, directory_id: UUID, names: Sequence[str]) -> None:
    with engine.begin() as db:
        db.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        db.execute(text("SELECT setseed(0.42)"))
        indexes = _drop_indexes(db)
        _step(
            "version 1 (generate_series, secondary indexes dropped)",
            timed(lambda: _load_version_1(db, shape, project_id, directory_id, names))[1],
        )
        _step("secondary indexes", timed(lambda: _create_indexes(db, indexes))[1])


def _build_history(engine: Engine, shape: Shape, project_id: UUID, names: Sequence[str]) -> None:
    for version in range(2, shape.versions + 1):
        with engine.begin() as db:
            edited, seconds = timed(partial(_change_files, db, project_id, version, shape.churn, names))
        _step(f"version {version}: {edited:,} files edited", seconds)


def build(engine: Engine, shape: Shape) -> Project:
    """Fill ``engine``'s fresh schema with the synthetic project; print the time each step took."""
    create_schema(engine)
    project_id, directory_id, names = uuid4(), uuid4(), label_names(shape.labels)
    print(
        f"1. Build: {shape.files:,} files, ~{shape.instances:,} instances over {shape.labels} labels, "
        f"versions 2..{shape.versions} each editing {shape.churn:.1%} of the files"
    )
    started = time.perf_counter()
    _build_version_1(engine, shape, project_id, directory_id, names)
    _build_history(engine, shape, project_id, names)
    _step("VACUUM (ANALYZE)", timed(lambda: _vacuum_analyze(engine))[1])
    _step("total", time.perf_counter() - started)
    with engine.connect() as db:
        return Project(queries.project_named(db, PROJECT), directory_id, names)


def print_sizes(engine: Engine) -> None:
    with engine.connect() as db:
        print("  table            rows (all versions)   current rows        total size")
        for table in BULK_TABLES:
            rows, current = db.execute(
                text(f"SELECT count(*), count(*) FILTER (WHERE valid_to IS NULL) FROM {table.name}")
            ).one()
            size = db.execute(text("SELECT pg_size_pretty(pg_total_relation_size(:t))"), {"t": table.name}).scalar()
            print(f"  {table.name:<16} {rows:>19,} {current:>15,} {size:>17}")


# -- timing the reads ----------------------------------------------------------------------------


def typical_slices(names: Sequence[str]) -> list[str]:
    """What training users filter on: co-occurrence, rare classes, absence, metadata, attributes; and a
    slice almost no file matches, where a first page must look at the whole directory."""
    common, second, third, fourth, rare = names[0], names[1], names[2], names[3], names[-1]
    return [
        f"labels.{common} > 3 and labels.{second} >= 1",
        f"labels.{rare} >= 1",
        f"labels.{rare} > 4",
        f"labels.{common} = 0",
        f'file.meta.weather = "rain" and labels.{third} > 2',
        "attributes.score > 0.95",
        f"not labels.{common} > 0 or labels.{fourth} >= 2",
    ]


def _reader(project: Project, kind: str, version: int, expr: Expr) -> Callable[[Connection], int]:
    """The read as the service does it; returns the number of files it found."""
    if kind == "page":
        return lambda db: len(
            queries.slice_file_ids(db, project.view, version, expr, directory_ids=[project.directory_id], limit=PAGE)
        )
    return lambda db: queries.count_slice(db, project.view, version, expr, directory_ids=[project.directory_id])


@dataclass(frozen=True)
class Timing:
    """How often to time each read: ``repeats`` runs, fewer (but ``MIN_REPEATS``) past ``budget_s``."""

    repeats: int
    budget_s: float


def time_read(db: Connection, project: Project, query: str, kind: str, version: int, timing: Timing) -> Read:
    """Timed runs after one untimed warm-up (a training job reads a warm database)."""
    read = _reader(project, kind, version, parse(query))
    matches = read(db)
    seconds: list[float] = []
    deadline = time.perf_counter() + timing.budget_s
    while len(seconds) < timing.repeats and (len(seconds) < MIN_REPEATS or time.perf_counter() < deadline):
        seconds.append(timed(lambda: read(db))[1])
    return Read(query, kind, version, tuple(seconds), matches)


def _ms(read: Read) -> str:
    return f"{read.p50 * 1e3:>8.1f} {read.p95 * 1e3:>8.1f} {max(read.seconds) * 1e3:>8.1f}"


def time_pair(
    db: Connection, project: Project, query: str, kind: str, pinned: int, timing: Timing
) -> tuple[Read, Read]:
    """The read at the latest and at the pinned version, printed as one line."""
    latest = time_read(db, project, query, kind, project.view.version, timing)
    old = time_read(db, project, query, kind, pinned, timing)
    runs = min(len(latest.seconds), len(old.seconds))
    print(
        f"  {query:<48} {kind:<5} {latest.matches:>9,} {_ms(latest)} "
        f"{old.matches:>9,} {_ms(old)} {old.p95 / latest.p95:>6.2f}x"
        + (f"  ({runs} runs)" if runs < timing.repeats else ""),
        flush=True,
    )
    return latest, old


class LastStatement:
    """The last SQL statement ``engine`` sent, with its parameters: what EXPLAIN should see."""

    def __init__(self, engine: Engine) -> None:
        self.statement: str = ""
        self.parameters: Any = None
        event.listen(engine, "before_cursor_execute", self._sent)

    def _sent(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        self.statement, self.parameters = statement, parameters


def explain(db: Connection, project: Project, read: Read, sent: LastStatement) -> None:
    """Print the plan of ``read``'s slice query, as PostgreSQL ran it."""
    _reader(project, read.kind, read.version, parse(read.query))(db)
    plan = db.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sent.statement}", sent.parameters).scalars()
    print(f"\n  EXPLAIN (ANALYZE, BUFFERS) {read.kind} of `{read.query}` at version {read.version}:")
    print("\n".join(f"    {line}" for line in plan))


def misses(latest: Read, pinned: Read) -> list[Read]:
    """The reads of a pair that miss a target: the latest first page's p95, or pinned/latest."""
    missed = [latest] if latest.kind == "page" and latest.p95 > PAGE_TARGET_S else []
    return missed + ([pinned] if pinned.p95 > PINNED_TARGET * latest.p95 else [])


def bench_reads(engine: Engine, project: Project, pinned: int, timing: Timing) -> None:
    latest = project.view.version
    print(
        f"\n2. Reads through projections.queries, {timing.repeats} runs each (at least {MIN_REPEATS} where "
        f"{timing.budget_s:g} s would not do); ms p50 / p95 / max;\n"
        f"   latest = version {latest}, pinned = version {pinned}; page = first {PAGE} matching files of the directory"
    )
    print(
        f"  {'slice':<48} {'read':<5} {'matches':>9} {'latest p50, p95, max':>26} {'matches':>9} "
        f"{'pinned p50, p95, max':>26} {'p95 pinned/latest'}"
    )
    sent = LastStatement(engine)
    with engine.connect() as db:
        pairs = [
            time_pair(db, project, query, kind, pinned, timing)
            for query in typical_slices(project.labels)
            for kind in ("page", "count")
        ]
        pages = [latest_read for latest_read, _ in pairs if latest_read.kind == "page"]
        fast = sum(read.p95 <= PAGE_TARGET_S for read in pages)
        close = sum(p.p95 <= PINNED_TARGET * lr.p95 for lr, p in pairs)
        print(
            f"\n  targets: first page p95 < {PAGE_TARGET_S * 1e3:.0f} ms at latest: {fast}/{len(pages)} met; "
            f"pinned p95 within {PINNED_TARGET:g}x of latest: {close}/{len(pairs)} met"
        )
        for read in (missed for pair in pairs for missed in misses(*pair)):
            explain(db, project, read, sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("ANNOLOG_TEST_DATABASE_URL"))
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--instances", type=int, default=10_000_000)
    parser.add_argument("--labels", type=int, default=50)
    parser.add_argument("--versions", type=int, default=11, help="the latest version; 2.. edit files")
    parser.add_argument("--churn", type=float, default=0.01, help="the share of files each version edits")
    parser.add_argument("--pinned", type=int, default=2, help="the old version to read")
    parser.add_argument("--repeats", type=int, default=25, help="timed runs of each read")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of timed runs per read, at most")
    args = parser.parse_args()
    if args.database_url is None:
        parser.error("--database-url (or ANNOLOG_TEST_DATABASE_URL) must name a PostgreSQL database")
    if args.labels < 5:
        parser.error(f"--labels must be at least 5 for the typical slices, got {args.labels}")
    if not 1 <= args.pinned <= args.versions:
        parser.error(f"--pinned must be a version from 1 to --versions ({args.versions}), got {args.pinned}")
    shape = Shape(args.files, args.instances, args.labels, args.versions, args.churn)
    server = create_engine(args.database_url)
    target = fresh_database(server)
    try:
        project = build(target, shape)
        print_sizes(target)
        bench_reads(target, project, args.pinned, Timing(args.repeats, args.budget))
    finally:
        drop_database(target)
        server.dispose()


if __name__ == "__main__":
    main()
