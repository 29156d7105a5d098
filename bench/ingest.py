"""Bulk ingest: ``import_coco`` to queryable, instances/s and files/s against the databases' bulk paths, in one run.

    python -m bench.ingest [--images 600] [--per-image 20 7] [--batch-files 100] [--workers 8] [--durable]
    python -m bench.ingest --instances 2000000 [--per-image 20] [--stack server] [--images-size 64x48]

A synthetic COCO dataset (small JPEGs made with Pillow, boxes inside them) is imported
with ``annolog.ingest.import_coco`` into a fresh directory, timed until every instance
is queryable (appended and projected). For each density of ``--per-image`` (20 boxes
per image, and COCO's own ~7, where files/s decide the rate):

1. on the embedded default (SqlLog + SQLite + local blobs), against appending the very
   same commits to a fresh SqlLog alone, and against ``executemany`` of the very same
   view rows into a fresh SQLite file (the raw SQLite insert);
2. on Kafka + PostgreSQL + S3 (the projector in this process), against appending the
   same commits to a fresh Kafka topic (one at a time, as the import does, and pipelined)
   and against COPY loading the same view rows into a fresh PostgreSQL schema (target:
   >= 0.3 of COPY). ``--durable`` repeats it on a private cluster with fsync,
   synchronous_commit and full_page_writes on, COPY measured there (bench/postgres.py).

Scale mode (``--instances N``): one COCO file of N boxes at the first ``--per-image``,
generated in a child process, imported on ``--stack`` (server: `annolog projector` in its
own process; embedded: projected in this process). Prints instances/s over the 10% of
the commits ending at 10%, 50% and 100% of the run (flat within 25% is the target), the
peak RSS (VmHWM) of the projector and of the importing process, the database's bytes per
million instances, and the hours that rate means for 100M annotations; then a replay of
the same log into fresh tables in a child process (its rate, its peak RSS, the hours for
100M annotations).

Every topic, schema, bucket and file is new for the run and removed at its end.
"""

import argparse
import multiprocessing
import os
import queue
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Engine, create_engine, select, text

import annolog
from annolog.api.bootstrap import build_log, build_service
from annolog.api.service import Service
from annolog.api.settings import load_settings
from annolog.core.commit import Commit
from annolog.eventlog.log import EventLog, LogRecord
from annolog.eventlog.sql import SqlLog, open_sqlite
from annolog.ingest import IngestSummary, import_coco
from annolog.projections import tables
from annolog.projections.database import create_schema
from annolog.projections.replay import drop_database, fresh_database, replay
from bench.common import (
    Scratch,
    annolog_process,
    copy_seconds,
    durability,
    executemany_seconds,
    peak_rss_bytes,
    ratio_line,
    row_counts,
    server_settings,
    service_arguments,
    timed,
)
from bench.postgres import durable_postgres
from tests.cocofiles import synthetic_coco

COPY_TARGET = 0.3  # issue 13: import_coco -> queryable >= 0.3 of COPY on the server stack
FLAT_WITHIN = 0.25
HUNDRED_MILLION = 100_000_000
MARKS = (0.1, 0.5, 1.0)
SAMPLE_EVERY_S = 0.2


def _line(label: str, seconds: float, instances: int, files: int | None = None, extra: str = "") -> float:
    rate = instances / seconds
    per_file = "" if files is None else f"  {files / seconds:>8,.0f} files/s"
    print(f"  {label:<54} {seconds:>7.2f} s  {rate:>10,.0f} instances/s{per_file}  {extra}".rstrip())
    return rate


def _directory(service: Service) -> "annolog.Directory":
    client = annolog.Client(service, actor="bench")
    return client.create_project(f"bench-{uuid4().hex[:8]}").directory.new("train")


def _import(directory: "annolog.Directory", annotations: Path, images: Path, args: argparse.Namespace) -> IngestSummary:
    summary = import_coco(directory, annotations, images, workers=args.workers, batch_files=args.batch_files)
    if summary.problems:
        raise RuntimeError(f"the benchmark's own data was refused: {summary.problems[0]}")
    return summary


def _commits(log: EventLog) -> list[Commit]:
    """Every commit the import appended, as the log holds them."""
    records = [record for p in range(log.partitions) for record in log.read(p, 0)]
    return [record.commit for record in records if isinstance(record, LogRecord)]


def _instances(commits: list[Commit]) -> int:
    return sum(1 for commit in commits for event in commit.events if event.type == "InstanceAdded")


# -- 1. embedded ------------------------------------------------------------------------------------


def bench_embedded(annotations: Path, images: Path, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="annolog-bench-") as scratch:
        service = build_service(load_settings(data_dir=Path(scratch) / "annolog"))
        with closing(service):
            summary, seconds = timed(lambda: _import(_directory(service), annotations, images, args))
            files, instances, commits = summary.files_added, summary.instances_added, _commits(service.log)
            print(f"  embedded default: {files:,} files, {instances:,} boxes, {summary.commits} commits")
            ours = _line("import_coco -> queryable (SQLite, local blobs)", seconds, instances, files)
            peer_log = SqlLog(open_sqlite(Path(scratch) / "peer-log.db"))
            _, raw = timed(lambda: [peer_log.append(c) for c in commits])
            log_alone = _line("SqlLog.append of the same commits, one at a time", raw, _instances(commits), files)
            peer = open_sqlite(Path(scratch) / "peer-views.db")
            create_schema(peer)
            inserting = executemany_seconds(service.engine, peer)
            rows = sum(row_counts(peer).values())
            rows_alone = _line(
                "executemany INSERT of the same view rows", inserting, instances, files, f"({rows:,} rows)"
            )
            ratio_line("import / log alone", ours, log_alone)
            ratio_line("import / executemany", ours, rows_alone)
            peer_log.close()
            peer.dispose()


# -- 2. Kafka + PostgreSQL + S3 -------------------------------------------------------------------------


def bench_server(
    scratch: Scratch, endpoint: str, annotations: Path, images: Path, args: argparse.Namespace, where: str
) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="annolog-bench-") as data_dir,
        server_settings(scratch, endpoint, Path(data_dir)) as settings,
    ):
        service = build_service(settings, project_in_process=True)
        with closing(service):
            summary, seconds = timed(lambda: _import(_directory(service), annotations, images, args))
            commits, instances, files = _commits(service.log), summary.instances_added, summary.files_added
            print(f"  Kafka + PostgreSQL ({where}) + S3: the same import, {summary.commits} commits")
            ours = _line("import_coco -> queryable (Kafka, PostgreSQL, S3 blobs)", seconds, instances, files)
            peer = scratch.log()
            _, one_by_one = timed(lambda: [peer.append(c) for c in commits])
            log_alone = _line("KafkaLog.append of the same commits, one at a time", one_by_one, instances, files)
            _, pipelined = timed(lambda: scratch.log().append_many(commits))
            _line("KafkaLog.append_many of the same commits", pipelined, instances, files)
            target = scratch.database()
            copying = copy_seconds(service.engine, target)
            rows = sum(row_counts(target).values())
            copied = _line("COPY FROM STDIN of the same view rows", copying, instances, files, f"({rows:,} rows)")
            ratio_line("import / Kafka append one at a time", ours, log_alone)
            ratio_line("import / COPY", ours, copied, COPY_TARGET)


def bench_density(root: Path, per_image: int, args: argparse.Namespace, engine: Engine) -> None:
    annotations, images = synthetic_coco(root / f"coco-{per_image}", args.images, per_image, size=(320, 240))
    size = sum(p.stat().st_size for p in images.iterdir())
    print(
        f"{per_image} boxes per image: {args.images:,} JPEGs of 320x240 ({size / 1e6:.1f} MB), "
        f"{args.images * per_image:,} boxes; {args.batch_files} files per commit, {args.workers} workers"
    )
    bench_embedded(annotations, images, args)
    with closing(Scratch(args.bootstrap, engine)) as scratch:
        bench_server(scratch, args.s3_endpoint, annotations, images, args, durability(engine))
    if args.durable:
        with durable_postgres() as durable, closing(Scratch(args.bootstrap, durable)) as scratch:
            bench_server(scratch, args.s3_endpoint, annotations, images, args, durability(durable))


# -- scale mode ------------------------------------------------------------------------------------------


@dataclass
class Progress:
    """The project's version over time, sampled by a thread while an import runs."""

    engine: Engine
    project_id: UUID
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _version(self) -> int:
        with self.engine.connect() as db:
            project = tables.projects.c.project_id == self.project_id
            return int(db.execute(select(tables.projects.c.version).where(project)).scalar_one())

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.samples.append((time.perf_counter(), self._version()))

    @contextmanager
    def running(self) -> Iterator[None]:
        self.samples.append((time.perf_counter(), self._version()))
        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        try:
            yield
        finally:
            self._stop.set()
            sampler.join()
            self.samples.append((time.perf_counter(), self._version()))

    def _steady(self) -> list[tuple[float, int]]:
        """The samples from the first one past the starting version: reading and planning the COCO file and
        the labels' commit come before it, so the windows time the files' commits alone."""
        start = self.samples[0][1]
        return [(t, v) for t, v in self.samples if v > start] or self.samples

    def startup(self) -> float:
        """Seconds from the start of the import to the first sample past the starting version."""
        return self._steady()[0][0] - self.samples[0][0]

    def time_at(self, share: float) -> float:
        """When ``share`` of the files' commits were visible (linear between samples)."""
        samples = self._steady()
        (t0, v0), last = samples[0], samples[-1][1]
        wanted = v0 + share * (last - v0)
        previous = (t0, float(v0))
        for t, v in samples:
            if v >= wanted:
                (pt, pv) = previous
                return pt if v == pv else pt + (t - pt) * (wanted - pv) / (v - pv)
            previous = (t, float(v))
        return samples[-1][0]

    def rate_before(self, share: float, instances: int) -> float:
        """Instances/s over the tenth of the run's commits that ends at ``share``."""
        return 0.1 * instances / (self.time_at(share) - self.time_at(share - 0.1))


def database_bytes(engine: Engine, sqlite_file: Path | None) -> int:
    """The view tables with their indexes (PostgreSQL: this schema), or the SQLite file with its WAL."""
    if sqlite_file is not None:
        return sum(p.stat().st_size for p in sqlite_file.parent.glob(f"{sqlite_file.name}*"))
    with engine.connect() as db:
        return int(
            db.execute(
                text(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')"
                )
            ).scalar_one()
        )


def _replay_child(environment: dict[str, str], target_url: str, answers: Any) -> None:
    """In a fresh process: replay the settings' log into fresh tables beside ``target_url``; records, seconds, VmHWM."""
    os.environ.update(environment)
    log, target = build_log(load_settings()), fresh_database(create_engine(target_url))
    try:
        records, seconds = timed(lambda: replay(log, target))
        answers.put((records, seconds, peak_rss_bytes()))
    finally:
        log.close()
        drop_database(target)


def _generate(root: Path, images: int, per_image: int, size: tuple[int, int], answers: Any) -> None:
    """In a fresh process, so the generator's memory is never counted in the importer's peak RSS."""
    synthetic_coco(root, images, per_image, size=size)
    answers.put(None)


def _spawned(target: Any, *arguments: Any) -> Any:
    """``target(*arguments, answers)`` in a spawned process (none of this one's memory); what it put in answers."""
    context = multiprocessing.get_context("spawn")
    answers = context.Queue()
    child = context.Process(target=target, args=(*arguments, answers))
    child.start()
    while True:  # read before join: a child exits only once what it put is read
        try:
            answer = answers.get(timeout=1.0)
            break
        except queue.Empty:
            if not child.is_alive():
                raise RuntimeError(f"{target.__name__} in a child process exited with {child.exitcode}") from None
    child.join()
    return answer


def _hours(rate: float) -> str:
    return f"{HUNDRED_MILLION / rate / 3600:,.1f} h"


def report_scale(progress: Progress, summary: IngestSummary, seconds: float) -> None:
    instances = summary.instances_added
    rates = {share: progress.rate_before(share, instances) for share in MARKS}
    spread = max(rates.values()) / min(rates.values()) - 1
    print(
        "  instances/s over the 10% of the commits ending at "
        + ", ".join(f"{share:.0%}: {rate:,.0f}" for share, rate in rates.items())
        + f"   (spread {spread:.0%}; target within {FLAT_WITHIN:.0%}: {'met' if spread <= FLAT_WITHIN else 'NOT met'})"
    )
    print(f"  before the first files' commit was visible (read, plan, labels, first blobs): {progress.startup():.1f} s")
    rate = instances / seconds
    print(
        f"  whole import {seconds:,.1f} s: {rate:,.0f} instances/s, {summary.files_added / seconds:,.0f} files/s; "
        f"100M annotations would take {_hours(rate)} to ingest"
    )


def _scale_import(service: Service, annotations: Path, images: Path, args: argparse.Namespace, who: str) -> int:
    directory = _directory(service)
    progress = Progress(service.engine, directory.project.id)
    with progress.running():
        summary, seconds = timed(lambda: _import(directory, annotations, images, args))
    report_scale(progress, summary, seconds)
    print(f"  peak RSS of the importing process ({who}): {peak_rss_bytes() / 2**20:,.0f} MiB")
    return summary.instances_added


def bench_scale(args: argparse.Namespace, root: Path, engine: Engine) -> None:
    per_image = args.per_image[0]
    images_count = -(-args.instances // per_image)
    width, height = args.images_size
    _spawned(_generate, root / "coco", images_count, per_image, (width, height))
    annotations, images = root / "coco" / "annotations.json", root / "coco" / "images"
    print(
        f"Scale: {images_count:,} JPEGs of {width}x{height} x {per_image} boxes = {images_count * per_image:,} "
        f"instances on the {args.stack} stack; {args.batch_files} files per commit, {args.workers} workers"
    )
    with ExitStack() as stack:
        if args.stack == "server":
            scratch = stack.enter_context(closing(Scratch(args.bootstrap, engine)))
            settings = stack.enter_context(server_settings(scratch, args.s3_endpoint, root / "data"))
            service = stack.enter_context(closing(build_service(settings, project_in_process=False)))
            projector = stack.enter_context(annolog_process(["projector"], settings, root / "projector.log"))
            instances = _scale_import(service, annotations, images, args, "import_coco alone")
            print(f"  peak RSS of `annolog projector`: {peak_rss_bytes(projector.pid) / 2**20:,.0f} MiB")
            sqlite_file, target_url = None, args.database_url
        else:
            settings = load_settings(data_dir=root / "data")
            service = stack.enter_context(closing(build_service(settings)))
            instances = _scale_import(service, annotations, images, args, "import_coco and the projector")
            sqlite_file, target_url = settings.embedded_database, "sqlite://"
        size = database_bytes(service.engine, sqlite_file)
        what = "views + indexes" if sqlite_file is None else "SQLite file: log + views + indexes"
        print(f"  database: {size / 1e6:,.0f} MB ({what}), {size / instances:,.0f} MB per million instances")
        records, seconds, rss = _spawned(_replay_child, settings.environment(), target_url)
        print(
            f"  replay of the same log into fresh tables (child process): {seconds:,.1f} s for {records:,} "
            f"records, {instances / seconds:,.0f} instances/s, peak RSS {rss / 2**20:,.0f} MiB; 100M annotations "
            f"would take {_hours(instances / seconds)} to replay"
        )


# -- the run -------------------------------------------------------------------------------------------------


def _size(value: str) -> tuple[int, int]:
    width, _, height = value.partition("x")
    return int(width), int(height)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    service_arguments(parser, s3=True)
    parser.add_argument("--images", type=int, default=600, help="images in the COCO file")
    parser.add_argument("--per-image", type=int, nargs="+", default=[20, 7], help="boxes per image, each a run")
    parser.add_argument("--batch-files", type=int, default=100, help="files per commit")
    parser.add_argument("--workers", type=int, default=8, help="blobs stored in parallel")
    parser.add_argument("--durable", action="store_true", help="also on a private cluster with fsync etc. on")
    parser.add_argument("--instances", type=int, help="scale mode: one import of this many boxes")
    parser.add_argument("--stack", choices=("server", "embedded"), default="server", help="scale mode's stack")
    parser.add_argument("--images-size", type=_size, default=(64, 48), help="scale mode's JPEG size, WxH")
    args = parser.parse_args()
    engine = create_engine(args.database_url)
    print(f"Machine: {os.cpu_count()} cores; PostgreSQL {durability(engine)}")
    with tempfile.TemporaryDirectory(prefix="annolog-bench-coco-") as root:
        if args.instances:
            bench_scale(args, Path(root), engine)
        else:
            for per_image in args.per_image:
                bench_density(Path(root), per_image, args, engine)
    engine.dispose()


if __name__ == "__main__":
    main()
