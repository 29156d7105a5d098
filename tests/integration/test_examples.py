"""The shipped examples keep working: the demo tells its story, a training run on a pinned version is reproducible."""

import os
import subprocess
import sys
from pathlib import Path

import annolog
from examples.train import build_project, train


def test_training_twice_on_a_pinned_version_sees_bit_identical_batches(tmp_path: Path) -> None:
    project = build_project(annolog.Client(tmp_path, actor="trainer"), files=12)
    pinned = project.directory.get("photos", version="train-v1")
    first, second = train(pinned, steps=3, batch_size=4), train(pinned, steps=3, batch_size=4)
    assert len(first.batch_digests) == 3
    assert first.batch_digests == second.batch_digests and first.losses == second.losses
    assert train(pinned, steps=3, batch_size=4, seed=1).batch_digests != first.batch_digests


def test_the_demo_tells_the_whole_story_on_the_embedded_default(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.demo"],
        capture_output=True,
        text=True,
        env={**os.environ, "ANNOLOG_DATA_DIR": str(tmp_path)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "category_id 42 is not in categories" in out  # the import lists what it refused
    assert "photos, pinned at v1         person (0, 64, 325, 512)" in out  # the pinned version did not move
    assert "people, latest               photographer (20, 64, 320, 512)" in out
    assert "3 of 5 photos match 'attributes.score > 0.9'" in out
    assert "both runs saw bit-identical batches: True" in out
    assert "latest                          255.0" in out  # the array edit, and the version before it
    assert "pinned at version 15            122.2" in out
    assert "equal" in out and "DIFFERENT" not in out
    assert (tmp_path / "exports" / "coco" / "annotations.json").is_file()
