"""Several processes hammer overlapping regions of one array: no acknowledged write is lost.

Each write puts a value no other write uses into a random rectangle that cuts chunks
partway, so most writes merge into chunks others write too. Every acknowledged write
comes back with the version its commit made; replaying the acknowledged writes in version
order onto a fresh numpy array must give exactly the final array. A lost update (a merge
over a stale chunk that was not rejected and retried) leaves some element with an older
write's value, or the fill value, where a later write put its own.
"""

import multiprocessing
import random
from pathlib import Path

import numpy as np

import annolog

SHAPE, CHUNKS = (24, 24), (4, 4)
PROCESSES, WRITES = 4, 12


def hammer(data_dir: str, worker: int) -> list[tuple[int, int, tuple[int, int, int, int]]]:
    """``WRITES`` writes of this worker's values; (version, value, rectangle) of each acknowledged."""
    rng = random.Random(worker)
    acked = []
    with annolog.Client(data_dir, actor="ana") as client:
        a = client.project("scans").array.get("m")
        for k in range(WRITES):
            r0, c0 = rng.randrange(SHAPE[0] - 1), rng.randrange(SHAPE[1] - 1)
            r1, c1 = rng.randrange(r0 + 1, min(r0 + 9, SHAPE[0]) + 1), rng.randrange(c0 + 1, min(c0 + 9, SHAPE[1]) + 1)
            value = (worker + 1) * 1000 + k
            a[r0:r1, c0:c1] = value
            acked.append((a.version, value, (r0, r1, c0, c1)))
    return acked


def test_concurrent_partial_writes_lose_nothing_on_the_embedded_default(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    with annolog.Client(data_dir, actor="ana") as client:
        client.create_project("scans").array.new("m", shape=SHAPE, dtype="int32", chunks=CHUNKS, fill_value=-1)
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        results = pool.starmap(hammer, [(data_dir, worker) for worker in range(PROCESSES)])
    acked = sorted(write for result in results for write in result)
    assert len(acked) == PROCESSES * WRITES  # every write landed, retried as often as it had to be
    assert len({version for version, _, _ in acked}) == len(acked)  # one commit each
    expected = np.full(SHAPE, -1, np.int32)
    for _, value, (r0, r1, c0, c1) in acked:
        expected[r0:r1, c0:c1] = value
    with annolog.Client(data_dir, actor="ana") as client:
        project = client.project("scans")
        final = project.array.get("m")[:]
        rejected = project.commits(accepted=False)
    assert np.array_equal(final, expected)
    assert all("revision" in (commit.reason or "") for commit in rejected)  # conflicts, retried
