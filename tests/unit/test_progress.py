"""Progress.await_until: coroutines told of the projector's progress without holding a thread."""

import asyncio
import threading
import time
from uuid import uuid4

from annolog.projections.notify import Progress, announced


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


def test_a_coroutine_waiting_on_one_project_sleeps_through_the_others_batches() -> None:
    progress = Progress(recheck_s=60)
    mine, other = uuid4(), uuid4()
    checks = 0

    async def ready() -> bool:
        nonlocal checks
        checks += 1
        return checks > 1

    async def wait() -> float:
        waiter = asyncio.create_task(progress.await_until(ready, 30, project=mine))
        await asyncio.sleep(0.1)
        progress.advance({other})
        await asyncio.sleep(0.2)
        assert not waiter.done() and checks == 1  # not woken, not read again
        started = time.monotonic()
        progress.advance({other, mine})
        assert await waiter
        return time.monotonic() - started

    assert asyncio.run(wait()) < 1


def test_an_advance_that_names_no_project_wakes_every_waiter() -> None:
    progress = Progress(recheck_s=60)
    woken = False

    async def ready() -> bool:
        return woken

    async def wait() -> bool:
        nonlocal woken
        waiter = asyncio.create_task(progress.await_until(ready, 5, project=uuid4()))
        await asyncio.sleep(0.1)
        woken = True
        progress.advance()  # the listener reconnected: anything may have happened meanwhile
        return await waiter

    started = time.monotonic()
    assert asyncio.run(wait())
    assert time.monotonic() - started < 1


def test_a_notification_names_its_projects_and_an_empty_one_names_them_all() -> None:
    a, b = uuid4(), uuid4()

    assert announced([f"{a},{b}", str(a)]) == {a, b}
    assert announced([str(a), ""]) is None  # a batch of too many projects, or an older projector


def test_a_notification_that_names_no_project_id_wakes_everyone_rather_than_stopping_the_listener() -> None:
    assert announced([str(uuid4()), "not-a-uuid"]) is None
