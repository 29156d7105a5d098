"""Which log partitions this projector process projects: one lease per partition.

Several ``annolog projector`` processes share the partitions. Each partition is leased
by at most one of them at a time; a process that dies loses its leases within a second
or two and the others take them over; when one joins, the others hand it its share.

How: PostgreSQL session-level advisory locks, held on one dedicated connection per
process (``PostgresLeases``). A lease is ``pg_try_advisory_lock(space, partition)``;
the process is alive exactly as long as that connection, so a killed or crashed
projector's leases vanish as soon as PostgreSQL sees its socket close — no expiry clock
to tune, no heartbeat table to write. Each process also holds a *shared* lock on a
member key, so ``pg_locks`` tells everyone how many projectors N are alive; each leases
at most ceil(P / N) of the P partitions and releases any above that (rebalance),
checking every ``recheck_s``. ``space`` is derived from the views' schema, so stacks
that share one PostgreSQL database (one schema each) never share leases.

Leases are about efficiency and ownership, not correctness. The projector locks a
partition's row in ``log_positions`` (``SELECT … FOR UPDATE``) in each batch's own
transaction and drops a batch whose start offset moved, so two processes briefly
projecting one partition (a lease lost with its connection in an outage, taken over
while the old holder finishes a batch) still apply every commit exactly once, and the
outcome never depends on how many processes run.

Why not a Kafka consumer group: the offsets live in the views' database, written in the
same transaction as the rows they produced, which is what makes projection exactly
once; a group would keep a second, disagreeing set of offsets in Kafka and rebalance on
its own timers, with a window in which a revoked member still writes. The embedded
SqlLog has no groups at all, while this database is there on both stacks. Nor
``SKIP LOCKED`` on the position rows: a row lock lives only as long as a transaction,
so holding a lease would mean holding a transaction open for the process's lifetime.

On SQLite (``AllPartitions``) there is nothing to share: the embedded file has one
writer at a time, so every process may try every partition and takes turns on its lock.
"""

import logging
import math
import os
import socket
import time
import zlib
from contextlib import suppress
from typing import Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from annolog.projections.database import database_errors

log = logging.getLogger(__name__)

MEMBER_KEY = 2**31 - 1
"""The advisory-lock key every live projector holds shared; partitions use keys 0…P-1."""

_MEMBERS = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND classid = CAST(:space AS oid) AND objid = CAST(:member AS oid)"
)


class Leases(Protocol):
    """The partitions this process may project now."""

    def owned(self) -> list[int]:
        """The partitions leased to this process, renewed when due; raises ``DatabaseUnavailable``
        when the leases cannot be checked (the caller backs off and asks again)."""
        ...

    def close(self) -> None:
        """Give every lease back."""
        ...


def partition_leases(engine: Engine, partitions: int, *, recheck_s: float = 1.0) -> Leases:
    """Leases among the projectors on ``engine``'s database: advisory locks on PostgreSQL, all on SQLite."""
    if engine.dialect.name == "postgresql":
        return PostgresLeases(engine, partitions, recheck_s=recheck_s)
    return AllPartitions(partitions)


class AllPartitions:
    """Every partition, always: the embedded SQLite file serializes its projectors itself."""

    def __init__(self, partitions: int) -> None:
        self._all = list(range(partitions))

    def owned(self) -> list[int]:
        return self._all

    def close(self) -> None:
        pass


class PostgresLeases:
    """A fair share of ``partitions`` as session advisory locks on a connection of its own.

    >>> leases = PostgresLeases(engine, partitions=12)  # doctest: +SKIP
    >>> leases.owned()                                  # doctest: +SKIP
    [0, 1, 2, 3, 4, 5]
    """

    def __init__(self, engine: Engine, partitions: int, *, recheck_s: float = 1.0) -> None:
        self._engine = engine
        self._partitions = partitions
        self._recheck_s = recheck_s
        self._db: Connection | None = None
        self._space = 0
        self._held: set[int] = set()
        self._renewed_at = -math.inf

    def owned(self) -> list[int]:
        if self._db is None or time.monotonic() - self._renewed_at >= self._recheck_s:
            self._renew()
        return sorted(self._held)

    def close(self) -> None:
        if self._db is not None and self._held:
            with suppress(DBAPIError):  # now, rather than once PostgreSQL notices the closed socket
                self._db.execute(text("SELECT pg_advisory_unlock_all()"))
        self._disconnect()

    def _renew(self) -> None:
        """Count the members, then release leases above this process's share or take free ones up to it."""
        before = set(self._held)
        try:
            with database_errors(self._engine, "renew the projector's partition leases"):
                db = self._connection()
                members = int(db.execute(_MEMBERS, {"space": self._space, "member": MEMBER_KEY}).scalar_one())
                share = math.ceil(self._partitions / max(members, 1))
                for partition in sorted(self._held, reverse=True)[: max(len(self._held) - share, 0)]:
                    self._release(db, partition)
                for partition in range(self._partitions):
                    if len(self._held) >= share:
                        break
                    if partition not in self._held:
                        self._try_lease(db, partition)
        except BaseException:
            self._disconnect()  # its locks are gone or in doubt: start over on the next renewal
            raise
        self._renewed_at = time.monotonic()
        if self._held != before:
            log.info("projecting partitions %s of %d (%d projector(s))", sorted(self._held), self._partitions, members)

    def _connection(self) -> Connection:
        """The lease connection, opened (and joined as a member) when there is none."""
        if self._db is None:
            db = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._db = db  # set first, so that a failure below closes it
            schema = db.execute(text("SELECT current_schema()")).scalar_one()
            self._space = lease_space(str(schema))
            # Names the process in pg_stat_activity, so an operator sees who holds which partition.
            db.execute(text("SELECT set_config('application_name', :name, false)"), {"name": holder_name()})
            db.execute(
                text("SELECT pg_advisory_lock_shared(:space, :member)"), {"space": self._space, "member": MEMBER_KEY}
            )
        return self._db

    def _try_lease(self, db: Connection, partition: int) -> None:
        lease = text("SELECT pg_try_advisory_lock(:space, :partition)")
        if db.execute(lease, {"space": self._space, "partition": partition}).scalar_one():
            self._held.add(partition)

    def _release(self, db: Connection, partition: int) -> None:
        db.execute(
            text("SELECT pg_advisory_unlock(:space, :partition)"), {"space": self._space, "partition": partition}
        )
        self._held.discard(partition)

    def _disconnect(self) -> None:
        """Close the lease connection for real: a pooled connection would keep its locks."""
        db, self._db = self._db, None
        self._held.clear()
        if db is not None:
            db.invalidate()
            db.close()


def lease_space(schema: str) -> int:
    """The first advisory-lock key of the leases of the views in ``schema`` (a positive int4)."""
    return zlib.crc32(f"annolog partition leases {schema}".encode()) & 0x7FFFFFFF


def holder_name() -> str:
    """How a projector's lease connection names itself in ``pg_stat_activity``."""
    return f"annolog projector {socket.gethostname()}:{os.getpid()}"
