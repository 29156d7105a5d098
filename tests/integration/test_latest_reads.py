"""Reads at the latest version use the current rows (``valid_to IS NULL``) and stay exact:
a commit that lands while a latest read runs does not leak into it."""

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Connection, Engine, create_engine, event, insert, select, update

from annolog.core import uuid7
from annolog.eventlog.sql import open_sqlite
from annolog.projections import queries
from annolog.projections.database import create_schema
from annolog.projections.replay import drop_database, fresh_database
from annolog.projections.tables import RowsAt, files, instances, labels, projects

LABELS = ("car", "dog", "cat")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    if request.param == "sqlite":
        fresh = open_sqlite(Path(tempfile.mkdtemp(prefix="annolog-replay-")) / "views.db")
    else:
        server = create_engine(request.getfixturevalue("database_url"))
        fresh = fresh_database(server)
        server.dispose()
    create_schema(fresh)
    yield fresh
    drop_database(fresh)


def _instance(project_id: UUID, file_id: UUID, instance_id: UUID, label: str, since: int) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "instance_id": instance_id,
        "valid_from": since,
        "valid_to": None,
        "file_id": file_id,
        "label": label,
        "kind": "box",
        "points": [[0, 0], [1, 1]],
        "attributes": {},
        "revision": since,
    }


def _relabel(db: Connection, project_id: UUID, file_id: UUID, instance_id: UUID, label: str, version: int) -> None:
    """Commit ``version`` as the projector writes it: the instance's row closed, a new one, the version."""
    db.execute(
        update(instances)
        .where(instances.c.instance_id == instance_id, instances.c.valid_to.is_(None))
        .values(valid_to=version)
    )
    db.execute(insert(instances).values(_instance(project_id, file_id, instance_id, label, version)))
    db.execute(update(projects).where(projects.c.project_id == project_id).values(version=version))


@pytest.fixture
def relabelled(engine: Engine) -> tuple[UUID, UUID, UUID]:
    """A project at version 2: one file whose box was a car at version 1 and a dog since 2."""
    project_id, file_id, instance_id = uuid7(), uuid7(), uuid7()
    with engine.begin() as db:
        db.execute(insert(projects).values(project_id=project_id, name="cars", version=1, created_by="ana"))
        db.execute(  # reads name a stored label through the labels at their version
            insert(labels),
            [{"project_id": project_id, "name": n, "class_index": i, "valid_from": 1} for i, n in enumerate(LABELS)],
        )
        db.execute(
            insert(files).values(
                project_id=project_id,
                file_id=file_id,
                valid_from=1,
                sha256="0" * 64,
                name="a.jpg",
                media_type="image/jpeg",
                size=1,
                metadata={},
                created_version=1,
            )
        )
        db.execute(insert(instances).values(_instance(project_id, file_id, instance_id, "car", 1)))
        _relabel(db, project_id, file_id, instance_id, "dog", 2)
    return project_id, file_id, instance_id


def _labels(engine: Engine, project_id: UUID, file_id: UUID, version: int) -> list[str]:
    with engine.connect() as db:
        (found,) = queries.files_by_id(db, project_id, [file_id], version)
    return [i.label for i in found.instances]


def test_a_latest_read_and_a_pinned_read_each_see_their_version(
    engine: Engine, relabelled: tuple[UUID, UUID, UUID]
) -> None:
    project_id, file_id, _ = relabelled
    assert _labels(engine, project_id, file_id, 2) == ["dog"]
    assert _labels(engine, project_id, file_id, 1) == ["car"]


def test_a_commit_that_lands_during_a_latest_read_does_not_leak_into_it(
    engine: Engine, relabelled: tuple[UUID, UUID, UUID]
) -> None:
    project_id, file_id, instance_id = relabelled
    seen: list[RowsAt] = []

    with engine.begin() as db:

        def read(rows: RowsAt) -> list[str]:
            if not seen:  # version 3 lands between the check of the version and the read
                _relabel(db, project_id, file_id, instance_id, "cat", 3)
            seen.append(rows)
            query = select(instances.c.label).where(instances.c.project_id == project_id, rows.of(instances))
            return list(db.execute(query).scalars())

        assert queries.read_at(db, project_id, 2, read) == ["dog"]
    assert [rows.current for rows in seen] == [True, False]


def test_latest_instances_are_found_through_the_current_rows_index_on_sqlite(
    engine: Engine, relabelled: tuple[UUID, UUID, UUID]
) -> None:
    """Without statistics SQLite ties that index with the as-of one, which holds every version."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL chooses by its statistics, which a tiny table does not exercise")
    project_id, file_id, _ = relabelled
    sent: list[tuple[str, Any]] = []
    event.listen(engine, "before_cursor_execute", lambda *args: sent.append((args[2], args[3])))
    _labels(engine, project_id, file_id, 2)
    statement, parameters = next((s, p) for s, p in sent if s.startswith("SELECT instances."))
    with engine.connect() as db:
        plan = " ".join(row[3] for row in db.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
    assert "ix_instances_file_id_current" in plan
