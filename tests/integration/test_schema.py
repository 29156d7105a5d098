"""Views made by an older annolog open with a newer one: missing columns added, indexes brought up to date."""

from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import inspect, text

from annolog.api.uploads import Uploads, uploaded_sizes
from annolog.core.errors import ConfigurationError
from annolog.eventlog.sql import open_sqlite
from annolog.projections.database import create_schema


def test_a_column_added_since_the_views_were_made_is_added_when_they_open(tmp_path: Path) -> None:
    engine = open_sqlite(tmp_path / "old.db")
    create_schema(engine)
    with engine.begin() as db:
        db.execute(text("ALTER TABLE commits DROP COLUMN digest"))  # as the views were before it existed

    create_schema(engine)

    assert "digest" in {column["name"] for column in inspect(engine).get_columns("commits")}


def test_a_missing_column_that_cannot_be_null_says_to_rebuild_the_views(tmp_path: Path) -> None:
    engine = open_sqlite(tmp_path / "old.db")
    create_schema(engine)
    with engine.begin() as db:
        db.execute(text("ALTER TABLE commits DROP COLUMN command"))

    with pytest.raises(ConfigurationError, match="lacks column 'command'.*annolog replay"):
        create_schema(engine)


def test_an_index_whose_columns_changed_is_rebuilt_and_a_missing_one_is_created_when_the_views_open(
    tmp_path: Path,
) -> None:
    engine = open_sqlite(tmp_path / "old.db")
    create_schema(engine)
    with engine.begin() as db:  # as an older annolog made them
        db.execute(text("DROP INDEX ix_files_name_current"))
        db.execute(text("CREATE INDEX ix_files_name_current ON files (project_id, name) WHERE valid_to IS NULL"))
        db.execute(text("DROP INDEX ix_history_file"))

    create_schema(engine)

    indexes = {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("files")}
    assert indexes["ix_files_name_current"] == ["project_id", "name", "valid_to"]
    assert "ix_history_file" in {index["name"] for index in inspect(engine).get_indexes("history")}


def test_an_upload_table_made_before_sizes_gains_them_as_blobs_are_uploaded_again(tmp_path: Path) -> None:
    engine = open_sqlite(tmp_path / "old.db")
    Uploads(engine)
    project_id, old, new = uuid4(), "a" * 64, "b" * 64
    with engine.begin() as db:  # as an older annolog made the table, and an upload it recorded
        db.execute(text("ALTER TABLE blob_uploads DROP COLUMN size"))
        db.execute(
            text("INSERT INTO blob_uploads VALUES (:p, :sha, 'ana', '2026-01-01 00:00:00')"),
            {"p": project_id.hex, "sha": old},
        )

    uploads = Uploads(engine)
    uploads.record(project_id, {old: 10, new: 20}, actor="ana")
    uploads.record(project_id, {new: 99}, actor="ana")  # the first size recorded stands

    with engine.connect() as db:
        assert uploaded_sizes(db, project_id, [old, new], actor="ana") == {old: 10, new: 20}
