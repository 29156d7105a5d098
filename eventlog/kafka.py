"""KafkaLog: the event log of the server stack, one Kafka topic keyed by project.

The topic is created with a fixed partition count (a project's partition must never
change, or its order would break), infinite retention and ``cleanup.policy=delete``:
compaction would keep one record per key, i.e. erase every project's history. An
existing topic that contradicts this is refused with ``LogMisconfigured``.

Appends use an idempotent producer with ``acks=all``, so a broker-side retry cannot
duplicate or reorder a project's commits. Reads ``assign()`` one partition and ``seek()``
to an offset the caller stored (the projector keeps its offsets in its database), so
there are no consumer groups and no offsets committed to Kafka.

With ``SigningKeys`` every appended record carries an HMAC of its key and value, and a
record read without a valid one is yielded as a ``BadRecord``: writing to the topic
around ``annolog serve`` (see ``eventlog.signing``) cannot put a commit in the views.

Outages heal: a producer whose append failed is replaced by a new one on the next
append (see ``_discard``), and the reader reconnects by itself.

An idle reader ``wait``s with a long-poll: a second consumer, the watcher, fetches from
the offsets it is given and the broker holds each fetch until a record arrives (or
``fetch_max_wait_ms``), so an append is seen within a round trip and an idle wait costs
a couple of requests a second. The watcher is not the reader, because kafka-python sends
one fetch at a time per broker: a long-poll parked by the reader would hold up its next
``read`` for that long.
"""

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError, MessageSizeTooLargeError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from annolog.core.commit import Commit
from annolog.core.errors import CommitTooLarge, LogMisconfigured, LogUnavailable
from annolog.eventlog.codec import CommitCodec
from annolog.eventlog.log import DEFAULT_MAX_COMMIT_BYTES, BadRecord, Position, Record, check_size, decode_record
from annolog.eventlog.signing import HEADER, SigningKeys

log = logging.getLogger(__name__)

_RECORD_OVERHEAD = 64 * 1024  # key, headers and batch framing on top of the encoded commit
_CHECK_TIMEOUT_MS = 2000  # a readiness probe must answer quickly, broker down or not
_WATCH_FETCH_BYTES = 64 * 1024  # the watcher only learns that records exist; the reader fetches them


class KafkaLog:
    """The ``EventLog`` on Apache Kafka (see ``eventlog.log.EventLog``).

    Appending and ``check`` are thread-safe; reading and waiting are not (one reader per
    ``KafkaLog``, as in the projector, which reads one partition at a time).

    >>> log = KafkaLog("127.0.0.1:9092", topic="annolog.commits", partitions=12)  # doctest: +SKIP
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topic: str,
        partitions: int,
        replication_factor: int = 1,
        max_commit_bytes: int = DEFAULT_MAX_COMMIT_BYTES,
        timeout_s: float = 10.0,
        codec: CommitCodec | None = None,
        signing: SigningKeys | None = None,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._partitions = partitions
        self._max_commit_bytes = max_commit_bytes
        self._timeout_s = timeout_s
        self._codec = codec or CommitCodec.default()
        self._signing = signing
        self._consumer: KafkaConsumer | None = None
        self._watcher: KafkaConsumer | None = None
        self._reader_lock = threading.Lock()  # for concurrent ``check`` calls
        self._producer_lock = threading.Lock()
        with self._errors_mapped("connect"):
            self._ensure_topic(replication_factor)
            self._producer: KafkaProducer | None = self._new_producer()

    @property
    def partitions(self) -> int:
        return self._partitions

    def partition_of(self, project_id: UUID) -> int:
        # Kafka's own default partitioner (murmur2 of the key), so Java clients that key
        # by project id agree with us on where a project lives.
        return int(murmur2(project_id.bytes) & 0x7FFFFFFF) % self._partitions

    def append(self, commit: Commit) -> Position:
        return self.append_many([commit])[0]

    def append_many(self, commits: Sequence[Commit]) -> list[Position]:
        """Send every commit, then wait for each acknowledgement.

        A commit whose wait fails raises; the commits before it are in the log. Appends
        that time out may still land: retry with the same ``commit_id`` and the
        projector applies it once.
        """
        payloads = [self._encode(commit) for commit in commits]
        producer = self._writer()
        try:
            with self._errors_mapped(f"append {len(commits)} commit(s)"):
                futures = [
                    producer.send(
                        self._topic,
                        key=commit.project_id.bytes,
                        value=payload,
                        partition=self.partition_of(commit.project_id),
                        headers=self._signature(commit.project_id.bytes, payload),
                    )
                    for commit, payload in zip(commits, payloads)
                ]
                acks = [future.get(timeout=self._timeout_s) for future in futures]
        except LogUnavailable:
            self._discard(producer)
            raise
        return [Position(ack.partition, ack.offset) for ack in acks]

    def read(self, partition: int, start: int, *, limit: int | None = None) -> Iterator[Record]:
        stop = self.end(partition)
        if limit is not None:
            stop = min(stop, start + limit)  # offsets are dense on our non-transactional topic
        if start >= stop:
            return
        consumer, tp = self._reader(), TopicPartition(self._topic, partition)
        with self._errors_mapped(f"read partition {partition} from offset {start}"):
            consumer.assign([tp])
            consumer.seek(tp, start)
            while consumer.position(tp) < stop:
                batches = consumer.poll(timeout_ms=int(self._timeout_s * 1000))
                if not batches:
                    raise LogUnavailable(
                        f"Kafka at {self._bootstrap} returned nothing for {self._topic}[{partition}] "
                        f"at offset {consumer.position(tp)} within {self._timeout_s}s; "
                        f"the records up to offset {stop} should be there"
                    )
                for record in batches.get(tp, []):
                    if record.offset >= stop:
                        return
                    yield self._judged(Position(partition, record.offset), record)

    def end(self, partition: int) -> int:
        tp = TopicPartition(self._topic, partition)
        with self._errors_mapped(f"find the end of partition {partition}"):
            offsets = self._reader().end_offsets([tp], timeout_ms=int(self._timeout_s * 1000))
        return int(offsets[tp])

    def wait(self, positions: Mapping[int, int], timeout_s: float) -> frozenset[int]:
        """See ``EventLog.wait``: the end offsets first (records already there), then a long-poll."""
        if not positions:
            time.sleep(timeout_s)
            return frozenset()
        offsets = {TopicPartition(self._topic, p): offset for p, offset in positions.items()}
        with self._errors_mapped(f"wait for records in partitions {sorted(positions)}"):
            ends = self._reader().end_offsets(list(offsets), timeout_ms=int(self._timeout_s * 1000))
            if ready := frozenset(tp.partition for tp, offset in offsets.items() if ends[tp] > offset):
                return ready
            watcher = self._watching()
            watcher.assign(list(offsets))
            for tp, offset in offsets.items():
                watcher.seek(tp, offset)
            return frozenset(tp.partition for tp in watcher.poll(timeout_ms=int(timeout_s * 1000), max_records=1))

    def check(self) -> None:
        """Raise ``LogUnavailable`` unless the partitions' leaders answer within 2 s and a
        producer that has not failed since it connected is ready to append."""
        partitions = [TopicPartition(self._topic, p) for p in range(self._partitions)]
        with self._reader_lock, self._errors_mapped("ask the partitions' leaders for their end offsets"):
            self._reader().end_offsets(partitions, timeout_ms=_CHECK_TIMEOUT_MS)
        self._writer()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self._timeout_s)
        for consumer in (self._consumer, self._watcher):
            if consumer is not None:
                consumer.close()

    def _new_producer(self) -> KafkaProducer:
        return KafkaProducer(
            **self._connection_options(),
            client_id="annolog-log",
            acks="all",
            enable_idempotence=True,
            linger_ms=0,  # appends are waited on one by one; append_many pipelines anyway
            max_request_size=self._max_commit_bytes + _RECORD_OVERHEAD,
            max_block_ms=int(self._timeout_s * 1000),
            delivery_timeout_ms=int(self._timeout_s * 1000) + 1000,
        )

    def _writer(self) -> KafkaProducer:
        """The producer, or a new one when the last one failed.

        Connecting happens outside the lock, so that appends during an outage each fail
        within ``timeout_s`` instead of queueing behind one another's attempts.
        """
        current = self._producer
        if current is not None:
            return current
        with self._errors_mapped("connect a producer"):
            fresh = self._new_producer()
        with self._producer_lock:
            if self._producer is None:
                self._producer, current = fresh, fresh
            else:
                current = self._producer
        if current is not fresh:  # another append connected first
            fresh.close(timeout=0)
        return current

    def _discard(self, producer: KafkaProducer) -> None:
        """Stop using a producer whose append failed; the next append connects a new one.

        kafka-python 3.0's idempotent producer never sends again once a batch expired
        while being retried (as in any broker outage under load): it resets its producer
        id and never asks for a new one. A new producer gets a new id, so after every
        failure the producer is replaced. Its pending records fail with it; their appends
        raise, and a retry with the same ``commit_id`` is applied once.
        """
        with self._producer_lock:
            replaced_already = self._producer is not producer  # by another failed append
            if not replaced_already:
                self._producer = None
        if replaced_already:
            return
        log.warning("Kafka producer for %r failed; the next append connects a new one", self._topic)
        try:
            producer.close(timeout=0)
        except KafkaError:
            # close() flushes first and, with records it will never send, raises before it
            # stops the producer's I/O thread; stop that thread here so it does not leak.
            producer._sender.force_close()

    def _signature(self, key: bytes, payload: bytes) -> list[tuple[str, bytes]] | None:
        return None if self._signing is None else [(HEADER, self._signing.sign(key, payload))]

    def _judged(self, position: Position, record: Any) -> Record:
        """The record as a commit, or why it is not one; never raises, whatever its writer sent."""
        try:
            forged = self._forgery(record)
        except Exception as exc:  # hostile headers must reject their record, not stop the partition
            forged = f"the record's headers cannot be read ({type(exc).__name__}: {exc})"
        if forged is not None:
            return BadRecord(position, record.value or b"", forged)
        return decode_record(self._codec, position, record.value, partition_of=self.partition_of)

    def _forgery(self, record: Any) -> str | None:
        """Why a consumed record is not signed by us, or None (always None when unsigned)."""
        if self._signing is None:
            return None
        return self._signing.verify(record.key or b"", record.value or b"", record.headers or [])

    def _connection_options(self) -> dict[str, Any]:
        """Bound every wait by ``timeout_s``: a down broker must fail fast, not back off for 30s."""
        timeout_ms = int(self._timeout_s * 1000)
        return {
            "bootstrap_servers": self._bootstrap,
            "bootstrap_timeout_ms": timeout_ms,
            "request_timeout_ms": timeout_ms,
            "reconnect_backoff_max_ms": min(timeout_ms, 1000),
        }

    def _encode(self, commit: Commit) -> bytes:
        payload = self._codec.encode(commit)
        check_size(payload, commit, self._max_commit_bytes)
        return payload

    def _reader(self) -> KafkaConsumer:
        if self._consumer is None:
            with self._errors_mapped("open a reader"):
                self._consumer = KafkaConsumer(
                    **self._connection_options(),
                    client_id="annolog-log-reader",
                    group_id=None,
                    enable_auto_commit=False,
                    auto_offset_reset="none",  # a bad offset is an error, never a silent rewind
                    max_partition_fetch_bytes=self._max_commit_bytes + _RECORD_OVERHEAD,
                    fetch_max_bytes=max(52428800, self._max_commit_bytes + _RECORD_OVERHEAD),
                )
        return self._consumer

    def _watching(self) -> KafkaConsumer:
        if self._watcher is None:
            self._watcher = KafkaConsumer(
                **self._connection_options(),
                client_id="annolog-log-watcher",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="none",
                fetch_max_wait_ms=500,  # the broker holds an empty fetch this long: two requests a second
                max_partition_fetch_bytes=_WATCH_FETCH_BYTES,  # a larger first record still comes whole
                fetch_max_bytes=_WATCH_FETCH_BYTES,
            )
        return self._watcher

    def _ensure_topic(self, replication_factor: int) -> None:
        admin = KafkaAdminClient(**self._connection_options(), client_id="annolog-admin")
        try:
            admin.create_topics(
                {
                    self._topic: {
                        "num_partitions": self._partitions,
                        "replication_factor": replication_factor,
                        "configs": self._topic_configs(),
                    }
                },
                wait_for_metadata=True,
            )
        except TopicAlreadyExistsError:
            self._check_existing_topic(admin)
        finally:
            admin.close()

    def _topic_configs(self) -> dict[str, str]:
        return {
            "cleanup.policy": "delete",
            "retention.ms": "-1",
            "retention.bytes": "-1",
            "max.message.bytes": str(self._max_commit_bytes + _RECORD_OVERHEAD),
        }

    def _check_existing_topic(self, admin: KafkaAdminClient) -> None:
        (described,) = admin.describe_topics([self._topic])
        found = len(described["partitions"])
        if found != self._partitions:
            raise LogMisconfigured(
                f"Kafka topic {self._topic!r} has {found} partitions but annolog is configured "
                f"for {self._partitions}; a project's partition must never change, so use "
                f"partitions={found} or a new topic"
            )
        configs = self._topic_config_values(admin)
        if "compact" in configs.get("cleanup.policy", ""):
            raise LogMisconfigured(
                f"Kafka topic {self._topic!r} has cleanup.policy={configs['cleanup.policy']}; "
                "compaction erases history, annolog needs cleanup.policy=delete"
            )
        if configs.get("retention.ms") != "-1":
            raise LogMisconfigured(
                f"Kafka topic {self._topic!r} has retention.ms={configs.get('retention.ms')}; "
                "old commits would be deleted, annolog needs retention.ms=-1"
            )

    def _topic_config_values(self, admin: KafkaAdminClient) -> dict[str, str]:
        resource = ConfigResource(ConfigResourceType.TOPIC, self._topic)
        described = admin.describe_configs([resource], config_filter="all")
        (by_name,) = described.values()
        return {key: str(entry["value"]) for key, entry in by_name[self._topic].items()}

    @contextmanager
    def _errors_mapped(self, action: str) -> Iterator[None]:
        """Kafka's errors become ours, naming the broker, the topic and what was tried."""
        try:
            yield
        except MessageSizeTooLargeError as exc:
            raise CommitTooLarge(f"Kafka topic {self._topic!r} refused a record as too large: {exc}") from exc
        except KafkaError as exc:
            raise LogUnavailable(
                f"could not {action} on Kafka at {self._bootstrap} (topic {self._topic!r}): {exc}"
            ) from exc
