"""A record the projector cannot handle never stalls a partition.

Hostile records are appended straight to the log — the embedded SqlLog table, and a real
Kafka topic read by a real `annolog projector` — each followed by a valid commit that must
still be applied. Every hostile record is judged rejected where it stands, with its reason,
logged, counted, and judged the same way by a replay.
"""

import io
import json
import logging
import random
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID, uuid4

import fastavro
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer
from sqlalchemy import Row, func, select
from sqlalchemy.exc import OperationalError

import annolog
from annolog.api.bootstrap import build_service
from annolog.api.http import create_app
from annolog.api.service import Service
from annolog.api.settings import Settings, load_settings
from annolog.core import AnnologError, ChangeFileMetadata, DatabaseUnavailable, DefineLabel, JudgeFailed, uuid7
from annolog.core.commit import Commit
from annolog.core.events import LabelDefined
from annolog.core.rules import EVENTS, Change, Judging
from annolog.eventlog.codec import CommitCodec
from annolog.eventlog.log import Position
from annolog.projections.chain import verify
from annolog.projections.projector import stored_offset
from annolog.projections.replay import checksums, drop_database, fresh_database, replay
from annolog.projections.status import projection_status
from annolog.projections.tables import commits, rejected_records
from tests.stack import environment, run_cli, signature

CODEC = CommitCodec.default()


@dataclass(frozen=True)
class Hostile:
    """A record anyone who can reach the log could append, and what its rejection must say."""

    name: str
    payload: bytes | None
    reason: str  # a regular expression


def _avro_fields(commit: Commit) -> dict[str, Any]:
    """The Avro record the codec writes for ``commit``, to be altered before writing it back."""
    record: dict[str, Any] = fastavro.schemaless_reader(  # type: ignore[assignment]
        io.BytesIO(CODEC.encode(commit)[10:]), CODEC.schema, return_record_name=True
    )
    return record


def _avro(record: dict[str, Any]) -> bytes:
    """``record`` written as the codec writes commits: well-formed Avro of the current schema."""
    out = io.BytesIO(b"\xc3\x01" + CODEC.fingerprint)
    out.seek(0, io.SEEK_END)
    fastavro.schemaless_writer(out, CODEC.schema, record)
    return out.getvalue()


def hostile_records(project_id: UUID) -> list[Hostile]:
    """Records every log may hold: undecodable bytes, and Avro that is not a valid commit."""
    label = _avro_fields(DefineLabel(name="fine").commit(project_id=project_id, actor="ana"))
    (_, label_event) = label["events"][0]
    metadata = _avro_fields(
        ChangeFileMetadata(file_id=uuid7(), metadata={"weather": "rain"}).commit(project_id=project_id, actor="ana")
    )
    (branch, metadata_event) = metadata["events"][0]
    valid = _avro(label)
    no_events = _avro(label | {"events": []})
    return [
        Hostile("random bytes", random.Random(7).randbytes(300), "is not an Avro single-object record"),
        Hostile("an empty value", b"", "record of 0 bytes"),
        Hostile("an unknown schema", b"\xc3\x01" + bytes(8) + valid[10:], "fingerprint 0000000000000000"),
        Hostile("a truncated body", valid[:-3], "does not decode as a commit"),
        Hostile("a commit id that is no uuid", _avro(label | {"commit_id": "x"}), "does not decode.*UUID"),
        Hostile("a time past year 9999", _avro(label | {"time": 2**62}), "does not decode.*OverflowError"),
        # the events array holds one item whose union branch (99) the schema does not have
        Hostile("an unknown event branch", no_events[:-1] + b"\x02\xc6\x01\x00", "does not decode.*IndexError"),
        Hostile("no events", no_events, "not a valid commit.*at least 1 item"),
        Hostile("an empty actor", _avro(label | {"actor": ""}), "not a valid commit.*actor"),
        Hostile(
            "metadata that is not JSON",
            _avro(metadata | {"events": [(branch, metadata_event | {"metadata": "{oops"})]}),
            "not a valid commit.*Expecting property name",
        ),
        Hostile(
            "NUL in a label name",
            _avro(label | {"events": [("annolog.LabelDefined", label_event | {"name": "c\x00r"})]}),
            "not a valid commit.*U\\+0000",
        ),
        Hostile(
            "NUL in JSON metadata",
            _avro(metadata | {"events": [(branch, metadata_event | {"metadata": json.dumps({"k": "a\x00"})})]}),
            "not a valid commit.*metadata",
        ),
    ]


class Stack(Protocol):
    service: Service

    def append_raw(self, project_id: UUID, payload: bytes | None, *, partition: int | None = None) -> Position: ...

    def logged(self) -> str: ...


class EmbeddedStack:
    """The embedded default: hostile rows inserted into the SqlLog table, the projector in process."""

    def __init__(self, data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
        self.service = build_service(load_settings(data_dir=data_dir))
        self._database = data_dir / "annolog.db"
        self._caplog = caplog

    def append_raw(self, project_id: UUID, payload: bytes | None, *, partition: int | None = None) -> Position:
        with sqlite3.connect(self._database) as db:
            cursor = db.execute(
                "INSERT INTO log_records (project_id, commit_id, payload) VALUES (?, ?, ?)",
                (project_id.hex, uuid4().hex, payload),
            )
        assert cursor.lastrowid is not None
        return Position(0, cursor.lastrowid)

    def logged(self) -> str:
        return self._caplog.text

    def close(self) -> None:
        self.service.close()


class KafkaStack:
    """Kafka + PostgreSQL: hostile records produced with kafka-python, a real `annolog projector`."""

    def __init__(self, settings: Settings, data_dir: Path) -> None:
        self.service = build_service(settings)  # writes wait for the projector process
        self._settings = settings
        self._log_file = data_dir / "projector.log"
        with self._log_file.open("wb") as stderr:
            self.projector = subprocess.Popen(
                [sys.executable, "-m", "annolog", "projector"], env=environment(settings), stderr=stderr
            )
        assert settings.log_url is not None
        self._producer = KafkaProducer(bootstrap_servers=settings.log_url.removeprefix("kafka://"))

    def append_raw(self, project_id: UUID, payload: bytes | None, *, partition: int | None = None) -> Position:
        home = self.service.log.partition_of(project_id)
        sent = self._producer.send(
            self._settings.kafka_topic,
            key=project_id.bytes,
            value=payload,
            partition=home if partition is None else partition,
            headers=signature(self._settings, project_id.bytes, payload),  # hostile, yet signed: past the check
        )
        metadata = sent.get(timeout=10)
        return Position(metadata.partition, metadata.offset)

    def logged(self) -> str:
        return self._log_file.read_text()

    def close(self) -> None:
        self._producer.close()
        self.projector.terminate()
        self.projector.wait(timeout=30)
        self.service.close()


@pytest.fixture
def embedded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[EmbeddedStack]:
    stack = EmbeddedStack(tmp_path, caplog)
    yield stack
    stack.close()


@pytest.fixture
def kafka(server_settings: Settings, tmp_path: Path) -> Iterator[KafkaStack]:
    stack = KafkaStack(server_settings, tmp_path)
    yield stack
    stack.close()


@pytest.fixture(
    params=["embedded", pytest.param("kafka", marks=[pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3])]
)
def stack(request: pytest.FixtureRequest) -> Stack:
    found: Stack = request.getfixturevalue(request.param)
    return found


def _project(service: Service) -> annolog.Project:
    return annolog.Client(service, actor="ana").create_project(f"hostile-{uuid4().hex[:6]}")


def _rejected(service: Service) -> list[Row[Any]]:
    with service.engine.connect() as db:
        return list(db.execute(select(rejected_records).order_by(rejected_records.c.offset)))


def _append_each_then_a_valid_commit(stack: Stack, project: annolog.Project) -> list[tuple[Position, Hostile]]:
    appended = []
    for i, hostile in enumerate(hostile_records(project.id)):
        appended.append((stack.append_raw(project.id, hostile.payload), hostile))
        project.execute([DefineLabel(name=f"after-{i}")])
    return appended


def test_each_hostile_record_is_rejected_where_it_stands_and_the_commit_after_it_is_applied(stack: Stack) -> None:
    project = _project(stack.service)

    appended = _append_each_then_a_valid_commit(stack, project)

    assert project.labels == sorted(f"after-{i}" for i in range(len(appended)))
    rejected = _rejected(stack.service)
    assert [(r.partition, r.offset) for r in rejected] == [(p.partition, p.offset) for p, _ in appended]
    for row, (_, hostile) in zip(rejected, appended):
        assert re.search(hostile.reason, row.reason), f"{hostile.name}: {row.reason}"
        assert row.size == len(hostile.payload or b"")
    logged = stack.logged()
    for position, _ in appended:
        assert f"partition {position.partition}, offset {position.offset} is not a valid commit" in logged


def test_a_replay_judges_the_hostile_records_the_same_and_makes_the_same_rows(stack: Stack) -> None:
    project = _project(stack.service)
    appended = _append_each_then_a_valid_commit(stack, project)

    target = fresh_database(stack.service.engine)
    try:
        replay(stack.service.log, target)
        assert checksums(target) == checksums(stack.service.engine)
    finally:
        drop_database(target)
    found = verify(stack.service.engine, stack.service.log)
    assert found.first_break is None and found.checked == project.version
    assert [(r.partition, r.offset) for r in found.bad_records] == [(p.partition, p.offset) for p, _ in appended]
    assert projection_status(stack.service.engine, stack.service.log).rejected_records == len(appended)


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.s3
def test_a_kafka_record_without_a_value_or_in_another_projects_partition_is_rejected(kafka: KafkaStack) -> None:
    project = _project(kafka.service)
    home = kafka.service.log.partition_of(project.id)
    elsewhere = (home + 1) % kafka.service.log.partitions
    misplaced = DefineLabel(name="misplaced").commit(project_id=project.id, actor="ana")

    tombstone = kafka.append_raw(project.id, None)
    project.execute([DefineLabel(name="after-tombstone")])
    wrong = kafka.append_raw(project.id, CODEC.encode(misplaced), partition=elsewhere)
    project.execute([DefineLabel(name="after-misplaced")])
    kafka.service.watch(lambda: _projected(kafka.service, elsewhere) > wrong.offset, 30)

    assert project.labels == ["after-misplaced", "after-tombstone"]
    reasons = {(r.partition, r.offset): r.reason for r in _rejected(kafka.service)}
    assert reasons[(tombstone.partition, tombstone.offset)].startswith("record of 0 bytes")
    assert (
        f"is in partition {elsewhere}, but that project's commits are in partition {home}"
        in reasons[(wrong.partition, wrong.offset)]
    )
    assert kafka.projector.poll() is None, "the projector must still be running"


def _projected(service: Service, partition: int) -> int:
    with service.engine.connect() as db:
        return stored_offset(db, partition)


def test_a_commit_the_judge_fails_on_is_rejected_with_its_traceback_logged_and_the_log_goes_on(
    embedded: EmbeddedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(embedded.service)
    real = EVENTS["LabelDefined"]

    def rule_with_a_bug(judging: Judging, event: LabelDefined) -> list[Change]:
        if event.name == "explodes":
            raise KeyError("a rule's bug")
        return real.rule(judging, event)

    monkeypatch.setitem(EVENTS, "LabelDefined", replace(real, rule=rule_with_a_bug))

    with pytest.raises(AnnologError, match=r"the judge failed on this commit \(KeyError: \"a rule's bug\"\)"):
        project.execute([DefineLabel(name="explodes")])
    project.execute([DefineLabel(name="car")])

    assert project.labels == ["car"]
    with embedded.service.engine.connect() as db:
        errors = db.execute(select(commits.c.error).where(commits.c.accepted.is_(False))).scalars().all()
    assert errors == [JudgeFailed.__name__]
    (failure,) = [r for r in embedded._caplog.records if r.levelno == logging.ERROR]
    assert failure.exc_info is not None and "the judge failed on commit" in failure.getMessage()


def test_a_database_outage_while_judging_is_not_a_rejection_and_the_commit_is_judged_once_it_is_back(
    embedded: EmbeddedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(embedded.service)
    real = EVENTS["LabelDefined"]

    def rule_during_an_outage(judging: Judging, event: LabelDefined) -> list[Change]:
        raise OperationalError("SELECT FROM labels ...", {}, Exception("database is locked"))

    monkeypatch.setitem(EVENTS, "LabelDefined", replace(real, rule=rule_during_an_outage))
    with pytest.raises(DatabaseUnavailable, match="database is locked"):
        project.execute([DefineLabel(name="during-outage")])
    with embedded.service.engine.connect() as db:
        judged = select(func.count()).select_from(commits).where(commits.c.command == "DefineLabel")
        assert db.execute(judged).scalar_one() == 0

    monkeypatch.setitem(EVENTS, "LabelDefined", real)
    project.execute([DefineLabel(name="after-outage")])

    assert project.labels == ["after-outage", "during-outage"]
    assert _rejected(embedded.service) == []


def test_status_verify_and_replay_report_the_bad_records_and_go_on(embedded: EmbeddedStack, tmp_path: Path) -> None:
    project = _project(embedded.service)
    bad = [embedded.append_raw(project.id, b"junk"), embedded.append_raw(project.id, b"")]
    project.execute([DefineLabel(name="car")])
    embedded.close()

    status = _cli_json(tmp_path, "status")
    assert status["rejected_records"] == 2 and status["partitions"][0]["rejected_records"] == 2
    assert status["partitions"][0]["projected"] == status["partitions"][0]["end"]
    assert [r["offset"] for r in status["latest_rejected"]] == [bad[1].offset, bad[0].offset]
    verified = _cli_json(tmp_path, "verify")
    assert verified["intact"] is True and [r["offset"] for r in verified["bad_records"]] == [p.offset for p in bad]
    replayed = run_cli(tmp_path, "replay")
    assert replayed.returncode == 0, replayed.stderr
    assert "2 log record(s) are not commits" in replayed.stdout and "DIFFERENT" not in replayed.stdout
    assert "2 log record(s) rejected as not being commits" in run_cli(tmp_path, "status").stdout


def test_ready_counts_the_rejected_records_and_stays_ready(embedded: EmbeddedStack) -> None:
    project = _project(embedded.service)
    embedded.append_raw(project.id, b"junk")
    project.execute([DefineLabel(name="car")])

    response = TestClient(create_app(embedded.service)).get("/ready")

    assert response.status_code == 200
    assert response.json()["status"] == "ready" and response.json()["rejected_records"] == 1


def _cli_json(data_dir: Path, *args: str) -> Any:
    result = run_cli(data_dir, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
