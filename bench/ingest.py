"""Bulk ingest: instances per second from a COCO file to queryable, against the log alone and COPY, in one run.

    python -m bench.ingest [--images 600] [--per-image 20] [--batch-files 100] [--workers 8]

A synthetic COCO dataset (small JPEGs made with Pillow, boxes inside them) is imported
with ``annolog.ingest.import_coco`` into a fresh directory, timed until every instance
is queryable (appended and projected):

1. on the embedded default (SqlLog + SQLite + local blobs), against appending the very
   same commits to a fresh SqlLog alone;
2. on Kafka + PostgreSQL + S3 (the projector in this process), against appending the
   same commits to a fresh Kafka topic (one at a time, as the import does, and pipelined)
   and against COPY loading the same view rows into a fresh PostgreSQL schema.

Every topic, schema and bucket is new for the run and removed at its end.
"""

import argparse
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TypeVar
from uuid import uuid4

import boto3
from sqlalchemy import create_engine

import annolog
from annolog.api.bootstrap import build_service
from annolog.api.service import Service
from annolog.api.settings import Settings, load_settings
from annolog.core.commit import Commit
from annolog.eventlog.log import EventLog, LogRecord
from annolog.eventlog.sql import SqlLog, open_sqlite
from annolog.ingest import IngestSummary, import_coco
from bench.project import Scratch, _copy_in, _copy_out, _row_counts, _url_of, service_arguments
from tests.cocofiles import synthetic_coco

T = TypeVar("T")


def _timed(run: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def _line(label: str, seconds: float, instances: int, extra: str = "") -> float:
    rate = instances / seconds
    print(f"  {label:<52} {seconds:>7.2f} s  {rate:>10,.0f} instances/s  {extra}")
    return rate


def _import(service: Service, annotations: Path, images: Path, args: argparse.Namespace) -> IngestSummary:
    client = annolog.Client(service, actor="bench")
    directory = client.create_project(f"bench-{uuid4().hex[:8]}").directory.new("train")
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


def bench_embedded(annotations: Path, images: Path, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="annolog-bench-") as scratch:
        service = build_service(load_settings(data_dir=Path(scratch) / "annolog"))
        summary, seconds = _timed(lambda: _import(service, annotations, images, args))
        commits = _commits(service.log)
        print(
            f"1. Embedded default: {summary.files_added:,} files, {summary.instances_added:,} boxes, "
            f"{summary.commits} commits"
        )
        ours = _line("import_coco -> queryable (SQLite, local blobs)", seconds, summary.instances_added)
        peer = SqlLog(open_sqlite(Path(scratch) / "peer.db"))
        _, raw = _timed(lambda: [peer.append(c) for c in commits])
        theirs = _line("SqlLog.append of the same commits, one at a time", raw, _instances(commits))
        print(f"  ratio import / log alone: {ours / theirs:.3f}")
        service.log.close()
        service.engine.dispose()


@contextmanager
def _server_settings(scratch: Scratch, endpoint: str, data_dir: Path) -> Iterator[Settings]:
    """Settings over a fresh topic, schema and bucket; the bucket is emptied and removed at the end."""
    s3 = boto3.resource("s3", endpoint_url=endpoint)
    bucket = s3.create_bucket(Bucket=f"annolog-bench-{uuid4().hex[:8]}")
    try:
        yield load_settings(
            data_dir=data_dir,
            log_url=f"kafka://{scratch.bootstrap}",
            kafka_topic=scratch.topic(),
            kafka_partitions=1,
            log_signing_keys=f"bench:{secrets.token_hex(16)}",  # signed, as production runs
            database_url=_url_of(scratch.database()),
            blob_url=f"s3://{bucket.name}/blobs",
            s3_endpoint_url=endpoint,
        )
    finally:
        bucket.objects.all().delete()
        bucket.delete()


def bench_server(scratch: Scratch, endpoint: str, annolog_data: Path, images: Path, args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="annolog-bench-") as data_dir,
        _server_settings(scratch, endpoint, Path(data_dir)) as settings,
    ):
        service = build_service(settings, project_in_process=True)
        summary, seconds = _timed(lambda: _import(service, annolog_data, images, args))
        commits, instances = _commits(service.log), summary.instances_added
        print(f"2. Kafka + PostgreSQL + S3: the same import, {summary.commits} commits")
        ours = _line("import_coco -> queryable (Kafka, PostgreSQL, S3 blobs)", seconds, instances)
        peer = scratch.log()
        _, one_by_one = _timed(lambda: [peer.append(c) for c in commits])
        theirs = _line("KafkaLog.append of the same commits, one at a time", one_by_one, _instances(commits))
        _, pipelined = _timed(lambda: scratch.log().append_many(commits))
        _line("KafkaLog.append_many of the same commits", pipelined, _instances(commits))
        dumps, target = _copy_out(service.engine), scratch.database()
        _, copying = _timed(lambda: _copy_in(target, dumps))
        rows = sum(_row_counts(target).values())
        _line("COPY FROM STDIN of the same view rows", copying, instances, f"({rows:,} rows)")
        print(
            f"  ratio import / Kafka append: {ours / theirs:.3f}   import / COPY: {copying / seconds:.3f}   "
            f"wall time import / COPY: {seconds / copying:.1f}x"
        )
        service.log.close()
        service.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    service_arguments(parser, s3=True)
    parser.add_argument("--images", type=int, default=600, help="images in the COCO file")
    parser.add_argument("--per-image", type=int, default=20, help="boxes per image")
    parser.add_argument("--batch-files", type=int, default=100, help="files per commit")
    parser.add_argument("--workers", type=int, default=8, help="blobs stored in parallel")
    args = parser.parse_args()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "test")  # the S3 test server takes any credentials
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with tempfile.TemporaryDirectory(prefix="annolog-bench-coco-") as root:
        annotations, images = synthetic_coco(Path(root), args.images, args.per_image, size=(320, 240))
        size = sum(p.stat().st_size for p in images.iterdir())
        print(
            f"Machine: {os.cpu_count()} cores. COCO file: {args.images:,} JPEGs of 320x240 ({size / 1e6:.1f} MB), "
            f"{args.images * args.per_image:,} boxes; {args.batch_files} files per commit, {args.workers} workers"
        )
        bench_embedded(annotations, images, args)
        engine = create_engine(args.database_url)
        with closing(Scratch(args.bootstrap, engine)) as scratch:
            bench_server(scratch, args.s3_endpoint, annotations, images, args)
        engine.dispose()


if __name__ == "__main__":
    main()
