"""Being told that the projector got further, instead of polling for it.

The projector announces each batch it commits: in this process (the embedded default)
by calling ``Progress.advance``; across processes on PostgreSQL with ``NOTIFY`` on
``CHANNEL``, sent in the batch's own transaction so it arrives only once the rows are
visible. A ``PostgresListener`` thread per process turns those notifications into
``advance`` calls. Waiters re-check what they wait for after each wake-up, and once per
``recheck_s`` anyway, so a notification lost while the listener reconnects (or a writer
in another process on the embedded SQLite file, which cannot notify) costs at most that.

Threads wait with ``wait_until``; coroutines with ``await_until``, which holds no thread
while it waits: a live stream open for hours must not keep one of the server's workers.
"""

import asyncio
import logging
import select
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

CHANNEL = "annolog_projected"


def announce(db: Connection) -> None:
    """Tell listeners in other processes, when ``db``'s transaction commits, that views moved on."""
    if db.dialect.name == "postgresql":
        db.execute(text(f"NOTIFY {CHANNEL}"))


class Progress:
    """A generation counter that threads and coroutines wait on; ``advance`` wakes them all."""

    def __init__(self, *, recheck_s: float = 1.0) -> None:
        self._changed = threading.Condition()
        self._generation = 0
        self._recheck_s = recheck_s
        self._futures: set[asyncio.Future[None]] = set()  # one per waiting coroutine, on its own loop

    def advance(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()
            woken, self._futures = self._futures, set()
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
        self, ready: Callable[[], Awaitable[bool]], timeout_s: float, *, recheck_s: float | None = None
    ) -> bool:
        """``wait_until`` for coroutines: no thread is held between the checks of ``ready()``.

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
            await self._advanced_since(seen, min(remaining, period))

    def _seen(self) -> int:
        with self._changed:
            return self._generation

    async def _advanced_since(self, seen: int, timeout_s: float) -> None:
        """Return once the generation is past ``seen``, or after ``timeout_s``."""
        future = asyncio.get_running_loop().create_future()
        with self._changed:
            if self._generation != seen:
                return
            self._futures.add(future)
        try:
            await asyncio.wait([future], timeout=timeout_s)
        finally:  # timed out or cancelled (the client went away): leave nothing behind to wake
            with self._changed:
                self._futures.discard(future)


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
    """A daemon thread that LISTENs on ``CHANNEL`` and advances ``progress`` on each NOTIFY."""

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
                        connection.notifies.clear()
                        self._progress.advance()
        finally:
            raw.invalidate()  # a LISTENing connection must not go back to the pool
