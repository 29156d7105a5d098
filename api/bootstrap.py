"""The composition root: builds the adapters the settings name, and nothing else does."""

from urllib.parse import urlsplit

from api.settings import Settings
from eventlog.kafka import KafkaLog
from eventlog.log import EventLog
from eventlog.sql import SqlLog, open_sqlite


def build_log(settings: Settings) -> EventLog:
    """Kafka when ``log_url`` is set, else the SqlLog in the embedded SQLite file."""
    if settings.log_url is None:
        return SqlLog(open_sqlite(settings.embedded_database))
    return KafkaLog(
        urlsplit(settings.log_url).netloc,
        topic=settings.kafka_topic,
        partitions=settings.kafka_partitions,
        replication_factor=settings.kafka_replication_factor,
    )
