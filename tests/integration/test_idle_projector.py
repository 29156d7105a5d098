"""An idle projector waits on the log: it spends next to no CPU, and an append wakes it at once.

Both on the embedded default (SqlLog woken by the append) and on Kafka + PostgreSQL (a
Kafka long-poll). The wake-up tests set every recheck interval to 30 s, so only the
log's own wake-up can make the commit visible within the bound.
"""

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import Engine, select

from annolog.api.bootstrap import build_log
from annolog.api.settings import Settings, load_settings
from annolog.eventlog import sql
from annolog.eventlog.log import EventLog
from annolog.projections import daemon
from annolog.projections.database import create_schema, open_database
from annolog.projections.tables import commits
from tests.factories import file_commit
from tests.stack import environment

IDLE_S = 3.0
RECHECK_S = 30.0

_IDLE_DAEMON = """
import sys, threading, time
from uuid import uuid4
from annolog.api.bootstrap import build_log
from annolog.api.settings import load_settings
from annolog.projections.daemon import run
from annolog.projections.database import create_schema, open_database
from tests.factories import file_commit

settings = load_settings()
engine = open_database(settings.database_url, embedded=settings.embedded_database)
create_schema(engine)
log = build_log(settings)
log.append_many([file_commit(uuid4()) for _ in range(int(sys.argv[1]))])
stop = threading.Event()
projector = threading.Thread(target=run, args=(engine, log), kwargs={"stop": stop})
projector.start()
time.sleep(2)  # past start-up and the first catch-up: from here on it only idles
cpu, wall = time.process_time(), time.monotonic()
time.sleep(float(sys.argv[2]))
print((time.process_time() - cpu) / (time.monotonic() - wall))
stop.set()
projector.join()
"""


SERVER_STACK = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]


@pytest.fixture(params=["embedded", pytest.param("kafka-postgres", marks=SERVER_STACK)])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "embedded":
        return load_settings(data_dir=tmp_path / "data")
    return request.getfixturevalue("server_settings")  # type: ignore[no-any-return]


def _cpu_share_of_idle_projector(settings: Settings, commits_before: int) -> float:
    """CPU seconds per second that the projector (a process of its own) spends idling."""
    done = subprocess.run(
        [sys.executable, "-c", _IDLE_DAEMON, str(commits_before), str(IDLE_S)],
        cwd=Path(__file__).parents[2],
        env=environment(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return float(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("commits_before", [0, 5], ids=["empty-log", "projected-log"])
def test_an_idle_projector_spends_well_under_a_twentieth_of_a_core(stack: Settings, commits_before: int) -> None:
    share = _cpu_share_of_idle_projector(stack, commits_before)
    print(f"idle projector: {share:.2%} of a core")
    assert share < 0.02  # the bar; the 10 ms sleep loop it replaces spent 8-37 %; measured now: under 1 %


@pytest.fixture
def idle_projector(stack: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, EventLog]]:
    """A projector thread that has caught up; yields its database and a second log to append with."""
    monkeypatch.setattr(sql, "_RECHECK_S", RECHECK_S)
    engine = open_database(stack.database_url, embedded=stack.embedded_database)
    create_schema(engine)
    projected, writer = build_log(stack), build_log(stack)
    stop = threading.Event()
    projector = threading.Thread(
        target=daemon.run, args=(engine, projected), kwargs={"stop": stop, "recheck_s": RECHECK_S}
    )
    projector.start()
    time.sleep(1.5)  # idle: waiting on the log
    try:
        yield engine, writer
    finally:
        stop.set()
        writer.append(file_commit(uuid4()))  # wakes the wait, so the loop sees the stop now
        projector.join(timeout=60)
        for log in (projected, writer):
            log.close()
        engine.dispose()
    assert not projector.is_alive()


def test_an_append_wakes_an_idle_projector_long_before_any_recheck(idle_projector: tuple[Engine, EventLog]) -> None:
    engine, writer = idle_projector
    commit = file_commit(uuid4())

    appended = time.monotonic()
    writer.append(commit)
    while time.monotonic() - appended < RECHECK_S:
        with engine.connect() as db:
            if db.execute(select(commits.c.commit_id).where(commits.c.commit_id == commit.commit_id)).first():
                break
        time.sleep(0.005)
    visible_s = time.monotonic() - appended
    print(f"append → judged by the idle projector: {visible_s * 1000:.0f} ms")
    assert visible_s < 5
