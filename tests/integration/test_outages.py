"""Outages heal by themselves: Kafka and PostgreSQL are stopped and started again under write
load, and the same `annolog serve` and `annolog projector` processes take writes again.

While a service is down each write succeeds or fails with a clear 503 (never a hang or a
dropped connection) and /ready names what is down; after the restart writes succeed again
within a bounded time; and once the failed writes are retried with their commit ids, every
commit is in the views exactly once. The Kafka and PostgreSQL stopped here are this test's
own (other ports, another state dir), so other tests on the shared services go on undisturbed.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import create_engine, select

from annolog.api.settings import Settings
from annolog.api.tokens import Tokens
from annolog.api.wire import CommandEnvelope
from annolog.core import CreateDirectory
from annolog.projections.tables import commits
from tests.stack import environment, free_port, isolated_stack, start_api

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]

SCRIPTS = Path(__file__).parents[2] / "scripts"
DOWN_S = 12.0
"""How long each service stays down: long enough for writes to fail against it, and longer than
the log's 10 s request timeout, so a call the idle projector makes during the outage fails (and
is warned about) instead of waiting it out (at 6 s the warning came or not by timing)."""
RECOVERY_S = 45.0
"""How long after a service is back writes may take to succeed again."""
WRITERS = 3


class PrivateServices:
    """A PostgreSQL and a Kafka of this module's own, started and stopped with scripts/."""

    def __init__(self, state_dir: Path) -> None:
        self.pg_port, self.kafka_port = free_port(), free_port()
        self._env = {
            **os.environ,
            "ANNOLOG_SERVICES_DIR": str(state_dir),
            "ANNOLOG_PG_PORT": str(self.pg_port),
            "ANNOLOG_KAFKA_PORT": str(self.kafka_port),
            "ANNOLOG_KAFKA_CONTROLLER_PORT": str(free_port()),
        }

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg2://annolog:annolog@127.0.0.1:{self.pg_port}/annolog_test"

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def start(self, service: str) -> None:
        subprocess.run([SCRIPTS / f"{service}.sh", "start"], env=self._env, check=True, timeout=180)

    def stop(self, service: str) -> None:
        subprocess.run([SCRIPTS / f"{service}.sh", "stop"], env=self._env, check=True, timeout=90)


@dataclass
class Attempt:
    """One POST of a commit and how it was answered (status None: no HTTP answer at all)."""

    commit_id: UUID
    name: str
    body: dict[str, Any]
    started: float
    ended: float = 0.0
    status: int | None = None
    answer: Any = None


@dataclass
class Writer:
    """Threads that each commit a new directory after another, recording every answer."""

    url: str
    token: str
    project: str
    attempts: list[Attempt] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> "Writer":
        self._threads = [threading.Thread(target=self._write, args=(n,)) for n in range(WRITERS)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)

    def _write(self, writer: int) -> None:
        with self.client() as http:
            for n in range(1_000_000):
                if self._stop.is_set():
                    return
                name = f"w{writer}-{n}"
                command = CommandEnvelope.of(CreateDirectory(name=name)).model_dump(mode="json")
                attempt = Attempt(uuid4(), name, {"commands": [command]}, time.monotonic())
                attempt.body["commit_id"] = str(attempt.commit_id)
                self.send(http, attempt)
                self.attempts.append(attempt)
                if attempt.status != 200:
                    self._stop.wait(0.2)

    def client(self) -> httpx.Client:
        # Longer than any wait of the server's own (30 s for the projector), so a hang shows as one.
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60)

    def send(self, http: httpx.Client, attempt: Attempt) -> None:
        try:
            response = http.post(f"/projects/{self.project}/commits", json=attempt.body)
            attempt.status, attempt.answer = response.status_code, response.json()
        except httpx.TransportError as exc:
            attempt.status, attempt.answer = None, repr(exc)
        attempt.ended = time.monotonic()

    def first_success_after(self, moment: float, *, within_s: float) -> float:
        """Seconds from ``moment`` until a write that started after it succeeded."""
        deadline = moment + within_s
        while time.monotonic() < deadline:
            done = [a.ended for a in list(self.attempts) if a.started >= moment and a.status == 200]
            if done:
                return min(done) - moment
            time.sleep(0.2)
        tail = [(a.status, str(a.answer)[:200]) for a in self.attempts[-3:]]
        raise AssertionError(f"no write succeeded within {within_s} s after the restart; last answers: {tail}")


@dataclass
class Stack:
    services: PrivateServices
    settings: Settings
    url: str
    token: str
    api: subprocess.Popen[bytes]
    projector: subprocess.Popen[bytes]
    projector_log: Path


@pytest.fixture(scope="module")
def stack(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`annolog serve` and `annolog projector` over a Kafka and a PostgreSQL of this module's own."""
    state_dir = Path(tempfile.mkdtemp(prefix="annolog-outages-"))
    state_dir.chmod(0o755)  # PostgreSQL runs as its own user and keeps its cluster in there
    services = PrivateServices(state_dir)
    data_dir = tmp_path_factory.mktemp("outages")
    try:
        services.start("postgres")
        services.start("kafka")
        with isolated_stack(services.kafka_bootstrap, services.database_url, s3_endpoint, data_dir) as settings:
            port = free_port()
            api = start_api(settings, port)  # first: it creates the schema (see tests.stack.running_server)
            projector_log = data_dir / "projector.log"
            with projector_log.open("wb") as stderr:
                projector = subprocess.Popen(
                    [sys.executable, "-m", "annolog", "projector"], env=environment(settings), stderr=stderr
                )
            token = Tokens(create_engine(settings.database_url or "")).create("writer", created_by="test")
            try:
                yield Stack(services, settings, f"http://127.0.0.1:{port}", token, api, projector, projector_log)
            finally:
                for process in (api, projector):
                    process.terminate()
                for process in (api, projector):
                    process.wait(timeout=30)
    finally:
        services.stop("kafka")
        services.stop("postgres")
        shutil.rmtree(state_dir, ignore_errors=True)


def _ready(stack: Stack) -> tuple[int, dict[str, str]]:
    response = httpx.get(f"{stack.url}/ready", timeout=30)
    body = response.json()
    return response.status_code, body.get("checks", body)


def _outage_under_write_load(stack: Stack, service: str, down_check: str) -> None:
    """Stop ``service`` while writes go on, start it again, and check every answer and the views."""
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {stack.token}"}) as http:
        project = http.post("/projects", json={"name": f"outage-{service}-{uuid4().hex[:6]}"}).json()["name"]
    writer = Writer(stack.url, stack.token, project)
    with writer:
        writer.first_success_after(time.monotonic(), within_s=RECOVERY_S)
        warnings = _projector_warnings(stack)
        stack.services.stop(service)
        try:
            time.sleep(DOWN_S)
            status, checks = _ready(stack)
        finally:
            stack.services.start(service)
        back = time.monotonic()
        recovery_s = writer.first_success_after(back, within_s=RECOVERY_S)
        time.sleep(1)  # a few writes after the recovery too
    failed = sum(a.status != 200 for a in writer.attempts)
    print(
        f"{service} was down {DOWN_S} s: {len(writer.attempts)} writes, {failed} answered 503; "
        f"writes succeeded again {recovery_s:.1f} s after it was back"
    )
    assert status == 503 and checks[down_check].startswith("unavailable: "), checks
    assert all(state == "ok" for name, state in checks.items() if name != down_check), checks
    _assert_only_successes_and_clear_503s(writer.attempts)
    _retry_failures_and_assert_each_commit_applied_once(stack, writer)
    assert stack.api.poll() is None and stack.projector.poll() is None, "annolog itself must not have exited"
    assert _ready(stack)[0] == 200
    assert _projector_warnings(stack) == (warnings[0] + 1, warnings[1] + 1), "one warning per outage, not per retry"


def _projector_warnings(stack: Stack) -> tuple[int, int]:
    """How often the projector said it waits for a service, and that it resumed."""
    logged = stack.projector_log.read_text()
    return logged.count("the projector is waiting for the log or the database"), logged.count("projector resumed")


def _assert_only_successes_and_clear_503s(attempts: list[Attempt]) -> None:
    # A write may also just wait out a short outage (the producer retries within its timeout):
    # /ready's 503 during the outage is what proves there was one.
    failures = [a for a in attempts if a.status != 200]
    assert all(a.status == 503 for a in failures), [(a.status, a.answer) for a in failures if a.status != 503]
    for failure in failures:
        assert failure.answer["error"] in ("LogUnavailable", "DatabaseUnavailable", "UnavailableError")
        assert failure.answer["detail"], failure.answer


def _retry_failures_and_assert_each_commit_applied_once(stack: Stack, writer: Writer) -> None:
    """Resend every failed write with its commit id (as a client should), then compare with the views."""
    accepted = {a.commit_id: a.answer["version"] for a in writer.attempts if a.status == 200}
    with writer.client() as http:
        for attempt in [a for a in writer.attempts if a.status != 200]:
            writer.send(http, attempt)
            assert attempt.status == 200, (attempt.status, attempt.answer)
            accepted[attempt.commit_id] = attempt.answer["version"]
        project = http.get(f"/projects/{writer.project}").json()
        version = {"version": project["version"]}
        names = {d["name"] for d in http.get(f"/projects/{writer.project}/directories", params=version).json()}
    engine = create_engine(stack.settings.database_url or "")
    with engine.connect() as db:
        rows = db.execute(select(commits).where(commits.c.project_id == UUID(project["project_id"])))
        judged = {row.commit_id: row.version for row in rows}
    engine.dispose()
    assert names == {a.name for a in writer.attempts}, "a write was lost"
    assert project["version"] == 1 + len(writer.attempts), "a commit was applied twice (or lost)"
    assert {commit_id: judged[commit_id] for commit_id in accepted} == accepted, "a client was told a wrong version"
    assert sorted(judged.values()) == list(range(1, len(writer.attempts) + 2))


def test_writes_succeed_again_after_kafka_restarts_and_none_is_lost_or_doubled(stack: Stack) -> None:
    _outage_under_write_load(stack, "kafka", "log")


def test_writes_succeed_again_after_postgres_restarts_and_none_is_lost_or_doubled(stack: Stack) -> None:
    _outage_under_write_load(stack, "postgres", "database")
