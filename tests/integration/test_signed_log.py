"""On the server stack the log is authenticated: records written to the Kafka topic around
`annolog serve` (unsigned, forged, altered) are rejected where they stand, and the service's
own signed commits are applied."""

from collections.abc import Iterator
from uuid import uuid4

import pytest
from kafka import KafkaProducer
from sqlalchemy import select

import annolog
from annolog.api.bootstrap import build_service
from annolog.api.service import Service
from annolog.api.settings import Settings
from annolog.core.commands import CreateDirectory
from annolog.core.commit import Commit
from annolog.eventlog.codec import CommitCodec
from annolog.eventlog.signing import HEADER, SigningKeys
from annolog.projections.tables import commits, rejected_records

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]


@pytest.fixture
def service(server_settings: Settings) -> Iterator[Service]:
    service = build_service(server_settings, project_in_process=True)
    yield service
    service.close()


def _forged_commit(project_id: object, name: str) -> Commit:
    """A well-formed commit, as good as the service's except for who wrote it to the topic."""
    command = CreateDirectory(name=name)
    return Commit(
        commit_id=uuid4(), project_id=project_id, actor="alice", command="CreateDirectory", events=command.events()
    )


def test_records_written_around_the_service_are_rejected_while_its_own_commits_are_applied(
    server_settings: Settings, service: Service
) -> None:
    keys = server_settings.signing_keys
    assert keys is not None and server_settings.log_url is not None
    project = annolog.Client(service, actor="alice").create_project(f"signed-{uuid4().hex[:6]}")
    codec, key = CommitCodec.default(), project.id.bytes
    forged = {name: _forged_commit(project.id, name) for name in ("unsigned", "other-secret", "unknown-kid", "altered")}
    values = {name: codec.encode(commit) for name, commit in forged.items()}
    stranger = SigningKeys.parse(f"{keys.signing_id}:{'x' * 32}")
    headers = {
        "unsigned": [],
        "other-secret": [(HEADER, stranger.sign(key, values["other-secret"]))],
        "unknown-kid": [(HEADER, SigningKeys.parse(f"nobody:{'y' * 32}").sign(key, values["unknown-kid"]))],
        "altered": [(HEADER, keys.sign(key, codec.encode(_forged_commit(project.id, "the-signed-one"))))],
    }
    producer = KafkaProducer(bootstrap_servers=server_settings.log_url.removeprefix("kafka://"))
    for name, value in values.items():
        partition = service.log.partition_of(project.id)
        producer.send(server_settings.kafka_topic, key=key, value=value, headers=headers[name], partition=partition)
    producer.flush()
    producer.close()

    legit = project.directory.new("legit")  # appended after the forgeries, projected past them

    assert [d.name for d in project.directory.list()] == ["legit"] and legit.id
    with service.engine.connect() as db:
        judged = set(db.execute(select(commits.c.commit_id).where(commits.c.project_id == project.id)).scalars())
        reasons = list(db.execute(select(rejected_records.c.reason).order_by(rejected_records.c.offset)).scalars())
    assert not judged & {commit.commit_id for commit in forged.values()}
    assert len(reasons) == 4
    assert "unsigned" in reasons[0]
    assert "does not match" in reasons[1] and "does not match" in reasons[3]
    assert "key id 'nobody'" in reasons[2]
