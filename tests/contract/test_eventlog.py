"""One contract every EventLog keeps, run against SqlLog and against KafkaLog on a real broker."""

import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from kafka import KafkaAdminClient, KafkaProducer

from annolog.core import CommitTooLarge, LogMisconfigured, LogUnavailable, uuid7
from annolog.eventlog import sql
from annolog.eventlog.kafka import KafkaLog
from annolog.eventlog.log import BadRecord, EventLog, LogRecord
from annolog.eventlog.sql import SqlLog, open_sqlite
from tests.factories import file_commit

MakeLog = Callable[..., EventLog]
AppendRaw = Callable[[UUID, bytes], None]


class EventLogContract:
    """Subclasses provide ``make_log(**options)`` and ``append_raw(project_id, payload)``."""

    def test_commits_of_one_project_are_read_back_in_append_order(self, make_log: MakeLog) -> None:
        log = make_log()
        projects = [uuid4() for _ in range(3)]
        appended = [file_commit(projects[i % 3]) for i in range(12)]
        for commit in appended:
            log.append(commit)

        for project in projects:
            partition = log.partition_of(project)
            read = [r.commit for r in log.read(partition, 0) if r.commit.project_id == project]
            assert read == [c for c in appended if c.project_id == project]

    def test_append_returns_the_position_that_read_reports(self, make_log: MakeLog) -> None:
        log = make_log()
        project = uuid4()
        positions = [log.append(file_commit(project)) for _ in range(3)]

        records = list(log.read(log.partition_of(project), 0))
        assert [r.position for r in records] == positions
        assert all(p.partition == log.partition_of(project) for p in positions)
        assert positions == sorted(positions) and len(set(positions)) == 3

    def test_reading_from_a_middle_offset_returns_only_what_follows(self, make_log: MakeLog) -> None:
        log = make_log()
        project = uuid4()
        commits = [file_commit(project) for _ in range(5)]
        positions = log.append_many(commits)
        partition = log.partition_of(project)

        tail = list(log.read(partition, positions[2].offset))
        assert [r.commit for r in tail] == commits[2:]
        assert [r.commit for r in log.read(partition, positions[1].offset, limit=2)] == commits[1:3]

    def test_reading_from_the_end_yields_nothing_until_more_is_appended(self, make_log: MakeLog) -> None:
        log = make_log()
        project = uuid4()
        log.append(file_commit(project))
        partition = log.partition_of(project)
        end = log.end(partition)

        assert list(log.read(partition, end)) == []
        later = file_commit(project)
        position = log.append(later)
        assert position.offset >= end
        assert [r.commit for r in log.read(partition, end)] == [later]

    def test_append_many_keeps_the_order_it_was_given(self, make_log: MakeLog) -> None:
        log = make_log()
        project = uuid4()
        commits = [file_commit(project) for _ in range(50)]
        positions = log.append_many(commits)

        assert positions == sorted(positions)
        assert [r.commit for r in log.read(log.partition_of(project), positions[0].offset)] == commits

    def test_a_project_always_maps_to_the_same_partition(self, make_log: MakeLog) -> None:
        log = make_log()
        project = uuid4()
        assert 0 <= log.partition_of(project) < log.partitions
        assert {log.partition_of(project) for _ in range(5)} == {log.partition_of(project)}

    def test_a_large_commit_round_trips_intact(self, make_log: MakeLog) -> None:
        log = make_log()
        big = file_commit(uuid4(), instances=20_000)  # several MB, over Kafka's 1 MB default
        position = log.append(big)

        (record,) = log.read(position.partition, position.offset, limit=1)
        assert record.commit == big

    def test_a_commit_over_the_size_limit_is_refused_and_nothing_is_written(self, make_log: MakeLog) -> None:
        log = make_log(max_commit_bytes=50_000)
        project = uuid4()
        partition = log.partition_of(project)
        log.append(file_commit(project))
        end = log.end(partition)

        with pytest.raises(CommitTooLarge, match="over the log's limit of 50,000 bytes"):
            log.append_many([file_commit(project), file_commit(project, instances=5_000)])
        assert log.end(partition) == end

    def test_a_record_with_an_unknown_schema_is_read_as_a_bad_record_and_reading_goes_on(
        self, make_log: MakeLog, append_raw: AppendRaw
    ) -> None:
        log = make_log()
        project = uuid4()
        partition = log.partition_of(project)
        first = log.append(file_commit(project))
        append_raw(project, b"\xc3\x01" + bytes(8) + b"future")
        after = file_commit(project)
        last = log.append(after)

        good, bad, later = log.read(partition, first.offset)
        assert isinstance(good, LogRecord) and isinstance(later, LogRecord) and later.commit == after
        assert isinstance(bad, BadRecord) and first.offset < bad.position.offset < last.offset
        assert bad.payload == b"\xc3\x01" + bytes(8) + b"future" and "fingerprint 0000000000000000" in bad.reason

    def test_wait_returns_at_once_when_a_record_is_already_past_the_position(self, make_log: MakeLog) -> None:
        log = make_log()
        project = uuid4()
        position = log.append(file_commit(project))

        started = time.monotonic()
        assert log.wait({position.partition: position.offset}, timeout_s=30) == {position.partition}
        assert time.monotonic() - started < 5

    def test_wait_names_the_partitions_with_records_and_leaves_out_those_without(self, make_log: MakeLog) -> None:
        log = make_log()
        projects = {log.partition_of(p): p for p in (uuid4() for _ in range(64))}  # one per partition
        appended = [log.append(file_commit(project)) for project in list(projects.values())[:2]]
        waited = {p: log.end(p) for p in range(log.partitions)} | {a.partition: a.offset for a in appended}

        assert log.wait(waited, timeout_s=30) == {a.partition for a in appended}

    def test_wait_times_out_when_nothing_is_appended_past_the_position(self, make_log: MakeLog) -> None:
        log = make_log()
        project = uuid4()
        log.append(file_commit(project))
        partition = log.partition_of(project)

        started = time.monotonic()
        assert not log.wait({partition: log.end(partition)}, timeout_s=0.5)
        assert time.monotonic() - started >= 0.4

    def test_an_append_wakes_a_waiter_long_before_its_timeout(self, make_log: MakeLog) -> None:
        reader, writer = make_log(), make_log()
        project = uuid4()
        partition = reader.partition_of(project)
        appender = threading.Timer(0.3, lambda: writer.append(file_commit(project)))

        started = time.monotonic()
        appender.start()
        woke = reader.wait({p: reader.end(p) for p in range(reader.partitions)}, timeout_s=60)
        appender.join()
        assert woke == {partition} and time.monotonic() - started < 10
        assert len(list(reader.read(partition, 0))) == 1


class TestSqlLog(EventLogContract):
    @pytest.fixture
    def database(self, tmp_path: Path) -> Path:
        return tmp_path / "annolog.db"

    @pytest.fixture
    def make_log(self, database: Path) -> Iterator[MakeLog]:
        logs: list[SqlLog] = []

        def make(**options: Any) -> EventLog:
            logs.append(SqlLog(open_sqlite(database), **options))
            return logs[-1]

        yield make
        for log in logs:
            log.close()

    @pytest.fixture
    def append_raw(self, database: Path) -> AppendRaw:
        def append(project_id: UUID, payload: bytes) -> None:
            with sqlite3.connect(database) as db:
                db.execute(
                    "INSERT INTO log_records (project_id, commit_id, payload) VALUES (?, ?, ?)",
                    (project_id.hex, uuid7().hex, payload),
                )

        return append

    def test_a_locked_database_is_reported_unavailable_and_nothing_is_written(self, database: Path) -> None:
        log = SqlLog(open_sqlite(database, busy_timeout_s=0.2))
        project = uuid4()
        log.append(file_commit(project))
        holder = sqlite3.connect(database)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(LogUnavailable, match=f"append 2 commit.*{database.name}.*locked"):
                log.append_many([file_commit(project), file_commit(project)])
        finally:
            holder.rollback()
            holder.close()
        assert len(list(log.read(0, 0))) == 1

    def test_an_append_in_this_process_wakes_a_waiter_without_waiting_for_the_recheck(
        self, make_log: MakeLog, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(sql, "_RECHECK_S", 60.0)  # only the append's signal can wake it in time
        reader, writer = make_log(), make_log()
        appender = threading.Timer(0.3, lambda: writer.append(file_commit(uuid4())))

        started = time.monotonic()
        appender.start()
        woke = reader.wait({0: reader.end(0)}, timeout_s=60)
        appender.join()
        assert woke and time.monotonic() - started < 10

    def test_an_append_by_another_process_is_seen_by_the_recheck(
        self, make_log: MakeLog, append_raw: AppendRaw
    ) -> None:
        log = make_log()
        appender = threading.Timer(0.3, lambda: append_raw(uuid4(), b"written by another process"))

        started = time.monotonic()
        appender.start()
        woke = log.wait({0: log.end(0)}, timeout_s=60)
        appender.join()
        assert woke and time.monotonic() - started < 10

    def test_an_unopenable_database_is_reported_unavailable(self, tmp_path: Path) -> None:
        (tmp_path / "annolog.db").mkdir()  # a directory where the database file should be
        with pytest.raises(LogUnavailable, match="annolog.db"):
            SqlLog(open_sqlite(tmp_path / "annolog.db"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.kafka
class TestKafkaLog(EventLogContract):
    @pytest.fixture
    def topic(self, kafka_bootstrap: str) -> Iterator[str]:
        name = f"annolog-test-{uuid4().hex[:12]}"
        yield name
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            admin.delete_topics([name])
        finally:
            admin.close()

    @pytest.fixture
    def make_log(self, kafka_bootstrap: str, topic: str) -> Iterator[MakeLog]:
        logs: list[KafkaLog] = []

        def make(**options: Any) -> EventLog:
            logs.append(KafkaLog(kafka_bootstrap, topic=topic, partitions=3, **options))
            return logs[-1]

        yield make
        for log in logs:
            log.close()

    @pytest.fixture
    def append_raw(self, kafka_bootstrap: str, topic: str, make_log: MakeLog) -> AppendRaw:
        log = make_log()

        def append(project_id: UUID, payload: bytes) -> None:
            producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
            producer.send(topic, key=project_id.bytes, value=payload, partition=log.partition_of(project_id))
            producer.close()

        return append

    def test_an_unreachable_broker_is_reported_with_its_address_within_the_timeout(self) -> None:
        address = f"127.0.0.1:{_free_port()}"
        started = time.monotonic()
        with pytest.raises(LogUnavailable, match=address):
            KafkaLog(address, topic="annolog-nowhere", partitions=1, timeout_s=2)
        assert time.monotonic() - started < 10

    def test_an_existing_topic_with_another_partition_count_is_refused(
        self, make_log: MakeLog, kafka_bootstrap: str, topic: str
    ) -> None:
        make_log()  # creates the topic with 3 partitions
        with pytest.raises(LogMisconfigured, match="has 3 partitions but annolog is configured for 4"):
            KafkaLog(kafka_bootstrap, topic=topic, partitions=4)

    def test_a_compacted_topic_is_refused_because_compaction_erases_history(
        self, kafka_bootstrap: str, topic: str
    ) -> None:
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            admin.create_topics(
                {topic: {"num_partitions": 1, "replication_factor": 1, "configs": {"cleanup.policy": "compact"}}},
                wait_for_metadata=True,
            )
        finally:
            admin.close()
        with pytest.raises(LogMisconfigured, match="cleanup.policy=compact"):
            KafkaLog(kafka_bootstrap, topic=topic, partitions=1)
