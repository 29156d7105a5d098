"""The composition root: builds the adapters the settings name, and nothing else does."""

import logging
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from tenacity import Retrying, before_sleep_log, retry_if_exception_type, stop_after_delay, wait_exponential

from annolog.api.service import Service
from annolog.api.settings import Settings
from annolog.blobs.local import LocalBlobStore
from annolog.blobs.s3 import S3BlobStore
from annolog.blobs.store import BlobStore
from annolog.blobs.thumbnail_cache import ThumbnailCache
from annolog.core.errors import ConfigurationError, UnavailableError
from annolog.eventlog.kafka import KafkaLog
from annolog.eventlog.log import EventLog
from annolog.eventlog.sql import SqlLog, open_sqlite
from annolog.projections.database import create_schema, open_database
from annolog.projections.projector import Projector

log = logging.getLogger(__name__)

T = TypeVar("T")


def wait_until_up(build: Callable[[], T], *, wait_s: float) -> T:
    """``build()``, retried with back-off for up to ``wait_s`` while a backing service is unavailable.

    `annolog serve` and `annolog projector` start this way, so that they may start before
    Kafka and PostgreSQL (as `docker compose up` does) instead of exiting.
    """
    retrying = Retrying(
        retry=retry_if_exception_type(UnavailableError),
        stop=stop_after_delay(wait_s),
        wait=wait_exponential(multiplier=0.5, max=5),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
    return retrying(build)


def build_log(settings: Settings) -> EventLog:
    """Kafka when ``log_url`` is set, else the SqlLog in the embedded SQLite file."""
    if settings.log_url is None:
        return SqlLog(open_sqlite(settings.embedded_database))
    if settings.signing_keys is None:
        if not settings.log_unsigned:
            raise ConfigurationError(
                "ANNOLOG_LOG_SIGNING_KEYS is not set, and a Kafka log without it would project any record "
                f"written to topic {settings.kafka_topic!r} as a commit: set it to kid:secret (see README, the "
                "server stack), or ANNOLOG_LOG_UNSIGNED=true to run unsigned on purpose"
            )
        log.warning(
            "ANNOLOG_LOG_UNSIGNED is set: commits go to Kafka unsigned, and any record written to topic %r "
            "is projected as a commit",
            settings.kafka_topic,
        )
    return KafkaLog(
        urlsplit(settings.log_url).netloc,
        topic=settings.kafka_topic,
        partitions=settings.kafka_partitions,
        replication_factor=settings.kafka_replication_factor,
        signing=settings.signing_keys,
    )


def remote_blobs(settings: Settings) -> bool:
    """Whether ``build_blobs`` gives a store across the network (S3), whose reads are worth
    keeping in a disk cache: answered from the settings, without building a client."""
    return settings.blob_url is not None


def build_blobs(settings: Settings) -> BlobStore:
    """S3 when ``blob_url`` is set (``s3://bucket/prefix``: objects under ``prefix/``), else a
    directory under ``data_dir``. Nothing is created in S3 here: see ``S3BlobStore`` for why."""
    if settings.blob_url is None:
        return LocalBlobStore(settings.data_dir / "blobs")
    url = urlsplit(settings.blob_url)
    return S3BlobStore(url.netloc, prefix=url.path, endpoint_url=settings.s3_endpoint_url)


def build_service(settings: Settings, *, project_in_process: bool | None = None) -> Service:
    """The service over the settings' stack.

    The projector runs in this process by default only on the embedded default; on the
    server stack `annolog projector` runs it, unless ``project_in_process`` says otherwise.
    """
    log = build_log(settings)
    engine = open_database(settings.database_url, embedded=settings.embedded_database)
    create_schema(engine)
    in_process = settings.log_url is None if project_in_process is None else project_in_process
    return Service(
        log=log,
        engine=engine,
        blobs=build_blobs(settings),
        # On this machine's disk whatever the blob store: a hit costs neither a fetch nor a decode.
        thumbnails=ThumbnailCache(settings.data_dir / "thumbnails"),
        projector=Projector(engine, log) if in_process else None,
        settings=settings,
    )
