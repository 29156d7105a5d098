"""The projector as a long-running process: it shares the partitions, waits on the log, rides out outages.

Each round the process renews its partition leases (see ``projections.leases``: several
projector processes split the partitions between them), asks the log to wait until one
of its partitions has a record past the stored offset, and projects one batch of each
partition the log found so. Waiting is the log's own: a Kafka long-poll, or the embedded
log woken by the append, so an idle projector costs next to no CPU; the wait ends at
least every ``recheck_s`` for the leases to be renewed (a dead projector's partitions
are taken over, a new one gets its share) and for a stop request to be seen.

A round that fails because Kafka or PostgreSQL went away lost nothing (its transaction
rolled back; the offset is stored with the rows), so the loop backs off and tries again
from the stored offset until the service is back: one warning when an outage starts,
one line when projecting resumes. A lost lease connection is such an outage: its leases
are dropped and taken again once the database answers. Any other error stops the process.
"""

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_when_event_set, wait_random_exponential

from annolog.core.errors import UnavailableError
from annolog.eventlog.log import EventLog
from annolog.projections.database import database_errors
from annolog.projections.leases import Leases, partition_leases
from annolog.projections.projector import Projector
from annolog.projections.tables import log_positions

log = logging.getLogger(__name__)


def run(
    engine: Engine,
    event_log: EventLog,
    *,
    stop: threading.Event,
    batch_size: int = 500,
    recheck_s: float = 1.0,
    max_backoff_s: float = 5.0,
) -> None:
    """Project ``event_log`` into ``engine`` until ``stop`` is set, waiting out outages.

    A stop request is seen within ``recheck_s`` when idle, after the current round when busy.

    >>> run(engine, log, stop=threading.Event())  # doctest: +SKIP
    """

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
    rounds = _Rounds(
        engine,
        event_log,
        Projector(engine, event_log, batch_size=batch_size),
        partition_leases(engine, event_log.partitions, recheck_s=recheck_s),
        recheck_s,
        stop,
    )
    try:
        while not stop.is_set():
            started = time.monotonic()
            retrying(rounds.run_one)
            if retrying.statistics.get("attempt_number", 1) > 1 and not stop.is_set():
                log.warning("the projector resumed after %.1f s", time.monotonic() - started)
    finally:
        rounds.leases.close()


@dataclass
class _Rounds:
    """One round of the loop: renew the leases, wait for new records, project a batch of each
    partition the wait named."""

    engine: Engine
    event_log: EventLog
    projector: Projector
    leases: Leases
    recheck_s: float
    stop: threading.Event

    def run_one(self) -> int:
        """How many records this round projected (0 when the wait ended without any)."""
        with database_errors(self.engine, "project the log"):  # a lost connection too: see is_outage
            partitions = self.leases.owned()
            if not partitions:  # more projectors than partitions: a spare, ready to take over
                self.stop.wait(self.recheck_s)
                return 0
            # Only the partitions found with records: asking each of the others for its end
            # cost a broker round trip and a query apiece, in the way of the one with the commit.
            ready = self.event_log.wait(self._next_offsets(partitions), self.recheck_s)
            return sum(self.projector.run_batch(partition) for partition in partitions if partition in ready)

    def _next_offsets(self, partitions: Sequence[int]) -> dict[int, int]:
        """Where each partition's projection stands (0 for one never projected)."""
        query = select(log_positions.c.partition, log_positions.c.next_offset).where(
            log_positions.c.partition.in_(partitions)
        )
        with self.engine.connect() as db:
            stored = {row.partition: int(row.next_offset) for row in db.execute(query)}
        return {partition: stored.get(partition, 0) for partition in partitions}


def _warn_when_an_outage_starts(state: RetryCallState) -> None:
    if state.attempt_number == 1 and state.outcome is not None:
        log.warning("the projector is waiting for the log or the database: %s", state.outcome.exception())
