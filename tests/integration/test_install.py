"""Installed as a newcomer installs it: the wheel holds one import package, and a clean venv
with only the base dependencies talks to an annolog server over HTTP."""

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from annolog.api.settings import Settings
from annolog.api.tokens import Tokens

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]

REPO = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).with_name("uv")


def _uv(*args: str | Path) -> None:
    subprocess.run([UV, *map(str, args)], check=True, capture_output=True, timeout=600)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # The sdist first, then the wheel from it in a fresh folder, as an index would: nothing
    # left over from an earlier build of the checkout (build/lib) can slip into the wheel.
    _uv("build", "--out-dir", out, REPO)
    (built,) = out.glob("annolog-*.whl")
    return built


def test_the_wheel_installs_one_top_level_package_annolog_with_its_data_files(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"annolog", wheel.name.split("-py3")[0] + ".dist-info"}
    schemas = [f"annolog/eventlog/schemas/commit-v{n}.avsc" for n in (1, 2, 3)]
    web = [f"annolog/api/http/web/{page}" for page in ("templates/base.html", "static/annolog.css")]
    for needed in ("annolog/core/query/grammar.lark", *schemas, *web, "annolog/__main__.py"):
        assert needed in names


def test_a_clean_venv_with_the_base_install_is_an_http_client_of_a_server(
    wheel: Path, running_stack: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, url = running_stack
    token = Tokens(create_engine(settings.database_url or "")).create("newcomer", created_by="test")
    _uv("venv", "--python", sys.executable, tmp_path / "venv")
    python = tmp_path / "venv" / "bin" / "python"
    _uv("pip", "install", "--python", python, wheel)
    script = f"""
        import sys
        import annolog
        client = annolog.Client({url!r}, token={token!r})
        project = client.create_project("installed", labels=["car"])
        photos = project.directory.new("photos")
        try:
            client.project("nowhere")
        except annolog.NotFoundError as exc:
            print("not found:", exc)
        print([p.name for p in client.projects()], project.version, len(photos))
        print(sorted(m for m in ("numpy", "torch", "sqlalchemy", "kafka", "boto3") if m in sys.modules))
    """
    done = subprocess.run(
        [python, "-c", textwrap.dedent(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("not found: project 'nowhere' does not exist")
    assert lines[1:] == ["['installed'] 2 0", "[]"]


def test_a_clean_venv_with_the_arrays_extra_writes_and_reads_an_array_on_a_server(
    wheel: Path, running_stack: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, url = running_stack
    token = Tokens(create_engine(settings.database_url or "")).create("newcomer", created_by="test")
    _uv("venv", "--python", sys.executable, tmp_path / "base")
    _uv("venv", "--python", sys.executable, tmp_path / "arrays")
    _uv("pip", "install", "--python", tmp_path / "base" / "bin" / "python", wheel)
    _uv("pip", "install", "--python", tmp_path / "arrays" / "bin" / "python", f"annolog[arrays] @ {wheel.as_uri()}")
    script = f"""
        import annolog
        project = annolog.Client({url!r}, token={token!r}).create_project("installed-arrays", exist_ok=True)
        try:
            import numpy as np
        except ImportError:
            try:
                project.array.new("x", shape=(4,), dtype="uint8", chunks=(2,))
            except annolog.MissingExtra as exc:
                print("missing:", exc)
        else:
            a = project.array.new("scans", shape=(1000, 8, 8), dtype="uint8", chunks=(1, 8, 8))
            a[3] = np.full((8, 8), 5, dtype="uint8")
            print(int(a[0:10].sum()), a.shape, a.to_zarr()[3, 0, 0])
    """
    found = {}
    for venv in ("base", "arrays"):
        done = subprocess.run(
            [tmp_path / venv / "bin" / "python", "-c", textwrap.dedent(script)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        found[venv] = done.stdout.strip()
    assert found["base"].startswith("missing: ") and "pip install 'annolog[arrays]'" in found["base"]
    assert found["arrays"] == "320 (1000, 8, 8) 5"
