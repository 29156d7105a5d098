"""Projector throughput, append-to-visible latency, interactive writes and as-of reads, in one run.

    python -m bench.project [--files 2000] [--instances-per-file 10] [--durable] [--profile DIR]
                            [--projectors 1 2] [--partitions 4] [--projects 8] [--rates 20 200]
                            [--writers 1 8 32] [--seconds 10] [--directory-files 100000]
                            [--directory-changes 3000] [--repeats 15] [--labels 5000]
                            [--sections rebuild writes reads labels]

1. Full rebuild: a realistic bulk import (a project, labels, directories, files with boxes,
   mirrors, edits, tags) is appended to a fresh Kafka topic and replayed into a fresh
   PostgreSQL schema: events/s and rows/s, as a ratio to COPY loading the very same rows
   (target >= 0.5, done >= 0.25). The same commits in a fresh SqlLog are replayed into a
   fresh SQLite file (the embedded default), as a ratio to ``executemany`` of the very same
   rows. ``--durable`` adds the server rebuild and its COPY peer on a private cluster with
   fsync, synchronous_commit and full_page_writes on (see bench/postgres.py for why not
   the test server). ``--profile DIR`` then replays both once more under cProfile (untimed)
   and prints where the time goes: driver round trips, SQLAlchemy, Avro, Kafka, pydantic,
   judging.
2. Writes through ``Service.execute``, one AddInstance per commit, each waiting for its
   outcome, with ``annolog projector`` in its own process — once per entry of
   ``--projectors`` (1 vs 2 processes over the same partitions):
   - interactive: ``--writers`` threads writing back to back to ONE project: commits/s;
   - append -> visible: commits sent at ``--rates`` per second (open loop, spread over
     ``--projects`` projects, latency counted from the planned send time, so a backlog
     shows), then saturated by 64 writers, then the highest sustainable rate: the largest
     open-loop rate tried (from 0.9 of saturation down) that the stack keeps up with
     (achieved >= 95% of planned, p99 under --p99-limit); p50/p95/p99/max, and the p50 as
     a ratio to the bare Kafka append.
3. Reads of a large directory at the latest version and at an older, pinned version
   (count, first page, full listing, files of a page); medians and the ratio pinned/latest.
4. Judging with many labels (``--labels``), in memory (the rules over the overlay, no
   database): one commit defining them all, and boxes of a label never renamed against
   boxes of a renamed one, per event; their ratio should stay near 1 (a renamed label's
   name used to be found by a scan of every label).

Every Kafka topic, PostgreSQL schema, SQLite file and private cluster is new for the run
and removed at its end.
"""

import argparse
import gc
import hashlib
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

from sqlalchemy import Connection, Engine, create_engine, insert, select, text, update

from annolog.api.bootstrap import build_service
from annolog.api.service import Service
from annolog.api.settings import Settings, load_settings
from annolog.core import (
    AddFile,
    AddInstance,
    ChangeFileMetadata,
    ChangeInstance,
    Command,
    Commit,
    CreateDirectory,
    CreateProject,
    DefineLabel,
    MirrorFile,
    RemoveFileFromDirectory,
    TagVersion,
)
from annolog.core.events import DirectoryCreated, FileAdded, InstanceAdded, LabelDefined, LabelRenamed, ProjectCreated
from annolog.core.rules import judge
from annolog.eventlog.log import EventLog
from annolog.eventlog.sql import SqlLog, open_sqlite
from annolog.projections import queries, tables
from annolog.projections.chain import link, previous_link
from annolog.projections.database import create_schema
from annolog.projections.overlay import EmptyBase, Overlay
from annolog.projections.projector import Projector
from annolog.projections.replay import replay
from bench.common import (
    Percentiles,
    Scratch,
    annolog_process,
    chunks,
    copy_seconds,
    durability,
    executemany_seconds,
    print_machine,
    profiled,
    ratio_line,
    row_counts,
    service_arguments,
    timed,
    url_of,
)
from bench.postgres import durable_postgres

T = TypeVar("T")

ACTOR = "bench"
LABELS = ("car", "pedestrian", "truck", "bicycle", "sign")
EVENTS_PER_IMPORT_COMMIT = 150  # what a bulk importer batches per commit
EDITS_PER_COMMIT = 100
COPY_TARGET, COPY_FLOOR = 0.5, 0.25  # issue 13: >= 0.5 of COPY; below 0.25 not done
SATURATING_WRITERS = 64
SUSTAIN_TRIES = 4
SUSTAINED_SHARE = 0.95


# -- commits a bulk importer would append ---------------------------------------------------------


def _commit(project_id: UUID, commands: Sequence[Command], name: str) -> Commit:
    return Commit(
        project_id=project_id, actor=ACTOR, command=name, events=tuple(e for c in commands for e in c.events())
    )


def _commits(project_id: UUID, commands: Sequence[Command], name: str, per_commit: int) -> list[Commit]:
    return [_commit(project_id, chunk, name) for chunk in chunks(commands, per_commit)]


def _labels() -> list[Command]:
    return [DefineLabel(name=name) for name in LABELS]


def _new_project(*directories: str) -> tuple[UUID, list[UUID], list[Commit]]:
    """A project with ``LABELS`` and ``directories``: its id, the directories' ids, two commits."""
    create = CreateProject(name=f"bench-{uuid4().hex[:8]}")
    folders = [CreateDirectory(name=name) for name in directories]
    opening = [
        _commit(create.project_id, [create, *_labels()], "CreateProject"),
        _commit(create.project_id, folders, "CreateDirectory"),
    ]
    return create.project_id, [f.directory_id for f in folders], opening


def _file(directory_id: UUID, index: int) -> AddFile:
    return AddFile(
        directory_id=directory_id,
        sha256=hashlib.sha256(uuid4().bytes).hexdigest(),
        name=f"img-{index:07d}.jpg",
        media_type="image/jpeg",
        size=48_213 + index,
        width=640,
        height=480,
        metadata={"weather": ("rain", "sun", "fog")[index % 3], "camera": index % 8},
    )


def _box(rng: random.Random) -> tuple[tuple[float, float], tuple[float, float]]:
    x, y = rng.uniform(0, 600), rng.uniform(0, 440)
    return (x, y), (x + rng.uniform(5, 40), y + rng.uniform(5, 40))


def _boxes(file_id: UUID, count: int, rng: random.Random) -> list[AddInstance]:
    return [
        AddInstance(
            file_id=file_id,
            label=rng.choice(LABELS),
            kind="box",
            points=_box(rng),
            attributes={"score": round(rng.random(), 3)},
        )
        for _ in range(count)
    ]


def _import_commits(
    project_id: UUID, directory_ids: Sequence[UUID], files: int, per_file: int, rng: random.Random
) -> tuple[list[Commit], list[AddFile], list[AddInstance]]:
    """Files spread over ``directory_ids``, each with its boxes in the same commit."""
    adds = [_file(directory_ids[i % len(directory_ids)], i) for i in range(files)]
    boxes = [_boxes(add.file_id, per_file, rng) for add in adds]
    groups: list[list[Command]] = [[add, *shapes] for add, shapes in zip(adds, boxes)]
    per_commit = max(1, EVENTS_PER_IMPORT_COMMIT // (1 + per_file))
    imported = [
        _commit(project_id, [c for group in chunk for c in group], "ImportFiles")
        for chunk in chunks(groups, per_commit)
    ]
    return imported, adds, [box for shapes in boxes for box in shapes]


def _curation_commits(
    project_id: UUID, review: UUID, adds: Sequence[AddFile], boxes: Sequence[AddInstance], rng: random.Random
) -> list[Commit]:
    """What follows an import: mirrors into review, fixed boxes, new metadata, files dropped."""
    mirrors = [MirrorFile(file_id=a.file_id, directory_id=review) for a in adds[::10]]
    fixes = [
        ChangeInstance(
            instance_id=b.instance_id,
            expected_revision=1,
            label=rng.choice(LABELS),
            kind="box",
            points=_box(rng),
            attributes={"reviewed": True},
        )
        for b in boxes[::20]
    ]
    notes = [ChangeFileMetadata(file_id=a.file_id, metadata={**a.metadata, "reviewed": True}) for a in adds[::20]]
    drops = [RemoveFileFromDirectory(file_id=a.file_id, directory_id=a.directory_id) for a in adds[5::50]]
    return [
        *_commits(project_id, mirrors, "MirrorFile", EDITS_PER_COMMIT),
        *_commits(project_id, fixes, "ChangeInstance", EDITS_PER_COMMIT),
        *_commits(project_id, notes, "ChangeFileMetadata", EDITS_PER_COMMIT),
        *_commits(project_id, drops, "RemoveFileFromDirectory", EDITS_PER_COMMIT),
    ]


def realistic_log(files: int, per_file: int) -> list[Commit]:
    """The commits of one project's bulk import and the curation after it, with two tags."""
    rng = random.Random(7)  # the same boxes and edits on every run
    project_id, (*splits, review), opening = _new_project("train", "val", "test", "review")
    imported, adds, boxes = _import_commits(project_id, splits, files, per_file, rng)
    return [
        *opening,
        *imported,
        _commit(project_id, [TagVersion(tag="imported")], "TagVersion"),
        *_curation_commits(project_id, review, adds, boxes, rng),
        _commit(project_id, [TagVersion(tag="release-1")], "TagVersion"),
    ]


# -- 1. full rebuild ----------------------------------------------------------------------------


def _append(log: EventLog, batch: Sequence[Commit], *, per_call: int = 50) -> None:
    for chunk in chunks(batch, per_call):
        log.append_many(chunk)


def _check_all_accepted(target: Engine) -> None:
    """A benchmark of rejected commits would measure the wrong thing."""
    with target.connect() as db:
        rejected = list(db.execute(select(tables.commits.c.reason).where(~tables.commits.c.accepted)).scalars())
    if rejected:
        raise RuntimeError(f"{len(rejected)} commit(s) were rejected, e.g.: {rejected[0]}")


def _read_back(log: EventLog) -> int:
    return sum(1 for p in range(log.partitions) for _ in log.read(p, 0))


@dataclass(frozen=True)
class Rebuilt:
    """What one rebuild did: its rate, and the rows its peer loads."""

    seconds: float
    rows: int
    rows_per_s: float


def _rebuild(log: EventLog, target: Engine, events: int, commits: int, label: str) -> Rebuilt:
    _, seconds = timed(lambda: replay(log, target))
    _check_all_accepted(target)
    rows = sum(row_counts(target).values())
    print(
        f"  {label:<44} {seconds:>7.2f} s  {events / seconds:>9,.0f} events/s  "
        f"{commits / seconds:>6,.0f} commits/s  {rows / seconds:>9,.0f} rows/s ({rows:,} rows)"
    )
    return Rebuilt(seconds, rows, rows / seconds)


def _against_peer(ours: Rebuilt, peer: str, peer_seconds: float, *, targets: bool) -> None:
    print(f"  {peer:<44} {peer_seconds:>7.2f} s  {ours.rows / peer_seconds:>9,.0f} rows/s")
    verdict = ""
    if targets:
        share = peer_seconds / ours.seconds
        verdict = f"   (target >= {COPY_TARGET:g}: {'met' if share >= COPY_TARGET else 'NOT met'}"
        verdict += "" if share >= COPY_FLOOR else f"; below {COPY_FLOOR:g}: not done"
        verdict += ")"
    print(f"  ratio rebuild rows/s / {peer.split()[0]} rows/s: {peer_seconds / ours.seconds:.3f}{verdict}")


def rebuild_server(scratch: Scratch, log: EventLog, events: int, commits: int, where: str) -> None:
    """Replay ``log`` into a fresh schema of ``scratch``'s server, then COPY the same rows into another."""
    print(f"  on {where}:")
    target = scratch.database()
    ours = _rebuild(log, target, events, commits, "replay, Kafka -> PostgreSQL")
    peer = copy_seconds(target, scratch.database())
    _against_peer(ours, "COPY FROM STDIN of the same rows", peer, targets=True)


def rebuild_embedded(root: Path, batch: Sequence[Commit], events: int) -> None:
    """The same commits in a fresh SqlLog, replayed into a fresh SQLite file; executemany of the same rows."""
    print("  on the embedded default (SQLite):")
    log = SqlLog(open_sqlite(root / "log.db"))
    _append(log, batch)
    target = open_sqlite(root / "views.db")
    ours = _rebuild(log, target, events, len(batch), "replay, SqlLog -> SQLite (embedded)")
    peer = open_sqlite(root / "peer.db")
    create_schema(peer)
    _against_peer(ours, "executemany INSERT of the same rows", executemany_seconds(target, peer), targets=False)
    for engine in (target, peer):
        engine.dispose()
    log.close()


def profile_rebuilds(scratch: Scratch, log: EventLog, root: Path, folder: Path) -> None:
    """Both rebuilds once more under cProfile (untimed: profiling slows them), summarised by layer."""
    folder.mkdir(parents=True, exist_ok=True)
    print("  profile of the rebuild on Kafka + PostgreSQL:")
    profiled(lambda: replay(log, scratch.database()), folder / "rebuild-server.prof")
    embedded = open_sqlite(root / "profiled.db")
    print("  profile of the rebuild on the embedded default:")
    profiled(lambda: replay(SqlLog(open_sqlite(root / "log.db")), embedded), folder / "rebuild-embedded.prof")
    embedded.dispose()


def bench_rebuild(scratch: Scratch, args: argparse.Namespace) -> None:
    batch = realistic_log(args.files, args.instances_per_file)
    events = sum(len(c.events) for c in batch)
    log = scratch.log()
    _append(log, batch)
    print(
        f"1. Full rebuild: {args.files:,} files x {args.instances_per_file} boxes -> {len(batch):,} commits, "
        f"{events:,} events ({events / len(batch):.0f} per commit)"
    )
    _, reading = timed(lambda: _read_back(log))
    print(f"  {'read + decode the Kafka log alone':<44} {reading:>7.2f} s  {events / reading:>9,.0f} events/s")
    rebuild_server(scratch, log, events, len(batch), f"the test server ({durability(scratch.engine)})")
    if args.durable:
        with durable_postgres() as engine, closing(Scratch(scratch.bootstrap, engine)) as durable:
            rebuild_server(durable, log, events, len(batch), f"a private cluster ({durability(engine)})")
    with tempfile.TemporaryDirectory(prefix="annolog-bench-") as root:
        rebuild_embedded(Path(root), batch, events)
        if args.profile:
            profile_rebuilds(scratch, log, Path(root), args.profile)


# -- 2. writes: interactive and append -> visible ------------------------------------------------------


@contextmanager
def _projector_processes(settings: Settings, count: int, logs: Path) -> Iterator[None]:
    """``count`` `annolog projector` processes over ``settings``, stopped with SIGTERM at the end."""
    with ExitStack() as stack:
        for n in range(count):
            stack.enter_context(
                annolog_process(["projector"], settings, logs / f"projector-{n}.log", stop_timeout_s=30)
            )
        yield


@dataclass(frozen=True)
class LiveProject:
    project_id: UUID
    file_ids: list[UUID]


def _live_project(service: Service, files: int) -> LiveProject:
    """A project with labels and a directory of ``files`` files, made through the service."""
    create = CreateProject(name=f"bench-{uuid4().hex[:8]}")
    service.execute(create.project_id, ACTOR, [create, *_labels()])
    folder = CreateDirectory(name="live")
    service.execute(create.project_id, ACTOR, [folder])
    adds = [_file(folder.directory_id, i) for i in range(files)]
    service.execute(create.project_id, ACTOR, adds)
    return LiveProject(create.project_id, [a.file_id for a in adds])


class Writes:
    """One-box commits through the service, the i-th on a file of project i mod the project count."""

    def __init__(self, service: Service, projects: Sequence[LiveProject]) -> None:
        self.service, self.projects = service, projects
        self._rng = threading.local()

    def one_box(self, i: int, projects: Sequence[LiveProject] | None = None) -> None:
        chosen = projects or self.projects
        project = chosen[i % len(chosen)]
        if not hasattr(self._rng, "value"):
            self._rng.value = random.Random(threading.get_ident())
        boxes = _boxes(project.file_ids[(i // len(chosen)) % len(project.file_ids)], 1, self._rng.value)
        self.service.execute(project.project_id, ACTOR, boxes)


@dataclass(frozen=True)
class Load:
    """What one load did: completed commits, the seconds until the last one was visible, their latencies."""

    planned: float | None  # commits/s asked for (open loop); None for writers back to back
    done: int
    seconds: float
    latencies: Percentiles

    @property
    def rate(self) -> float:
        return self.done / self.seconds

    def sustained(self, p99_limit: float) -> bool:
        return (
            self.planned is not None and self.rate >= SUSTAINED_SHARE * self.planned and self.latencies.p99 <= p99_limit
        )


def closed_loop(write: Callable[[int], None], writers: int, seconds: float) -> Load:
    """``writers`` threads, each sending its next commit as soon as its last one is visible, for ``seconds``."""
    latencies: list[float] = []
    started = time.perf_counter()
    stop = started + seconds

    def writer(n: int) -> None:
        i = n
        while time.perf_counter() < stop:
            _, took = timed(lambda: write(i))
            latencies.append(took)  # list.append is atomic under the GIL
            i += writers

    with ThreadPoolExecutor(max_workers=writers) as pool:
        list(pool.map(writer, range(writers)))
    return Load(None, len(latencies), time.perf_counter() - started, Percentiles.of(latencies))


def open_loop(write: Callable[[int], None], rate: float, seconds: float) -> Load:
    """Commits planned at start + i/rate whatever came back; each latency counts from its planned time."""
    count = max(2, int(rate * seconds))
    latencies: list[float] = []
    started = time.perf_counter()

    def send(i: int, planned: float) -> None:
        write(i)
        latencies.append(time.perf_counter() - planned)

    with ThreadPoolExecutor(max_workers=4 * SATURATING_WRITERS) as pool:
        for i in range(count):
            planned = started + i / rate
            time.sleep(max(0.0, planned - time.perf_counter()))
            pool.submit(send, i, planned)
    elapsed = max(time.perf_counter() - started, count / rate)  # a stack that keeps up gets exactly ``rate``
    return Load(rate, len(latencies), elapsed, Percentiles.of(latencies))


def _row(projectors: int, label: str, load: Load) -> None:
    print(f"  {projectors:>10}  {label:<40} {load.rate:>9,.1f}  {load.latencies}", flush=True)


def highest_sustainable(write: Callable[[int], None], saturated: float, args: argparse.Namespace) -> Load:
    """The first open-loop rate, from 0.9 of saturation down by a fifth each try, that the stack keeps up with."""
    rate, load = 0.9 * saturated, None
    for _ in range(SUSTAIN_TRIES):
        load = open_loop(write, rate, args.seconds)
        if load.sustained(args.p99_limit):
            return load
        rate *= 0.8
    assert load is not None
    return load


def _bare_append(service: Service, project: LiveProject, rate: float, seconds: float) -> Load:
    """The peer of append -> visible: the same commits appended to Kafka alone, nobody waiting for the projector."""
    rng = random.Random(5)

    def append(i: int) -> None:
        service.log.append(_commit(project.project_id, _boxes(project.file_ids[i % 50], 1, rng), "AddInstance"))

    return open_loop(append, rate, seconds)


def _settings(scratch: Scratch, partitions: int, data_dir: Path) -> Settings:
    return load_settings(
        log_url=f"kafka://{scratch.bootstrap}",
        database_url=url_of(scratch.database()),
        data_dir=data_dir,
        kafka_topic=scratch.topic(),
        kafka_partitions=partitions,
        log_signing_keys=f"bench:{os.urandom(16).hex()}",  # signed, as production runs
    )


def writes_with(scratch: Scratch, projectors: int, args: argparse.Namespace, logs: Path) -> Load:
    """Every load of part 2 with ``projectors`` processes on a fresh topic and schema; the highest sustainable one."""
    logs.mkdir(parents=True)
    settings = _settings(scratch, args.partitions, logs)
    service = build_service(settings, project_in_process=False)
    with closing(service), _projector_processes(settings, projectors, logs):
        writes = Writes(service, [_live_project(service, files=50) for _ in range(args.projects)])
        for writers in args.writers:
            load = closed_loop(lambda i: writes.one_box(i, writes.projects[:1]), writers, args.seconds)
            _row(projectors, f"interactive: 1 project, {writers} writer(s)", load)
        steady = {rate: open_loop(writes.one_box, rate, args.seconds) for rate in args.rates}
        for rate, load in steady.items():
            _row(projectors, f"open loop at {rate:g}/s, {args.projects} projects", load)
        saturated = closed_loop(writes.one_box, SATURATING_WRITERS, args.seconds)
        _row(projectors, f"saturated: {SATURATING_WRITERS} writers, {args.projects} projects", saturated)
        best = highest_sustainable(writes.one_box, saturated.rate, args)
        verdict = "highest sustainable" if best.sustained(args.p99_limit) else "NOT sustained, lowest tried"
        _row(projectors, f"{verdict}: {best.planned or 0:,.0f}/s", best)
        slowest = min(args.rates)
        bare = _bare_append(service, writes.projects[0], slowest, args.seconds)
        _row(projectors, f"peer: KafkaLog.append alone at {slowest:g}/s", bare)
        ratio_line(
            f"p50 append -> visible / p50 append alone, at {slowest:g}/s",
            steady[slowest].latencies.p50,
            bare.latencies.p50,
        )
    return best


def bench_writes(scratch: Scratch, args: argparse.Namespace) -> None:
    print(
        f"2. Writes through Service.execute, one AddInstance per commit, each waiting for its outcome; "
        f"`annolog projector` in its own process(es), {args.partitions} partitions, {args.seconds:g} s per load"
    )
    print(f"  {'projectors':>10}  {'load':<40} {'commits/s':>9}  latency (append -> visible)")
    with tempfile.TemporaryDirectory(prefix="annolog-bench-") as logs:
        best = {count: writes_with(scratch, count, args, Path(logs) / str(count)) for count in args.projectors}
    if len(best) > 1:
        few, many = min(best), max(best)
        ratio_line(
            f"highest sustainable commits/s, {many} / {few} projector processes", best[many].rate, best[few].rate
        )


# -- 3. as-of reads of a large directory ----------------------------------------------------------


@dataclass(frozen=True)
class BigDirectory:
    project_id: UUID
    directory_id: UUID
    pinned: int  # the version right after the import, before the later changes
    latest: int


def _later_changes(project_id: UUID, directory_id: UUID, adds: Sequence[AddFile], changes: int) -> list[Commit]:
    """Half the changes drop files, a third change metadata, the rest add new files."""
    drops, notes = changes // 2, changes // 3
    commands: list[Command] = [
        RemoveFileFromDirectory(file_id=a.file_id, directory_id=directory_id) for a in adds[:drops]
    ]
    commands += [
        ChangeFileMetadata(file_id=a.file_id, metadata={"reviewed": True}) for a in adds[drops : drops + notes]
    ]
    commands += [_file(directory_id, len(adds) + i) for i in range(changes - drops - notes)]
    return _commits(project_id, commands, "Curate", 500)


def _versions(engine: Engine, project_id: UUID) -> tuple[int, int]:
    with engine.connect() as db:
        project = next(p for p in queries.list_projects(db) if p.project_id == project_id)
        return queries.resolve_version(db, project, "imported"), project.version


def _seeded_commit(db: Connection, project_id: UUID, version: int, files: int) -> dict[str, Any]:
    placeholder = f"bench seed: {files} files as version {version}".encode()
    return {
        "commit_id": uuid4(),
        "project_id": project_id,
        "partition": -1,
        "offset": -1,
        "actor": "bench",
        "time": datetime.now(UTC),
        "command": "AddFile",
        "accepted": True,
        "version": version,
        "chain": link(previous_link(db, project_id, version), version, placeholder),
    }


def _seed_import(target: Engine, project_id: UUID, adds: Sequence[AddFile]) -> int:
    """Bulk-insert the rows the projector writes for ``adds`` as the project's next version; that version.

    Projecting 100,000 files through the judge takes minutes (part 1 measures its rate) and
    this part measures reads, which only need the same rows. History rows are left out: no
    read here uses them. Every version has its accepted commit (the projector links the next
    one's chain hash to it), so the seeded version gets one too: it names no log record
    (partition and offset -1), which `annolog verify` would rightly report.
    """
    with target.begin() as db:
        project = tables.projects.c.project_id == project_id
        version = int(db.execute(select(tables.projects.c.version).where(project)).scalar_one()) + 1
        versioned = {"project_id": project_id, "valid_from": version, "valid_to": None}
        file_rows = [
            a.model_dump(exclude={"directory_id"}) | {"copied_from": None, "created_version": version} for a in adds
        ]
        db.execute(insert(tables.files), [row | versioned for row in file_rows])
        db.execute(
            insert(tables.memberships),
            [{"directory_id": a.directory_id, "file_id": a.file_id} | versioned for a in adds],
        )
        db.execute(update(tables.projects).where(project).values(version=version))
        db.execute(insert(tables.commits).values(_seeded_commit(db, project_id, version, len(adds))))
        db.execute(text("ANALYZE"))  # as autovacuum would soon after a bulk load
    return version


def build_big_directory(scratch: Scratch, files: int, changes: int) -> tuple[Engine, BigDirectory]:
    """A directory of ``files`` files, tagged 'imported', then ``changes`` later changes by the projector."""
    project_id, (directory_id,), opening = _new_project("all")
    log, target = scratch.log(), scratch.database()
    projector = Projector(target, log)
    _append(log, opening)
    projector.catch_up()
    adds = [_file(directory_id, i) for i in range(files)]
    imported, seeding = timed(lambda: _seed_import(target, project_id, adds))
    later = [
        _commit(project_id, [TagVersion(tag="imported", version=imported)], "TagVersion"),
        *_later_changes(project_id, directory_id, adds, changes),
    ]
    _append(log, later)
    _, projecting = timed(projector.catch_up)
    _check_all_accepted(target)
    print(f"3. Reads of a {files:,}-file directory, then {changes:,} later changes (drops, metadata, new files)")
    print(
        f"  import rows bulk-inserted as v{imported} in {seeding:.1f} s (see _seed_import); "
        f"the changes projected in {projecting:.1f} s ({changes / projecting:,.0f} events/s)"
    )
    with target.begin() as db:
        db.execute(text("ANALYZE"))
    return target, BigDirectory(project_id, directory_id, *_versions(target, project_id))


def _median_ms(db: Connection, read: Callable[[Connection], object], repeats: int) -> float:
    samples = [timed(lambda: read(db))[1] for _ in range(repeats)]
    return statistics.median(samples) * 1e3


def _reads(d: BigDirectory, version: int) -> dict[str, Callable[[Connection], object]]:
    def first_page(db: Connection) -> list[UUID]:
        return queries.file_ids(db, d.project_id, d.directory_id, version, limit=500)

    return {
        "count_files": lambda db: queries.count_files(db, d.project_id, d.directory_id, version),
        "file_ids, first page of 500": first_page,
        "file_ids, full listing": lambda db: queries.file_ids(db, d.project_id, d.directory_id, version),
        "files_by_id of the first page (+ page)": lambda db: queries.files_by_id(
            db, d.project_id, first_page(db), version
        ),
    }


def bench_reads(scratch: Scratch, args: argparse.Namespace) -> None:
    target, d = build_big_directory(scratch, args.directory_files, args.directory_changes)
    repeats = args.repeats
    with target.connect() as db:
        counts = [queries.count_files(db, d.project_id, d.directory_id, v) for v in (d.latest, d.pinned)]
        print(
            f"  latest = v{d.latest} ({counts[0]:,} files), pinned = v{d.pinned} 'imported' ({counts[1]:,} files); "
            f"median of {repeats}"
        )
        print(f"  {'query':<38} {'latest ms':>10} {'pinned ms':>10} {'pinned/latest':>14}")
        latest, pinned = _reads(d, d.latest), _reads(d, d.pinned)
        for name in latest:
            now, then = _median_ms(db, latest[name], repeats), _median_ms(db, pinned[name], repeats)
            print(f"  {name:<38} {now:>10.2f} {then:>10.2f} {then / now:>14.2f}")


# -- 4. judging with many labels -------------------------------------------------------------------


def _judged_seconds(state: Overlay, project_id: UUID, version: int, events: Sequence[Any]) -> float:
    """Seconds to judge one commit of ``events``, without cyclic GC pauses (as the projector judges)."""
    commit = Commit(project_id=project_id, actor="bench", command="Bench", events=tuple(events))
    gc.collect()
    gc.disable()
    try:
        _, seconds = timed(lambda: judge(commit, "bench", version, state))
    finally:
        gc.enable()
    state.keep()
    return seconds


def bench_labels(scratch: Scratch, args: argparse.Namespace) -> None:
    """The rules alone over an overlay with nothing beneath: what a label lookup costs them."""
    project_id, directory_id, file_id = uuid4(), uuid4(), uuid4()
    state = Overlay(project_id, EmptyBase())
    opening = [
        ProjectCreated(project_id=project_id, name="bench"),
        DirectoryCreated(directory_id=directory_id, name="all"),
        FileAdded(
            file_id=file_id,
            directory_id=directory_id,
            sha256="0" * 64,
            name="a.jpg",
            media_type="image/jpeg",
            size=1,
            width=640,
            height=480,
        ),
    ]
    _judged_seconds(state, project_id, 1, opening)
    labels = [LabelDefined(name=f"label-{i}") for i in range(args.labels)]
    defining = _judged_seconds(state, project_id, 2, labels)
    _judged_seconds(state, project_id, 3, [LabelRenamed(name="label-0", new_name="renamed")])
    boxes = 2000
    print(f"4. Judging with {args.labels:,} labels (rules over the overlay, in memory)")
    print(f"  one commit defining them all                  {defining:>7.3f} s")
    per_event = {}
    for version, label in enumerate(("label-2", "label-1", "renamed"), start=4):  # label-2 warms up
        events = [
            InstanceAdded(instance_id=uuid4(), file_id=file_id, label=label, kind="box", points=_box(random.Random(i)))
            for i in range(boxes)
        ]
        per_event[label] = _judged_seconds(state, project_id, version, events) / boxes * 1e6
        if label != "label-2":
            print(f"  {boxes:,} boxes of {label!r:<12} in one commit         {per_event[label]:>7.1f} us/event")
    print(f"  ratio renamed / never renamed: {per_event['renamed'] / per_event['label-1']:.2f}")


# -- the run ------------------------------------------------------------------------------------

SECTIONS = {"rebuild": bench_rebuild, "writes": bench_writes, "reads": bench_reads, "labels": bench_labels}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    service_arguments(parser)
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="parts to run")
    parser.add_argument("--files", type=int, default=2000, help="files in the rebuilt log")
    parser.add_argument("--instances-per-file", type=int, default=10, help="boxes per file in the rebuilt log")
    parser.add_argument("--durable", action="store_true", help="also rebuild with fsync etc. on (private cluster)")
    parser.add_argument("--profile", type=Path, help="folder for cProfile stats of both rebuilds (summarised)")
    parser.add_argument("--projectors", type=int, nargs="+", default=[1, 2], help="`annolog projector` processes")
    parser.add_argument("--partitions", type=int, default=4, help="Kafka partitions of the writes' topic")
    parser.add_argument("--projects", type=int, default=8, help="projects the open-loop writes go to")
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 8, 32], help="interactive writers, 1 project")
    parser.add_argument("--rates", type=float, nargs="+", default=[20.0, 200.0], help="open-loop commits/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each write load")
    parser.add_argument("--p99-limit", type=float, default=1.0, help="p99 (s) a sustainable rate stays under")
    parser.add_argument("--directory-files", type=int, default=100_000, help="files in the large directory")
    parser.add_argument("--directory-changes", type=int, default=3000, help="changes after its import")
    parser.add_argument("--repeats", type=int, default=15, help="timings per read (the median is shown)")
    parser.add_argument("--labels", type=int, default=5000, help="labels defined for the judging section")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    engine = create_engine(args.database_url)
    print_machine(engine, args.bootstrap)
    with closing(Scratch(args.bootstrap, engine)) as scratch:
        for name in args.sections:
            SECTIONS[name](scratch, args)
    engine.dispose()


if __name__ == "__main__":
    main()
