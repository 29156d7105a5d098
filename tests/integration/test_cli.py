"""The `annolog` command line, run as a user would, on the embedded default."""

import getpass
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import create_engine, select, update

import annolog
from annolog.api.tokens import Tokens, api_tokens
from annolog.eventlog.codec import CommitCodec
from annolog.eventlog.sql import log_records


def _annolog(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "annolog", *args],
        capture_output=True,
        text=True,
        env={"ANNOLOG_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def _project(data_dir: Path) -> annolog.Project:
    image = io.BytesIO()
    Image.new("RGB", (16, 16)).save(image, "PNG")
    # The command line acts as the operating-system user, so the project is theirs.
    project = annolog.Client(data_dir, actor=getpass.getuser()).create_project("cli", labels=["car"])
    photo = project.directory.new("all").add_file(image.getvalue(), name="a.png")
    photo.add_instance("car", box=(1, 1, 5, 5)).update(label="car", box=(2, 2, 6, 6))
    return project


def test_replay_rebuilds_every_view_and_reports_each_table_equal(tmp_path: Path) -> None:
    _project(tmp_path)
    result = _annolog(tmp_path, "replay")
    assert result.returncode == 0, result.stderr
    assert "replayed 5 log records" in result.stdout
    assert "instances" in result.stdout and "DIFFERENT" not in result.stdout


def test_replay_up_to_a_version_equals_the_views_read_as_of_it(tmp_path: Path) -> None:
    project = _project(tmp_path)
    result = _annolog(tmp_path, "replay", "--project", "cli", "--version", str(project.version - 1))
    assert result.returncode == 0, result.stderr
    assert "up to version" in result.stdout and "DIFFERENT" not in result.stdout


def test_a_bad_setting_stops_the_command_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "annolog", "replay"],
        capture_output=True,
        text=True,
        env={"ANNOLOG_LOG_URL": "http://nope", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 2
    assert "ConfigurationError" in result.stderr and "ANNOLOG_LOG_URL" in result.stderr


def _json(data_dir: Path, *args: str) -> Any:
    result = _annolog(data_dir, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_verify_finds_the_chain_intact_and_names_the_version_whose_record_was_rewritten(tmp_path: Path) -> None:
    project = _project(tmp_path)
    intact = _json(tmp_path, "verify")
    assert (intact["checked"], intact["intact"], intact["first_break"]) == (project.version, True, None)
    assert [(h["project"], h["version"]) for h in intact["heads"]] == [("cli", project.version)]

    engine = create_engine(f"sqlite:///{tmp_path / 'annolog.db'}")
    codec = CommitCodec.default()
    with engine.begin() as db:  # someone rewrites history: the box edit now says another place
        position, payload = db.execute(select(log_records.c.position, log_records.c.payload)).all()[-1]
        commit = codec.decode(payload)
        (event,) = commit.events
        forged = commit.model_copy(update={"events": (event.model_copy(update={"points": ((9, 9), (12, 12))}),)})
        db.execute(update(log_records).where(log_records.c.position == position).values(payload=codec.encode(forged)))

    result = _annolog(tmp_path, "verify", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["intact"] is False and report["first_break"]["version"] == project.version
    assert "hashes to" in report["first_break"]["reason"]


def test_listing_tagging_and_history_print_json_for_scripts(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert _json(tmp_path, "project", "list") == [{"name": "cli", "version": project.version, "id": str(project.id)}]
    (directory,) = _json(tmp_path, "directory", "list", "--project", "cli")
    assert (directory["name"], directory["files"]) == ("all", 1)
    assert _json(tmp_path, "tag", "release-1", "--project", "cli") == {"tag": "release-1", "version": project.version}
    changes = _json(tmp_path, "history", "--project", "cli", "--directory", "all", "--file", "a.png")
    assert [c["event"] for c in changes] == ["FileAdded", "FileAdded", "InstanceAdded", "InstanceChanged"]
    assert changes[-1]["before"]["points"] == [[1, 1], [5, 5]] and changes[-1]["after"]["points"] == [[2, 2], [6, 6]]


def test_a_token_is_printed_once_and_stored_only_as_its_hash(tmp_path: Path) -> None:
    _project(tmp_path)
    issued = _json(tmp_path, "token", "create", "ana", "--expires-in-days", "1")
    assert issued["token"].startswith("al_") and issued["principal"] == "ana"
    engine = create_engine(f"sqlite:///{tmp_path / 'annolog.db'}")
    with engine.connect() as db:
        stored = db.execute(select(api_tokens.c.token_sha256, api_tokens.c.principal)).all()
    assert stored == [(hashlib.sha256(issued["token"].encode()).hexdigest(), "ana")]
    assert Tokens(engine).authenticate(issued["token"]).name == "ana"
