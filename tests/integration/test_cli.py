"""The `annolog` command line, run as a user would, on the embedded default."""

import io
import subprocess
import sys
from pathlib import Path

from PIL import Image

import annolog


def _annolog(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        capture_output=True,
        text=True,
        env={"ANNOLOG_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def _project(data_dir: Path) -> annolog.Project:
    image = io.BytesIO()
    Image.new("RGB", (16, 16)).save(image, "PNG")
    project = annolog.Client(data_dir, actor="ana").create_project("cli", labels=["car"])
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
        [sys.executable, "-m", "api.cli", "replay"],
        capture_output=True,
        text=True,
        env={"ANNOLOG_LOG_URL": "http://nope", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 2
    assert "ConfigurationError" in result.stderr and "ANNOLOG_LOG_URL" in result.stderr
