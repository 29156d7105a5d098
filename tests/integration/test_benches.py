"""Benches that cannot rot: each runs at a tiny size against the real services, so the
figures in a closing note can always be reproduced with `make bench`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"

TINY = {
    "log_append": ["--commits", "50", "--instances", "2"],
    "project": ["--files", "30", "--instances-per-file", "2", "--rate", "5", "--seconds", "2"]
    + ["--directory-files", "300", "--directory-changes", "60", "--repeats", "2"],
    "slice": ["--files", "200", "--instances", "1000", "--labels", "5", "--versions", "3", "--repeats", "2"],
    "stream": ["--files", "40", "--size", "64x48", "--workers", "1", "--batch-size", "8"]
    + ["--big-files", "100", "--rounds", "1", "--repeats", "1"],
    "ingest": ["--images", "20", "--per-image", "3"],
    "api": ["--files", "10", "--per-file", "2", "--clients", "1", "2", "--seconds", "1"],
}
"""Arguments that make each bench a smoke run of a few seconds; every bench module is listed."""


def test_every_bench_module_has_a_smoke_run() -> None:
    benches = {path.stem for path in BENCH.glob("*.py") if not path.name.startswith("_")}
    assert benches == set(TINY)


@pytest.mark.parametrize("bench", TINY)
def test_the_bench_runs_to_its_end_at_a_tiny_size(
    bench: str, kafka_bootstrap: str, database_url: str, s3_endpoint: str
) -> None:
    env = {
        **os.environ,
        "ANNOLOG_TEST_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ANNOLOG_TEST_DATABASE_URL": database_url,
        "ANNOLOG_TEST_S3_ENDPOINT": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{bench}", *TINY[bench]],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
