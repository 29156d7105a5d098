"""The projector as a long-running process: it rides out log and database outages.

A batch that fails because Kafka or PostgreSQL went away lost nothing (its transaction
rolled back; the offset is stored with the rows), so the loop backs off and tries again
from the stored offset until the service is back: one warning when an outage starts,
one line when projecting resumes. Any other error still stops the process.
"""

import logging
import threading
import time

from sqlalchemy import Engine
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_when_event_set, wait_random_exponential

from annolog.core.errors import UnavailableError
from annolog.eventlog.log import EventLog
from annolog.projections.database import database_errors
from annolog.projections.projector import Projector

log = logging.getLogger(__name__)


def run(
    engine: Engine,
    event_log: EventLog,
    *,
    stop: threading.Event,
    batch_size: int = 500,
    idle_pause_s: float = 0.01,
    max_backoff_s: float = 5.0,
) -> None:
    """Project ``event_log`` into ``engine`` until ``stop`` is set, waiting out outages.

    >>> run(engine, log, stop=threading.Event())  # doctest: +SKIP
    """
    projector = Projector(engine, event_log, batch_size=batch_size)

    def back_off(seconds: float) -> None:
        stop.wait(seconds)  # a stop request cuts a back-off short

    retrying = Retrying(
        retry=retry_if_exception_type(UnavailableError),
        wait=wait_random_exponential(multiplier=0.2, max=max_backoff_s),  # random: projectors spread out
        stop=stop_when_event_set(stop),
        sleep=back_off,
        before_sleep=_warn_when_an_outage_starts,
        retry_error_callback=lambda _: 0,  # stopped during an outage: nothing projected, and done
    )
    while not stop.is_set():
        started = time.monotonic()
        projected = retrying(_catch_up, projector, engine)
        if retrying.statistics.get("attempt_number", 1) > 1 and not stop.is_set():
            log.warning("the projector resumed after %.1f s", time.monotonic() - started)
        if projected == 0:
            stop.wait(idle_pause_s)


def _catch_up(projector: Projector, engine: Engine) -> int:
    with database_errors(engine, "project the log"):  # a lost connection too: see is_outage
        return projector.catch_up()


def _warn_when_an_outage_starts(state: RetryCallState) -> None:
    if state.attempt_number == 1 and state.outcome is not None:
        log.warning("the projector is waiting for the log or the database: %s", state.outcome.exception())
