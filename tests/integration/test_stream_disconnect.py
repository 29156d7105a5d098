"""A live stream whose client goes away ends on the server at once: no task left waiting on
the projector's progress, nothing left to read the database on the next wake-up."""

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from annolog.api.bootstrap import build_service
from annolog.api.http import create_app
from annolog.api.settings import load_settings
from annolog.api.tokens import Tokens
from tests.stack import free_port

STREAMS = 50


class Server:
    """The API over the embedded default, served by uvicorn on a loop of its own in this process."""

    def __init__(self, data_dir: Path) -> None:
        self.service = build_service(load_settings(data_dir=data_dir))
        self.token = Tokens(self.service.engine).create("owner", created_by="test")
        self.url = f"http://127.0.0.1:{free_port()}"
        port = int(self.url.rsplit(":", 1)[1])
        self._server = uvicorn.Server(uvicorn.Config(create_app(self.service), port=port, log_level="warning"))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._server.serve(),))
        self._thread.start()
        while not self._server.started:
            time.sleep(0.05)

    def tasks(self) -> int:
        """Tasks on the server's loop now: one per request in flight, besides uvicorn's own."""
        return asyncio.run_coroutine_threadsafe(self._count(), self._loop).result(timeout=10)

    async def _count(self) -> int:
        return len(asyncio.all_tasks()) - 1  # not this one

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._loop.close()
        self.service.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "data")
    yield running
    running.stop()


async def _open_streams(server: Server, path: str, opened: asyncio.Event) -> None:
    """Hold ``STREAMS`` streams open until cancelled; ``opened`` is set once all sent their first frame."""
    headers = {"Authorization": f"Bearer {server.token}"}
    started = 0

    async def listen(http: httpx.AsyncClient) -> None:
        nonlocal started
        async with http.stream("GET", path, params={"since": 0}) as response:
            async for _ in response.aiter_lines():
                started += 1
                if started == STREAMS:
                    opened.set()
                await asyncio.Event().wait()  # idle, the way a browser keeps a stream open

    limits = httpx.Limits(max_connections=STREAMS)
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30, limits=limits) as http:
        await asyncio.gather(*(listen(http) for _ in range(STREAMS)))


def _settled(count: int, probe: Server, deadline_s: float) -> int:
    """The server's task count once it reaches ``count`` (or what it is after ``deadline_s``)."""
    deadline = time.monotonic() + deadline_s
    while (now := probe.tasks()) != count and time.monotonic() < deadline:
        time.sleep(0.05)
    return now


def test_streams_whose_clients_went_away_leave_no_task_on_the_server(server: Server) -> None:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as http:
        assert http.post("/projects", json={"name": "live"}).status_code == 201
    idle = server.tasks()

    async def open_then_drop() -> int:
        opened = asyncio.Event()
        clients = asyncio.create_task(_open_streams(server, "/projects/live/changes", opened))
        await asyncio.wait_for(opened.wait(), 30)
        while_open = await asyncio.to_thread(server.tasks)
        clients.cancel()  # every connection closes
        await asyncio.gather(clients, return_exceptions=True)
        return while_open

    while_open = asyncio.run(open_then_drop())
    server.service.progress.advance()  # a wake-up: a stream left running would read and wait again

    assert while_open >= idle + STREAMS  # the probe sees open streams
    assert _settled(idle, server, deadline_s=5) == idle
