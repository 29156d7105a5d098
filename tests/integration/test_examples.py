"""The shipped examples keep working: a training run on a pinned version is reproducible."""

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
