"""Being told that the projector got further, instead of polling for it.

The projector announces each batch it commits: in this process (the embedded default)
by calling ``Progress.advance``; across processes on PostgreSQL with ``NOTIFY`` on
``CHANNEL``, sent in the batch's own transaction so it arrives only once the rows are
visible, naming the projects the batch touched. A ``PostgresListener`` thread per
process turns those notifications into ``advance`` calls. Waiters re-check what they
wait for after each wake-up, and once per ``recheck_s`` anyway, so a notification lost
while the listener reconnects (or a writer in another process on the embedded SQLite
file, which cannot notify) costs at most that.

Threads wait with ``wait_until``; coroutines with ``await_until``, which holds no thread
while it waits: a live stream open for hours must not keep one of the server's workers.
A coroutine may wait on one project: hundreds of streams of one project then sleep
through the batches of the others, instead of each reading the database on every one.
"""

import asyncio
import logging
import select
import threading
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

CHANNEL = "annolog_projected"
MAX_PAYLOAD = 7999
"""PostgreSQL refuses a NOTIFY payload of 8000 bytes or more: a batch of more projects than
fit (about 200) announces itself as an empty payload, which wakes every waiter."""


def announce(db: Connection, projects: Collection[UUID]) -> None:
    """Tell listeners in other processes, when ``db``'s transaction commits, that the views
    of ``projects`` moved on."""
    if db.dialect.name == "postgresql":
        payload = ",".join(sorted(str(p) for p in projects))
        db.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANNEL, "payload": payload if len(payload) <= MAX_PAYLOAD else ""},
        )


def announced(payloads: Collection[str]) -> set[UUID] | None:
    """The projects NOTIFY ``payloads`` name; None (every project) if one names none, or names
    something that is no project id (anyone who may connect can NOTIFY on the channel)."""
    if not all(payloads):
        return None
    try:
        return {UUID(text) for payload in payloads for text in payload.split(",")}
    except ValueError:
        return None


class Progress:
    """A generation counter that threads and coroutines wait on; ``advance`` wakes them."""

    def __init__(self, *, recheck_s: float = 1.0) -> None:
        self._changed = threading.Condition()
        self._generation = 0  # every advance
        self._everything = 0  # the last advance that named no project
        self._touched: dict[UUID, int] = {}  # the last advance that named each project
        self._recheck_s = recheck_s
        self._futures: dict[asyncio.Future[None], UUID | None] = {}  # waiting coroutines, on their own loops

    def advance(self, projects: Collection[UUID] | None = None) -> None:
        """Wake the waiters: all of them, or (``projects``) those waiting on one of these
        projects or on none in particular."""
        with self._changed:
            self._generation += 1
            if projects is None:
                self._everything = self._generation
            for project in projects or ():
                self._touched[project] = self._generation
            self._changed.notify_all()
            woken = [f for f, on in self._futures.items() if on is None or projects is None or on in projects]
            for future in woken:
                del self._futures[future]
        for future in woken:
            _wake(future)

    def wait_until(self, ready: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until ``ready()`` holds (True) or ``timeout_s`` passes (False)."""
        deadline = time.monotonic() + timeout_s
        while True:
            seen = self._seen()  # taken before the check: a wake-up after it is not lost
            if ready():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._changed:
                self._changed.wait_for(lambda: self._generation != seen, min(remaining, self._recheck_s))

    async def await_until(
        self,
        ready: Callable[[], Awaitable[bool]],
        timeout_s: float,
        *,
        project: UUID | None = None,
        recheck_s: float | None = None,
    ) -> bool:
        """``wait_until`` for coroutines: no thread is held between the checks of ``ready()``,
        which are made again only when ``project`` (or any project, without it) advances.

        ``recheck_s`` (default: the one given at construction) bounds how long a lost
        notification can go unseen; many idle waiters may want it longer, so that they do
        not each ask the database every second.
        """
        period = self._recheck_s if recheck_s is None else recheck_s
        deadline = time.monotonic() + timeout_s
        while True:
            seen = self._seen()
            if await ready():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await self._advanced_since(seen, project, min(remaining, period))

    def _seen(self) -> int:
        with self._changed:
            return self._generation

    async def _advanced_since(self, seen: int, project: UUID | None, timeout_s: float) -> None:
        """Return once ``project`` (or any) advanced past generation ``seen``, or after ``timeout_s``."""
        future = asyncio.get_running_loop().create_future()
        with self._changed:
            moved = self._generation if project is None else max(self._everything, self._touched.get(project, 0))
            if moved > seen:
                return
            self._futures[future] = project
        try:
            await asyncio.wait([future], timeout=timeout_s)
        finally:  # timed out or cancelled (the client went away): leave nothing behind to wake
            with self._changed:
                self._futures.pop(future, None)


def _wake(future: asyncio.Future[None]) -> None:
    """Resolve ``future`` on its own loop: ``advance`` runs on any thread (the listener's, a worker's)."""
    try:
        future.get_loop().call_soon_threadsafe(_resolve, future)
    except RuntimeError:  # its loop is closed: nobody waits on it any more
        pass


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class PostgresListener:
    """A daemon thread that LISTENs on ``CHANNEL`` and advances ``progress`` on each NOTIFY,
    for the projects it names."""

    def __init__(self, engine: Engine, progress: Progress) -> None:
        self._engine, self._progress = engine, progress
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="annolog-listen", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stopping.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except Exception:  # the database went away: keep waiters on their recheck, retry
                log.warning("LISTEN %s failed; reconnecting in 1 s", CHANNEL, exc_info=True)
                self._stopping.wait(1.0)

    def _listen(self) -> None:
        raw = self._engine.raw_connection()
        try:
            connection: Any = raw.driver_connection  # psycopg2's, for LISTEN and poll()
            connection.autocommit = True
            connection.cursor().execute(f"LISTEN {CHANNEL}")
            self._progress.advance()  # anything that happened while not listening
            while not self._stopping.is_set():
                if select.select([connection], [], [], 1.0)[0]:
                    connection.poll()
                    if connection.notifies:
                        payloads = [notify.payload for notify in connection.notifies]
                        connection.notifies.clear()
                        self._progress.advance(announced(payloads))
        finally:
            raw.invalidate()  # a LISTENing connection must not go back to the pool
