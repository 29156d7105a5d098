"""The real server stack for tests: an isolated Kafka topic, PostgreSQL schema and S3 bucket,
and `annolog serve` + `annolog projector` running as real processes over them."""

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import boto3
import httpx
from kafka import KafkaAdminClient
from sqlalchemy import create_engine, text

from annolog.api.settings import Settings, load_settings
from annolog.eventlog.signing import HEADER

AWS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def isolated_stack(kafka_bootstrap: str, database_url: str, s3_endpoint: str, data_dir: Path) -> Iterator[Settings]:
    """Settings over a fresh topic, schema and bucket, all removed afterwards; commits are signed."""
    os.environ.update({k: os.environ.get(k, v) for k, v in AWS.items()})
    suffix = uuid4().hex[:10]
    schema, topic, bucket = f"annolog_test_{suffix}", f"annolog-test-{suffix}", f"annolog-test-{suffix}"
    admin = create_engine(database_url, pool_pre_ping=True)  # the database may have restarted meanwhile
    with admin.begin() as db:
        db.execute(text(f'CREATE SCHEMA "{schema}"'))
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    try:
        yield load_settings(
            data_dir=data_dir,
            log_url=f"kafka://{kafka_bootstrap}",
            kafka_topic=topic,
            kafka_partitions=3,
            log_signing_keys=f"test:{secrets.token_hex(16)}",
            database_url=f"{database_url}?options=-csearch_path%3D{schema}",
            blob_url=f"s3://{bucket}/blobs",
            s3_endpoint_url=s3_endpoint,
        )
    finally:
        with admin.begin() as db:
            db.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        kafka_admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        kafka_admin.delete_topics([topic])
        kafka_admin.close()


def signature(settings: Settings, key: bytes, value: bytes | None) -> list[tuple[str, bytes]]:
    """The header `annolog serve` puts on a record: for tests that write the topic directly
    and mean to test what lies past the signature check."""
    keys = settings.signing_keys
    return [] if keys is None else [(HEADER, keys.sign(key, value or b""))]


def environment(settings: Settings) -> dict[str, str]:
    """The process environment that makes ``load_settings()`` return ``settings``."""
    return {**os.environ, **AWS, **settings.environment()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_api(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    """`annolog serve` on ``port``, ready (GET /ready is 200) when this returns.

    Its stderr goes to ``api-<port>.log`` in the data dir (a pipe nobody reads would
    block the server once full).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log = settings.data_dir / f"api-{port}.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "annolog", "serve", "--port", str(port)],
            env=environment(settings),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"annolog serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("annolog serve was not ready within 60 s")


@contextmanager
def running_server(settings: Settings) -> Iterator[str]:
    """The API and a projector as real processes; yields the API's base URL.

    The projector starts once the API is ready: two processes creating a fresh schema at
    once can collide on PostgreSQL's catalog.
    """
    port = free_port()
    api = start_api(settings, port)
    projector = subprocess.Popen([sys.executable, "-m", "annolog", "projector"], env=environment(settings))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for process in (api, projector):
            process.terminate()
        for process in (api, projector):
            process.wait(timeout=30)


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m annolog ARGS`` on the embedded default in ``data_dir``, as a user runs it:
    no other ANNOLOG_* setting of the test's own environment leaks in."""
    return subprocess.run(
        [sys.executable, "-m", "annolog", *args],
        capture_output=True,
        text=True,
        env={"ANNOLOG_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
