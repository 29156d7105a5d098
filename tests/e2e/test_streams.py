"""Many live streams on one real `annolog serve` (Kafka + PostgreSQL + S3): an open stream
holds no worker thread, so reads still answer while hundreds wait, and a change committed
now reaches every one of them."""

import asyncio
import statistics
import time
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

import annolog
from annolog.api.tokens import Tokens
from tests.e2e.conftest import jpeg

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]

STREAMS = 200  # five times the server's 40 worker threads, which streams once held one each


def _server_threads(url: str) -> int:
    """Threads of the `annolog serve` process listening at ``url`` (Linux /proc)."""
    port = url.rsplit(":", 1)[1]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended meanwhile
            continue
        if b"serve" in argv and port.encode() in argv:
            status = (cmdline.parent / "status").read_text()
            return int(next(line for line in status.splitlines() if line.startswith("Threads:")).split()[1])
    raise LookupError(f"no `annolog serve` on port {port}")


class Listener:
    """One open stream of changes: when it opened, and when its first change arrived."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.change: str | None = None
        self.arrived_at = 0.0

    async def listen(self, http: httpx.AsyncClient, path: str, params: dict[str, str | int]) -> None:
        async with http.stream("GET", path, params=params) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                self.opened.set()  # the first frame (retry:) came: the stream is open
                if line.startswith("data: "):
                    self.change, self.arrived_at = line, time.monotonic()
                    return


async def _latencies(http: httpx.AsyncClient, paths: list[str], rounds: int) -> list[float]:
    taken = []
    for _ in range(rounds):
        for path in paths:
            started = time.monotonic()
            assert (await http.get(path)).status_code == 200, path
            taken.append(time.monotonic() - started)
    return taken


@pytest.mark.timeout(180)
def test_reads_answer_promptly_while_200_streams_are_open_and_a_change_reaches_them_all(
    url: str, tokens: Tokens
) -> None:
    token = tokens.create(f"owner-{uuid4().hex[:6]}", created_by="test")
    project = annolog.Client(url, token=token).create_project(f"streams-{uuid4().hex[:8]}", labels=["car"])
    folder = project.directory.new("live")
    photo = folder.add_file(jpeg(), name="p.jpg")
    since = project.version
    reads = [f"/projects/{project.name}", f"/projects/{project.name}/files/{photo.id}?version={since}"]

    async def scenario() -> tuple[list[Listener], list[float], float, int]:
        headers = {"Authorization": f"Bearer {token}"}
        limits = httpx.Limits(max_connections=STREAMS + 10, max_keepalive_connections=STREAMS + 10)
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as http:
            listeners = [Listener() for _ in range(STREAMS)]
            params: dict[str, str | int] = {"directory": str(folder.id), "since": since}
            tasks = [
                asyncio.create_task(one.listen(http, f"/projects/{project.name}/changes", params)) for one in listeners
            ]
            await asyncio.wait_for(asyncio.gather(*(one.opened.wait() for one in listeners)), 60)
            threads = _server_threads(url)
            taken = await _latencies(http, reads, rounds=10)
            drawn_at = time.monotonic()
            await asyncio.to_thread(photo.add_instance, "car", box=(1, 1, 9, 9))
            await asyncio.wait_for(asyncio.gather(*tasks), 30)
            return listeners, taken, drawn_at, threads

    listeners, taken, drawn_at, threads = asyncio.run(scenario())
    delays = sorted(one.arrived_at - drawn_at for one in listeners)
    print(
        f"\n{STREAMS} streams open: server threads {threads}; reads p50 {statistics.median(taken) * 1000:.0f} ms, "
        f"max {max(taken) * 1000:.0f} ms; the change reached them all in {delays[-1]:.2f} s "
        f"(p50 {statistics.median(delays):.2f} s)"
    )
    assert max(taken) < 3.0
    assert all(one.change is not None and '"InstanceAdded"' in one.change for one in listeners)
    assert delays[-1] < 5.0
