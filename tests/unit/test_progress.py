"""Progress.await_until: coroutines told of the projector's progress without holding a thread."""

import asyncio
import threading
import time

from annolog.projections.notify import Progress


def test_an_advance_from_another_thread_wakes_a_waiting_coroutine_at_once() -> None:
    progress = Progress(recheck_s=60)
    done = threading.Event()

    async def ready() -> bool:
        return done.is_set()

    def later() -> None:
        time.sleep(0.2)
        done.set()
        progress.advance()

    async def wait() -> tuple[bool, float]:
        threading.Thread(target=later).start()
        started = time.monotonic()
        return await progress.await_until(ready, 30), time.monotonic() - started

    arrived, waited = asyncio.run(wait())
    assert arrived
    assert waited < 2


def test_an_advance_between_the_check_and_the_wait_is_not_lost() -> None:
    progress = Progress(recheck_s=60)
    checks = 0

    async def ready() -> bool:  # the wake-up lands after the check, before the coroutine waits
        nonlocal checks
        checks += 1
        if checks == 1:
            progress.advance()
        return checks > 1

    started = time.monotonic()
    assert asyncio.run(progress.await_until(ready, 30))
    assert time.monotonic() - started < 2


def test_without_an_advance_the_coroutine_rechecks_then_times_out() -> None:
    progress = Progress()
    checks = 0

    async def ready() -> bool:
        nonlocal checks
        checks += 1
        return False

    started = time.monotonic()
    assert not asyncio.run(progress.await_until(ready, 0.5, recheck_s=0.1))
    assert 0.5 <= time.monotonic() - started < 2
    assert 4 <= checks <= 7


def test_a_cancelled_waiter_leaves_nothing_to_wake() -> None:
    progress = Progress(recheck_s=60)

    async def never() -> bool:
        return False

    async def cancel() -> None:
        waiter = asyncio.create_task(progress.await_until(never, 30))
        await asyncio.sleep(0.1)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)

    asyncio.run(cancel())
    assert not progress._futures
