"""Benches that cannot rot: each runs at a tiny size against the real services, so the
figures in a closing note can always be reproduced with `make bench`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.chromium import missing
from tests.conftest import unavailable

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"

HELPERS = {"common", "postgres"}
"""Modules of bench/ that other benches import, not benches themselves."""

TINY: dict[str, tuple[str, list[str]]] = {
    "log_append": ("log_append", ["--commits", "50", "--instances", "2"]),
    "project": (
        "project",
        ["--files", "30", "--instances-per-file", "2", "--durable", "--profile", "{tmp}"]
        + ["--projectors", "1", "2", "--partitions", "2", "--projects", "2", "--writers", "1", "2"]
        + ["--rates", "5", "--seconds", "0.3", "--directory-files", "300", "--directory-changes", "60"]
        + ["--repeats", "2", "--labels", "50"],
    ),
    "slice": ("slice", ["--files", "200", "--instances", "1000", "--labels", "5", "--versions", "3", "--repeats", "2"]),
    "stream": (
        "stream",
        ["--files", "40", "--size", "64x48", "--workers", "1", "--batch-size", "8"]
        + ["--big-files", "100", "--rounds", "1", "--repeats", "1"],
    ),
    "ingest": ("ingest", ["--images", "20", "--per-image", "3", "2", "--durable"]),
    "ingest-scale-server": ("ingest", ["--instances", "400", "--per-image", "4", "--batch-files", "20"]),
    "ingest-scale-embedded": (
        "ingest",
        ["--instances", "400", "--per-image", "4", "--batch-files", "20"] + ["--stack", "embedded"],
    ),
    "history": (
        "history",
        ["--depths", "2", "5", "--files", "5", "--boxes", "3", "--cold-files", "10", "--repeats", "2"],
    ),
    "api": ("api", ["--files", "10", "--per-file", "2", "--clients", "1", "2", "--seconds", "1"]),
    "arrays": ("arrays", ["--megabytes", "1", "--side", "32", "--versions", "5"]),
    "thumbnails": ("thumbnails", ["--files", "3", "--image", "320x240", "--clients", "1", "--seconds", "0.5"]),
    "web": ("web", ["--files", "200", "--instances", "20", "--repeat", "1"]),
    "masks": ("masks", ["--images", "10", "--per-image", "3", "--size", "320x240"]),
    "video": (
        "video",
        ["--videos", "2", "--frames", "20", "--size", "64x48", "--keyframe-every", "5", "--annotate-every", "4"]
        + ["--rounds", "1"],
    ),
}
"""Each smoke run: the bench module and arguments that make it a run of a few seconds ("{tmp}": a
fresh folder); every bench module and every mode of one is listed."""


def test_every_bench_module_has_a_smoke_run() -> None:
    benches = {path.stem for path in BENCH.glob("*.py") if not path.name.startswith("_")} - HELPERS
    assert benches == {module for module, _ in TINY.values()}


BROWSER = {"web"}
"""Benches that drive Debian's headless Chromium: marked ``browser``; without it they fail
under `make test` and are skipped elsewhere, as the browser tests are."""


@pytest.mark.parametrize("bench", [pytest.param(b, marks=pytest.mark.browser) if b in BROWSER else b for b in TINY])
def test_the_bench_runs_to_its_end_at_a_tiny_size(
    bench: str, kafka_bootstrap: str, database_url: str, s3_endpoint: str, tmp_path: Path
) -> None:
    module, arguments = TINY[bench]
    if bench in BROWSER and (absent := missing()):
        unavailable(f"{' and '.join(absent)} not installed: run scripts/chromium.sh install (make test does)")
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
        [sys.executable, "-m", f"bench.{module}", *(a.replace("{tmp}", str(tmp_path)) for a in arguments)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
