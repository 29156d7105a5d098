"""The `annolog` command line, run as a user would, on the embedded default."""

import getpass
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from PIL import Image
from sqlalchemy import create_engine, select, update
from typer.core import TyperGroup, TyperOption
from typer.testing import CliRunner

import annolog
from annolog.api.cli import app
from annolog.api.tokens import Tokens, api_tokens
from annolog.eventlog.codec import CommitCodec
from annolog.eventlog.sql import log_records
from annolog.projections import replay as annolog_replay
from tests.stack import free_port, run_cli


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
    result = run_cli(tmp_path, "replay")
    assert result.returncode == 0, result.stderr
    assert "replayed 5 log records" in result.stdout
    assert "instances" in result.stdout and "DIFFERENT" not in result.stdout


def test_replay_compares_with_the_views_as_far_as_they_had_projected_while_writes_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path)
    replay = annolog_replay.replay

    def replay_then_a_write_lands(*args: Any, **kwargs: Any) -> int:
        replayed = replay(*args, **kwargs)
        project.directory.get("all")[0].add_instance("car", box=(3, 3, 7, 7))  # the projector moves on
        return replayed

    monkeypatch.setattr(annolog_replay, "replay", replay_then_a_write_lands)
    monkeypatch.setenv("ANNOLOG_DATA_DIR", str(tmp_path))

    result = CliRunner().invoke(app, ["replay", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["replayed_records"], report["equal"]) == (5, True)
    assert len(project.directory.get("all")[0].instances) == 2


def test_replay_up_to_a_version_equals_the_views_read_as_of_it(tmp_path: Path) -> None:
    project = _project(tmp_path)
    result = run_cli(tmp_path, "replay", "--project", "cli", "--version", str(project.version - 1))
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
    result = run_cli(data_dir, *args, "--json")
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

    result = run_cli(tmp_path, "verify", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["intact"] is False and report["first_break"]["version"] == project.version
    assert "hashes to" in report["first_break"]["reason"]


def test_listing_tagging_and_history_print_json_for_scripts(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert _json(tmp_path, "project", "list") == [{"name": "cli", "version": project.version, "id": str(project.id)}]
    (directory,) = _json(tmp_path, "directory", "list", "-p", "cli")
    assert (directory["name"], directory["files"]) == ("all", 1)
    tagged = {"tag": "release-1", "version": project.version + 1, "before": None}  # the tag's own commit
    assert _json(tmp_path, "tag", "release-1", "-p", "cli") == tagged
    changes = _json(tmp_path, "history", "-p", "cli", "-d", "all", "--file", "a.png")
    assert [c["event"] for c in changes] == ["FileAdded", "FileAdded", "InstanceAdded", "InstanceChanged"]
    assert changes[-1]["before"]["points"] == [[1, 1], [5, 5]] and changes[-1]["after"]["points"] == [[2, 2], [6, 6]]


def test_a_tag_is_moved_only_with_force_and_the_move_says_from_which_version(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert _json(tmp_path, "tag", "release-1", "2", "-p", "cli") == {"tag": "release-1", "version": 2, "before": None}

    refused = run_cli(tmp_path, "tag", "release-1", "3", "-p", "cli")
    moved = run_cli(tmp_path, "tag", "release-1", "3", "-p", "cli", "--force")
    again = run_cli(tmp_path, "tag", "release-1", "3", "-p", "cli", "--force")

    assert refused.returncode == 2 and "ConflictError: tag 'release-1' already names version 2" in refused.stderr
    assert "`annolog tag release-1 3 --force`" in refused.stderr
    assert (moved.returncode, moved.stdout) == (0, "release-1 -> version 3 (moved from version 2)\n"), moved.stderr
    assert (again.returncode, again.stdout) == (0, "release-1 -> version 3 (already; nothing changed)\n")
    assert project.tags() == {"release-1": 3} and len(project.history(event="TagMoved")) == 1


def test_a_tag_still_takes_its_version_as_the_option_earlier_releases_had(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert _json(tmp_path, "tag", "v1", "--version", "2", "-p", "cli") == {"tag": "v1", "version": 2, "before": None}

    both = run_cli(tmp_path, "tag", "v2", "2", "--version", "3", "-p", "cli")

    assert both.returncode == 2 and "VERSION 2 and --version 3 differ: give one" in both.stderr
    assert project.tags() == {"v1": 2}


def test_a_token_is_printed_once_and_stored_only_as_its_hash(tmp_path: Path) -> None:
    _project(tmp_path)
    issued = _json(tmp_path, "token", "create", "ana", "--expires-in-days", "1")
    assert issued["token"].startswith("al_") and issued["principal"] == "ana"
    engine = create_engine(f"sqlite:///{tmp_path / 'annolog.db'}")
    with engine.connect() as db:
        stored = db.execute(select(api_tokens.c.token_sha256, api_tokens.c.principal)).all()
    assert stored == [(hashlib.sha256(issued["token"].encode()).hexdigest(), "ana")]
    assert Tokens(engine).authenticate(issued["token"]).name == "ana"


def _commands(group: TyperGroup, path: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            found |= _commands(command, f"{path}{name} ")
        else:
            found[f"{path}{name}"] = command
    return found


COMMANDS = _commands(typer.main.get_group(app))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_spells_project_directory_and_json_alike(name: str) -> None:
    options = [param.opts for param in COMMANDS[name].params if isinstance(param, TyperOption)]
    for long, short in (("--project", "-p"), ("--directory", "-d")):
        assert [sorted(o) for o in options if long in o] in ([], [sorted([long, short])]), name
    # The two that run until stopped print logs, not a result.
    assert any("--json" in o for o in options) or name in ("serve", "projector"), name


def test_history_prints_a_table_with_a_header_and_each_change_before_and_after(tmp_path: Path) -> None:
    _project(tmp_path)

    result = run_cli(tmp_path, "history", "-p", "cli", "-d", "all", "--file", "a.png")

    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["version", "time", "(UTC)", "actor", "event", "entity", "before", "after"]
    changed = rows[-1]
    assert changed.split()[:1] == ["5"] and "InstanceChanged" in changed
    before, after = changed.split("points=")[1:]
    assert (before.split("]]")[0], after.split("]]")[0]) == ("[[1.0, 1.0], [5.0, 5.0", "[[2.0, 2.0], [6.0, 6.0")
    assert "revision=1" in changed and "revision=2" in changed and "label=" not in changed  # only what changed


def test_replay_prints_json_for_scripts(tmp_path: Path) -> None:
    _project(tmp_path)

    report = _json(tmp_path, "replay")

    assert (report["replayed_records"], report["equal"], report["rejected_records"]) == (5, True, 0)
    assert report["tables"]["instances"]["equal"] is True


HEAVY = {"sqlalchemy", "kafka", "fastavro", "boto3", "botocore", "numpy", "torch", "uvicorn", "fastapi", "httpx"}


@pytest.mark.parametrize(
    "args", [["--help"], ["history", "--help"], ["token", "create", "--help"], ["serve", "--help"]]
)
def test_help_imports_no_database_log_web_or_array_library(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "annolog", *args], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage:" in result.stdout
    imported = {m.group(1).split(".")[0] for m in re.finditer(r"^import time:.*\|\s*(\S+)$", result.stderr, re.M)}
    assert "typer" in imported  # the trace was read
    assert imported & HEAVY == set()


def test_serve_hands_its_worker_healthcheck_timeout_to_uvicorn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("ANNOLOG_DATA_DIR", str(tmp_path))

    result = CliRunner().invoke(app, ["serve", "--workers", "3", "--worker-healthcheck-timeout", "45"])

    assert result.exit_code == 0, result.output
    assert (seen["workers"], seen["timeout_worker_healthcheck"]) == (3, 45)


def test_serve_cancels_requests_still_open_after_a_grace_so_a_live_page_cannot_keep_it_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("ANNOLOG_DATA_DIR", str(tmp_path))

    assert CliRunner().invoke(app, ["serve"]).exit_code == 0
    assert seen["timeout_graceful_shutdown"] == 5  # a browser's open change stream never ends by itself


def test_serve_with_two_workers_answers_under_load_and_keeps_both(tmp_path: Path) -> None:
    """As people start it: the console script, which each spawned worker imports again before
    it answers uvicorn's health check (once a 5 s limit that workers missed while starting)."""
    script = shutil.which("annolog", path=sysconfig.get_path("scripts"))
    assert script is not None, "the annolog console script is not installed"
    port, log = free_port(), tmp_path / "serve.log"
    env = {"ANNOLOG_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    with log.open("wb") as stderr:
        server = subprocess.Popen(
            [script, "serve", "--workers", "2", "--port", str(port), "--no-access-log"], env=env, stderr=stderr
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, server, log)
        with ThreadPoolExecutor(8) as pool:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                answers = list(pool.map(lambda path: httpx.get(url + path, timeout=30), ["/ready", "/health"] * 4))
                assert [a.status_code for a in answers] == [200] * 8
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()
    assert text.count("Started server process") == 2, text
    assert "died" not in text and "not ready" not in text, text


def _wait_ready(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"annolog serve was not ready within 60 s: {log.read_text()[-2000:]}")
