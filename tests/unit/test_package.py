"""annolog is ONE import package, light to import, whose errors are all the SDK's."""

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import annolog
from annolog.core import errors

HEAVY = ("numpy", "torch", "tensorflow", "sqlalchemy", "psycopg2", "kafka", "fastavro", "boto3", "PIL", "fastapi")


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_importing_annolog_loads_no_database_log_or_training_library(tmp_path: Path) -> None:
    done = _run(
        f"""
        import sys, annolog
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_error_the_sdk_can_raise_is_exported_by_annolog() -> None:
    ours = {name for name, kind in inspect.getmembers(errors, inspect.isclass) if issubclass(kind, errors.AnnologError)}
    assert ours <= set(annolog.__all__)
    assert all(getattr(annolog, name) is getattr(errors, name) for name in ours)


def test_to_pytorch_without_its_extra_says_which_extra_to_install(tmp_path: Path) -> None:
    done = _run(
        f"""
        import sys
        sys.modules["torch"] = None  # as if the train extra were not installed
        import annolog
        photos = annolog.Client({str(tmp_path / "data")!r}).create_project("p").directory.new("photos")
        try:
            photos.to_pytorch()
        except annolog.MissingExtra as exc:
            print(exc)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "to_pytorch() needs the 'train' extra" in done.stdout and "pip install 'annolog[train]'" in done.stdout


@pytest.mark.parametrize("layer", ["core", "eventlog", "projections", "blobs", "api"])
def test_a_layer_is_importable_only_inside_annolog_outside_the_checkout(tmp_path: Path, layer: str) -> None:
    done = _run(f"import annolog.{layer}; import {layer}", tmp_path)
    assert f"No module named '{layer}'" in done.stderr
