"""What the benches share: timing, peers (COPY, executemany), fresh topics and schemas, memory, profiles.

Every bench prints its own figures as ratios to a peer measured in the same run; this
module holds the pieces more than one bench needs, so that the peers are the same
everywhere: COPY of the very same rows into a fresh PostgreSQL schema, ``executemany``
of the very same rows into a fresh SQLite file, percentiles cut the same way.
"""

import argparse
import cProfile
import io
import os
import pstats
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import boto3  # type: ignore[import-untyped]
from kafka import KafkaAdminClient
from sqlalchemy import Engine, create_engine, func, select, text

from annolog.api.settings import Settings, load_settings
from annolog.eventlog.kafka import KafkaLog
from annolog.projections import tables
from annolog.projections.database import create_schema
from annolog.projections.replay import drop_database, fresh_database

T = TypeVar("T")


def timed(run: Callable[[], T]) -> tuple[T, float]:
    """``run()``'s result and the seconds it took."""
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def ratio_line(label: str, ours: float, theirs: float, target: float | None = None) -> None:
    """``label: ours/theirs`` and, when there is one, whether it meets the target."""
    verdict = "" if target is None else f"   (target >= {target:g}: {'met' if ours / theirs >= target else 'NOT met'})"
    print(f"  ratio {label}: {ours / theirs:.3f}{verdict}")


# -- the services ---------------------------------------------------------------------------------


def service_arguments(parser: argparse.ArgumentParser, *, s3: bool = False) -> None:
    """--bootstrap, --database-url (and --s3-endpoint): the services `make services` starts."""
    parser.add_argument("--bootstrap", default=os.environ.get("ANNOLOG_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:59092"))
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "ANNOLOG_TEST_DATABASE_URL", "postgresql+psycopg2://annolog:annolog@127.0.0.1:55432/annolog_test"
        ),
    )
    if s3:
        s3_arguments(parser)


def s3_arguments(parser: argparse.ArgumentParser) -> None:
    """--s3-endpoint, and credentials for it unless set: the S3 test server takes any; real S3 takes yours."""
    parser.add_argument("--s3-endpoint", default=os.environ.get("ANNOLOG_TEST_S3_ENDPOINT", "http://127.0.0.1:55000"))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "test")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def durability(engine: Engine) -> str:
    """The server's fsync, synchronous_commit and full_page_writes, as one line."""
    with engine.connect() as db:
        found = db.execute(
            text(
                "SELECT name, setting FROM pg_settings "
                "WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes') ORDER BY name"
            )
        )
        return ", ".join(f"{name}={setting}" for name, setting in found)


def print_machine(engine: Engine, bootstrap: str) -> None:
    with engine.connect() as db:
        server = db.execute(text("SHOW server_version")).scalar_one()
    print(
        f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, PostgreSQL {server} at "
        f"{engine.url.render_as_string(hide_password=True)} ({durability(engine)}), Kafka at {bootstrap}"
    )


@dataclass
class Scratch:
    """Fresh Kafka topics and PostgreSQL schemas for one run; ``close`` drops them all."""

    bootstrap: str
    engine: Engine
    _topics: list[str] = field(default_factory=list)
    _logs: list[KafkaLog] = field(default_factory=list)
    _databases: list[Engine] = field(default_factory=list)

    def topic(self) -> str:
        name = f"annolog-bench-{uuid4().hex[:8]}"
        self._topics.append(name)
        return name

    def log(self, *, partitions: int = 1) -> KafkaLog:
        log = KafkaLog(self.bootstrap, topic=self.topic(), partitions=partitions)
        self._logs.append(log)
        return log

    def database(self) -> Engine:
        """An empty schema with the view tables."""
        target = fresh_database(self.engine)
        create_schema(target)
        self._databases.append(target)
        return target

    def close(self) -> None:
        for log in self._logs:
            log.close()
        for target in self._databases:
            drop_database(target)
        if self._topics:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
            admin.delete_topics(self._topics)
            admin.close()


def run_in_scratch(
    args: argparse.Namespace, prefix: str, run: Callable[[argparse.Namespace, Scratch, Path], None]
) -> None:
    """Print the machine, then ``run`` with a scratch stack (``Scratch``) and an empty folder
    named ``prefix…``, both removed after: the frame of a bench that serves annolog."""
    engine = create_engine(args.database_url)
    print_machine(engine, args.bootstrap)
    with tempfile.TemporaryDirectory(prefix=prefix) as root, closing(Scratch(args.bootstrap, engine)) as scratch:
        run(args, scratch, Path(root))
    engine.dispose()


def url_of(target: Engine) -> str:
    """A database URL that opens ``target``'s schema, for code that builds engines from settings."""
    with target.connect() as db:
        schema = db.execute(text("SELECT current_schema()")).scalar_one()
    url = target.url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@contextmanager
def server_settings(scratch: Scratch, endpoint: str, data_dir: Path, *, partitions: int = 1) -> Iterator[Settings]:
    """Settings over a fresh topic, schema and bucket; the bucket is emptied and removed at the end."""
    s3 = boto3.resource("s3", endpoint_url=endpoint)
    bucket = s3.create_bucket(Bucket=f"annolog-bench-{uuid4().hex[:8]}")
    try:
        yield load_settings(
            data_dir=data_dir,
            log_url=f"kafka://{scratch.bootstrap}",
            kafka_topic=scratch.topic(),
            kafka_partitions=partitions,
            log_signing_keys=f"bench:{secrets.token_hex(16)}",  # signed, as production runs
            database_url=url_of(scratch.database()),
            blob_url=f"s3://{bucket.name}/blobs",
            s3_endpoint_url=endpoint,
        )
    finally:
        bucket.objects.all().delete()
        bucket.delete()


# -- the peers: the same rows loaded by the database's fastest path --------------------------------


@contextmanager
def annolog_process(
    command: Sequence[str], settings: Settings, output: Path, *, stop_timeout_s: float = 60
) -> Iterator["subprocess.Popen[bytes]"]:
    """``python -m annolog <command>`` over ``settings``, its output in ``output``; SIGTERM at the end."""
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "annolog", *command],
            env={**os.environ, **settings.environment()},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            process.wait(timeout=stop_timeout_s)


def row_counts(target: Engine) -> dict[str, int]:
    with target.connect() as db:
        return {
            table.name: db.execute(select(func.count()).select_from(table)).scalar_one()
            for table in tables.metadata.sorted_tables
        }


@contextmanager
def raw_cursor(target: Engine) -> Iterator[Any]:
    """A DBAPI cursor (psycopg2 for COPY, sqlite3 for executemany) in one transaction, committed on success."""
    raw = target.raw_connection()
    try:
        yield raw.cursor()
        raw.commit()
    finally:
        raw.close()


def copy_out(source: Engine) -> dict[str, bytes]:
    """Every view table's rows in COPY's text format."""
    dumps = {}
    with raw_cursor(source) as cursor:
        for table in tables.metadata.sorted_tables:
            buffer = io.BytesIO()
            cursor.copy_expert(f'COPY "{table.name}" TO STDOUT', buffer)
            dumps[table.name] = buffer.getvalue()
    return dumps


def copy_in(target: Engine, dumps: dict[str, bytes]) -> None:
    """COPY FROM STDIN of ``copy_out``'s rows, all tables in one transaction."""
    with raw_cursor(target) as cursor:
        for name, data in dumps.items():
            cursor.copy_expert(f'COPY "{name}" FROM STDIN', io.BytesIO(data))


def copy_seconds(source: Engine, target: Engine) -> float:
    """Seconds COPY takes to load ``source``'s view rows into ``target``'s empty tables."""
    dumps = copy_out(source)
    return timed(lambda: copy_in(target, dumps))[1]


def rows_out(source: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every view table's rows as the driver stores them (no type conversion on the way back in)."""
    with raw_cursor(source) as cursor:
        return {
            table.name: cursor.execute(f'SELECT * FROM "{table.name}"').fetchall()
            for table in tables.metadata.sorted_tables
        }


def executemany_in(target: Engine, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """One ``executemany`` INSERT per table, all tables in one transaction: SQLite's bulk path."""
    with raw_cursor(target) as cursor:
        cursor.execute("BEGIN")  # annolog's SQLite connections run in autocommit: one transaction, not one per row
        for name, values in rows.items():
            if values:
                marks = ", ".join("?" * len(values[0]))
                cursor.executemany(f'INSERT INTO "{name}" VALUES ({marks})', values)


def executemany_seconds(source: Engine, target: Engine) -> float:
    """Seconds ``executemany`` takes to load ``source``'s view rows into ``target``'s empty tables."""
    rows = rows_out(source)
    return timed(lambda: executemany_in(target, rows))[1]


# -- latency, memory ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> "Percentiles":
        if len(seconds) < 2:
            only = seconds[0] if seconds else float("nan")
            return cls(only, only, only, only)
        cuts = statistics.quantiles(seconds, n=100, method="inclusive")
        return cls(statistics.median(seconds), cuts[94], cuts[98], max(seconds))

    def __str__(self) -> str:
        return (
            f"p50 {self.p50 * 1e3:>7.1f}  p95 {self.p95 * 1e3:>7.1f}  p99 {self.p99 * 1e3:>7.1f}  "
            f"max {self.max * 1e3:>7.1f} ms"
        )


def peak_rss_bytes(pid: int | str = "self") -> int:
    """The peak resident set (VmHWM) of a live process, from /proc; 0 where there is no /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


# -- where the time goes -------------------------------------------------------------------------------

CATEGORIES: tuple[tuple[str, Callable[[str, str], bool]], ...] = (
    (
        "database: execute, COPY, commit (driver)",
        lambda path, name: any(d in name for d in ("psycopg2", "sqlite3")) or "/psycopg2/" in path,
    ),
    ("SQLAlchemy: statements, results", lambda path, name: "/sqlalchemy/" in path),
    ("Avro decode/encode", lambda path, name: "fastavro" in path or "fastavro" in name or "/eventlog/codec" in path),
    ("Kafka client", lambda path, name: "/kafka/" in path),
    ("validation (pydantic)", lambda path, name: "pydantic" in path or "pydantic" in name),
    ("judging: the rules (core)", lambda path, name: "/core/" in path),
    ("projector: load, overlay, rows, outcomes", lambda path, name: "/projections/" in path),
    ("annolog, other", lambda path, name: "/annolog/" in path or "/eventlog/" in path or "/api/" in path),
    ("hashing, uuid, json", lambda path, name: any(m in path or m in name for m in ("hashlib", "uuid", "json"))),
)


def _category(path: str, name: str) -> str:
    return next((label for label, matches in CATEGORIES if matches(path, name)), "other (stdlib, interpreter)")


def profiled(run: Callable[[], T], stats_path: Path) -> T:
    """``run()`` under cProfile; the stats go to ``stats_path`` (for snakeviz, pstats) and a summary is printed."""
    profile = cProfile.Profile()
    result = profile.runcall(run)
    profile.dump_stats(stats_path)
    print_profile(pstats.Stats(profile), stats_path)
    return result


def print_profile(stats: pstats.Stats, stats_path: Path) -> None:
    """Self time by where the code lives, so each line is time spent in that layer and nowhere else."""
    totals: dict[str, float] = {}
    for (path, _line, name), (_calls, _primitive, self_time, _cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        category = _category(path.replace("\\", "/"), name)
        totals[category] = totals.get(category, 0.0) + self_time
    whole = sum(totals.values()) or 1.0
    print(f"  where the time goes (self time by layer; stats in {stats_path}):")
    for category, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"    {category:<44} {seconds:>8.2f} s  {seconds / whole:>6.1%}")


@contextmanager
def fresh_bucket(endpoint: str) -> Iterator[str]:
    """A new bucket, emptied and deleted at the end."""
    s3 = boto3.client("s3", endpoint_url=endpoint)
    bucket = f"annolog-bench-{uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    try:
        yield bucket
    finally:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        s3.delete_bucket(Bucket=bucket)
