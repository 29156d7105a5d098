"""Judging a batch of records at once: set reads up front, an overlay in memory, bulk writes at the end.

For one batch the projector (1) reads in a few set queries what the batch will ask about:
which commit ids were judged before, the projects and their chain heads, and per project
the rows its events name (``Overlay.prefetch``); (2) judges the commits one after the
other in log order against each project's in-memory ``Overlay`` — a rejected commit's
changes are dropped in memory, with no savepoint; (3) writes everything in bulk (COPY on
PostgreSQL): closed rows, new rows, new projects and versions, outcomes, history and bad
records. The caller runs it in the transaction that also stores the partition's offset,
so a batch is applied exactly once, or not at all.

Outcomes and views are those of the one-commit-at-a-time path (``projector.apply_record``):
the same rules decide, and a contract test holds the two paths to equal checksums.
"""

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, bindparam, select, tuple_, update

from annolog.core.commit import Commit
from annolog.core.errors import ConfigurationError
from annolog.core.events import Event, ProjectCreated
from annolog.core.rules import Key, judge, opening
from annolog.eventlog.log import BadRecord, LogRecord, Record
from annolog.projections import outcomes
from annolog.projections.bulk import close_rows, insert_rows
from annolog.projections.chain import GENESIS, link
from annolog.projections.database import is_outage
from annolog.projections.loader import SqlBase, select_in
from annolog.projections.overlay import EmptyBase, Overlay
from annolog.projections.tables import commits, history, projects, rejected_records, table_named

log = logging.getLogger(__name__)


class Batch:
    """One batch of records being judged in memory, then written at once (see the module)."""

    def __init__(self, db: Connection, records: Sequence[Record], stop_at: Mapping[UUID, int]) -> None:
        self._db = db
        self._stop_at = stop_at
        found = [r.commit for r in records if isinstance(r, LogRecord)]
        self._judged = self._judged_before([c.commit_id for c in found])
        self._projects = self._load_projects({c.project_id for c in found})
        self._stored_version = {pid: version for pid, (_, version) in self._projects.items()}
        self._names_taken = self._load_names({e.name for c in found for e in c.events if isinstance(e, ProjectCreated)})
        self._chains = self._load_chains()
        events: dict[UUID, list[Event]] = defaultdict(list)
        for commit in found:
            events[commit.project_id].extend(commit.events)
        self._states: dict[UUID, Overlay] = {}
        for project_id, named in events.items():
            existing = project_id in self._projects
            state = Overlay(project_id, SqlBase(db, project_id) if existing else EmptyBase())
            if existing:
                state.prefetch(named)
            self._states[project_id] = state
        self._new_projects: dict[UUID, dict[str, Any]] = {}
        self._outcomes: list[dict[str, Any]] = []
        self._history: list[dict[str, Any]] = []
        self._bad: list[dict[str, Any]] = []

    # -- reading in sets -----------------------------------------------------------------------

    def _judged_before(self, commit_ids: list[UUID]) -> set[UUID]:
        return {
            row.commit_id for row in select_in(self._db, select(commits.c.commit_id), commits.c.commit_id, commit_ids)
        }

    def _load_projects(self, project_ids: set[UUID]) -> dict[UUID, tuple[str, int]]:
        query = select(projects.c.project_id, projects.c.name, projects.c.version)
        return {
            row.project_id: (row.name, row.version)
            for row in select_in(self._db, query, projects.c.project_id, project_ids)
        }

    def _load_names(self, names: set[str]) -> set[str]:
        return {row.name for row in select_in(self._db, select(projects.c.name), projects.c.name, names)}

    def _load_chains(self) -> dict[UUID, str]:
        heads = [(pid, version) for pid, (_, version) in self._projects.items() if version > 0]
        query = select(commits.c.project_id, commits.c.chain).where(commits.c.accepted)
        found = select_in(self._db, query, tuple_(commits.c.project_id, commits.c.version), heads)
        chains = {row.project_id: row.chain for row in found}
        for project_id, version in heads:
            if project_id not in chains:
                name = self._projects[project_id][0]
                raise ConfigurationError(
                    f"project {name!r} is at version {version} but no accepted commit made that version: "
                    "the views are damaged; rebuild them from the log (annolog replay)"
                )
        return chains

    # -- judging -------------------------------------------------------------------------------

    def apply(self, record: Record) -> None:
        """Judge one record against the overlay: accepted, rejected, or a duplicate."""
        if isinstance(record, BadRecord):
            self._bad.append(outcomes.bad_record(record))
            return
        commit = record.commit
        if commit.commit_id in self._judged:
            log.info("commit %s at %s was judged before; skipped", commit.commit_id, record.position)
            return
        if (stop := self._stop_at.get(commit.project_id)) is not None and self._version(commit.project_id) >= stop:
            return
        self._judged.add(commit.commit_id)
        state = self._states[commit.project_id]
        try:
            name, version = opening(commit, self._projects.get(commit.project_id), self._names_taken.__contains__)
            entries = judge(commit, name, version + 1, state)
        except Exception as exc:  # anything but an outage is this commit's rejection
            if is_outage(self._db.dialect.name, exc):
                raise
            state.drop()
            self._outcomes.append(outcomes.rejected(record, exc))
            return
        state.keep()
        self._accept(record, commit, name, version + 1)
        self._history.extend(outcomes.history(commit, version + 1, entries))

    def _version(self, project_id: UUID) -> int:
        found = self._projects.get(project_id)
        return 0 if found is None else found[1]

    def _accept(self, record: LogRecord, commit: Commit, name: str, version: int) -> None:
        if version == 1:
            self._names_taken.add(name)
            self._new_projects[commit.project_id] = {
                "project_id": commit.project_id,
                "name": name,
                "created_by": commit.actor,
            }
        self._projects[commit.project_id] = (name, version)
        chain = link(self._chains.get(commit.project_id, GENESIS), version, record.payload)
        self._chains[commit.project_id] = chain
        self._outcomes.append(outcomes.accepted(record, version, chain))

    # -- writing in bulk -------------------------------------------------------------------------

    def write(self) -> None:
        """Write everything the batch decided, in bulk, inside the caller's transaction."""
        db = self._db
        insert_rows(
            db, projects, [row | {"version": self._projects[pid][1]} for pid, row in self._new_projects.items()]
        )
        moved = [
            {"p_id": pid, "p_version": self._projects[pid][1]}
            for pid, stored in self._stored_version.items()
            if self._projects[pid][1] != stored
        ]
        if moved:
            statement = update(projects).where(projects.c.project_id == bindparam("p_id"))
            db.execute(statement.values(version=bindparam("p_version")), moved)
        inserts: dict[str, list[dict[str, Any]]] = defaultdict(list)
        closes: dict[str, list[tuple[UUID, Key, int]]] = defaultdict(list)
        for project_id, state in self._states.items():
            for table, writes in state.writes().items():
                inserts[table].extend(writes.inserts)
                closes[table].extend((project_id, key, to) for key, to in writes.closes)
        for table, closed in closes.items():  # first: a new current row may replace a closed one
            close_rows(db, table_named(table), closed)
        for table, rows in inserts.items():
            insert_rows(db, table_named(table), rows)
        insert_rows(db, commits, self._outcomes)
        insert_rows(db, history, self._history)
        insert_rows(db, rejected_records, self._bad)


def apply_batch(db: Connection, records: Sequence[Record], *, stop_at: Mapping[UUID, int] | None = None) -> None:
    """Judge ``records`` in log order and write their rows in bulk, inside ``db``'s transaction.

    ``stop_at`` leaves alone the commits of each project it names once that project has
    reached the version given (a replay up to a version).

    Raises when the database is unreachable, or when the bulk write breaks a constraint
    the judge missed (the caller then re-judges the batch one commit at a time, which
    names the commit and rejects it).
    """
    batch = Batch(db, records, stop_at or {})
    for record in records:
        batch.apply(record)
    batch.write()
