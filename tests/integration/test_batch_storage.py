"""Rows written in bulk are stored as SQLAlchemy stores them, byte for byte: the same log
projected in sets and one commit at a time leaves the same text in every SQLite column."""

import io
import sqlite3
from pathlib import Path

from PIL import Image

import annolog
from annolog.eventlog.sql import SqlLog, open_sqlite
from annolog.projections.database import create_schema
from annolog.projections.projector import Projector
from annolog.projections.tables import metadata


def _raw(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        return {
            t.name: sorted(db.execute(f'SELECT * FROM "{t.name}"').fetchall(), key=repr) for t in metadata.sorted_tables
        }


def test_a_batch_and_the_one_commit_path_store_the_same_text_in_every_column(tmp_path: Path) -> None:
    image = io.BytesIO()
    Image.new("RGB", (16, 16)).save(image, "PNG")
    project = annolog.Client(tmp_path / "data", actor="ana").create_project("p", labels=["car"])
    photo = project.directory.new("all").add_file(image.getvalue(), name="a.png", metadata={"é": [1, None]})
    photo.add_instance("car", box=(1, 1, 5, 5), attributes={"tab": "a\tb"}).update(label="car", box=(2, 2, 6, 6))
    project.tag("v1")
    log = SqlLog(open_sqlite(tmp_path / "data" / "annolog.db"))

    for name, in_sets in (("sets.db", True), ("one.db", False)):
        target = open_sqlite(tmp_path / name)
        create_schema(target)
        Projector(target, log, in_sets=in_sets).catch_up()
        target.dispose()

    assert _raw(tmp_path / "sets.db") == _raw(tmp_path / "one.db")
