"""Several projector processes share the partitions by lease, on Kafka + PostgreSQL.

The leases themselves are checked first (a fair split, a rebalance when one leaves, a
lost lease connection healing as an outage); then two real `annolog projector` processes
project a log being appended to, one is killed with SIGKILL mid-run, and the survivor
must take its partitions within seconds and leave the views exactly as a single-process
replay of the same log makes them, every commit judged once.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

import annolog
from annolog.api.bootstrap import build_log, build_service
from annolog.api.settings import Settings, load_settings
from annolog.core import CreateDirectory, CreateProject, DatabaseUnavailable
from annolog.core.commit import Commit
from annolog.eventlog.log import EventLog
from annolog.projections.database import create_schema, open_database
from annolog.projections.leases import MEMBER_KEY, PostgresLeases, lease_space
from annolog.projections.replay import checksums, drop_database, fresh_database, replay
from annolog.projections.tables import commits, log_positions
from tests.stack import environment

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]

TAKEOVER_S = 10.0
"""How soon after a projector is killed the survivor must hold its partitions (expected: ~1 s)."""


@pytest.fixture
def engine(server_settings: Settings) -> Iterator[Engine]:
    engine = open_database(server_settings.database_url, embedded=server_settings.embedded_database)
    create_schema(engine)
    yield engine
    engine.dispose()


def _holders(engine: Engine) -> dict[int, str]:
    """Which connection (its application_name) holds each partition's lease now."""
    with engine.connect() as db:
        space = lease_space(db.execute(text("SELECT current_schema()")).scalar_one())
        rows = db.execute(
            text(
                "SELECT l.objid AS partition, a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND l.classid = CAST(:space AS oid) AND l.objid <> CAST(:member AS oid)"
            ),
            {"space": space, "member": MEMBER_KEY},
        )
        return {int(row.partition): row.application_name for row in rows}


# -- the leases --------------------------------------------------------------------------------------


@pytest.fixture
def schema_engine(database_url: str) -> Iterator[Engine]:
    """An engine on a PostgreSQL schema of its own (leases are named after the schema)."""
    schema = f"annolog_test_{uuid4().hex[:10]}"
    admin = create_engine(database_url)
    with admin.begin() as db:
        db.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(database_url, connect_args={"options": f"-csearch_path={schema}"})
    yield engine
    engine.dispose()
    with admin.begin() as db:
        db.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_two_projectors_split_the_partitions_and_one_takes_them_all_when_the_other_leaves(
    schema_engine: Engine,
) -> None:
    engine = schema_engine
    first, second = PostgresLeases(engine, 6, recheck_s=0), PostgresLeases(engine, 6, recheck_s=0)
    try:
        assert first.owned() == [0, 1, 2, 3, 4, 5]  # alone: everything
        assert second.owned() == []  # its share is 3, but all are leased
        assert first.owned() == [0, 1, 2]  # two members now: it gives back what is above its share
        assert second.owned() == [3, 4, 5]
        assert first.owned() == [0, 1, 2] and second.owned() == [3, 4, 5]  # stable
        second.close()
        assert first.owned() == [0, 1, 2, 3, 4, 5]
    finally:
        first.close()
        second.close()
    assert _holders(engine) == {}, "closing gives every lease back"


def test_a_lost_lease_connection_is_an_outage_and_its_leases_are_taken_again(schema_engine: Engine) -> None:
    engine = schema_engine
    leases = PostgresLeases(engine, 3, recheck_s=0)
    try:
        assert leases.owned() == [0, 1, 2]
        with engine.begin() as db:  # as a database restart or a network cut would
            db.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND classid = CAST(:space AS oid) AND objsubid = 2"
                ),
                {"space": lease_space(db.execute(text("SELECT current_schema()")).scalar_one())},
            )
        with pytest.raises(DatabaseUnavailable, match="renew the projector's partition leases"):
            leases.owned()
        assert leases.owned() == [0, 1, 2]
    finally:
        leases.close()


# -- real processes ----------------------------------------------------------------------------------


class Appender:
    """A thread appending one CreateDirectory commit to each project per round, until stopped."""

    def __init__(self, log: EventLog, projects: list[UUID]) -> None:
        self.log, self.projects = log, projects
        self.appended: list[Commit] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._append)

    def __enter__(self) -> "Appender":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _append(self) -> None:
        while not self._stop.wait(0.02):
            batch = [
                CreateDirectory(name=f"d-{uuid4().hex[:8]}").commit(project_id=p, actor="ana") for p in self.projects
            ]
            self.log.append_many(batch)
            self.appended += batch


def _projects_on_every_partition(log: EventLog, per_partition: int) -> list[Commit]:
    """CreateProject commits, ``per_partition`` of them landing in each partition."""
    found: dict[int, list[Commit]] = {p: [] for p in range(log.partitions)}
    while any(len(c) < per_partition for c in found.values()):
        create = CreateProject(name=f"p-{uuid4().hex[:8]}")
        landing = found[log.partition_of(create.project_id)]
        if len(landing) < per_partition:
            landing.append(create.commit(project_id=create.project_id, actor="ana"))
    return [commit for partition in found.values() for commit in partition]


def _start_projector(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "annolog", "projector", "--batch-size", "20"],
            env=environment(settings),
            stderr=stderr,
        )


def _wait_until(check: Callable[[], bool], within_s: float, what: str) -> float:
    """Seconds until ``check()`` held, polled every 20 ms."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within_s:
            raise AssertionError(f"{what} did not happen within {within_s} s")
        time.sleep(0.02)
    return time.monotonic() - started


def _pid(holder: str) -> int:
    return int(holder.rsplit(":", 1)[1])


def _caught_up(engine: Engine, log: EventLog) -> bool:
    with engine.connect() as db:
        rows = db.execute(select(log_positions.c.partition, log_positions.c.next_offset))
        stored = {row.partition: row.next_offset for row in rows}
    return all(stored.get(p, 0) == log.end(p) for p in range(log.partitions))


def test_a_killed_projector_process_hands_its_partitions_over_and_nothing_is_lost_or_applied_twice(
    server_settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    log = build_log(server_settings)
    creates = _projects_on_every_partition(log, per_partition=2)
    log.append_many(creates)
    processes = [_start_projector(server_settings, tmp_path / f"projector-{n}.log") for n in range(2)]
    try:
        _wait_until(
            lambda: len(h := _holders(engine)) == log.partitions and len(set(h.values())) == 2,
            60,
            "two projectors sharing every partition",
        )
        with Appender(log, [c.project_id for c in creates]) as appender:
            time.sleep(2)  # both busy
            holders = _holders(engine)
            busiest = _pid(Counter(holders.values()).most_common(1)[0][0])  # the one with the most to hand over
            victim, survivor = sorted(processes, key=lambda p: p.pid != busiest)
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            takeover_s = _wait_until(
                lambda: (
                    set(map(_pid, _holders(engine).values())) == {survivor.pid}
                    and len(_holders(engine)) == log.partitions
                ),
                TAKEOVER_S,
                "the survivor holding every partition",
            )
            time.sleep(2)  # appends go on after the takeover
        caught_up_s = _wait_until(lambda: _caught_up(engine, log), 120, "projecting everything appended")
        assert survivor.poll() is None, "the survivor must still be running"
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            process.wait(timeout=30)
    print(
        f"{len(appender.appended)} commits appended under load; partitions {sorted(holders)} were held by "
        f"{sorted(set(holders.values()))}; the survivor held all {takeover_s:.2f} s after the kill; "
        f"caught up {caught_up_s:.1f} s after the appends stopped"
    )
    _assert_every_commit_judged_once(engine, creates + appender.appended)
    _assert_views_equal_a_single_process_replay(engine, log)
    log.close()


def _assert_every_commit_judged_once(engine: Engine, appended: list[Commit]) -> None:
    with engine.connect() as db:
        judged = db.execute(select(commits.c.commit_id, commits.c.project_id, commits.c.version, commits.c.accepted))
        rows = list(judged)
        count = db.execute(select(func.count()).select_from(commits)).scalar_one()
    assert count == len(appended) == len({r.commit_id for r in rows})
    assert {r.commit_id for r in rows} == {c.commit_id for c in appended}
    assert all(r.accepted for r in rows)
    for project in {c.project_id for c in appended}:
        versions = sorted(r.version for r in rows if r.project_id == project)
        assert versions == list(range(1, len(versions) + 1)), "a version skipped or repeated"


def _assert_views_equal_a_single_process_replay(engine: Engine, log: EventLog) -> None:
    target = fresh_database(engine)
    try:
        replay(log, target)
        assert checksums(target) == checksums(engine)
    finally:
        drop_database(target)


def test_an_embedded_write_whose_catch_up_was_raced_waits_until_its_commit_is_judged(tmp_path: Path) -> None:
    """Another process on the same embedded files can move the stored offset under this one's
    batch, which then applies nothing: the write must go on projecting, not report its commit lost."""
    service = build_service(load_settings(data_dir=tmp_path / "data"))
    projector = service._projector
    assert projector is not None
    real, raced = projector.catch_up, [True]

    def catch_up(partitions: Any = None, **kwargs: Any) -> int:
        if raced:
            raced.pop()
            return 0  # as when another process committed first: this batch was dropped
        return real(partitions, **kwargs)

    with patch.object(projector, "catch_up", catch_up):
        made = annolog.Client(service, actor="ana").create_project("raced")

    assert made.version == 1 and raced == []
    service.close()
