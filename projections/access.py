"""Roles as readers see them: the rules of ``core.permissions`` over rows read from SQL.

The judge asks the same questions of its ``ViewState``; these are the SQL answers, in
sets where a batch asks for many at once (``holders``, ``grants_of``).
"""

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select

from annolog.core.events import Role
from annolog.core.permissions import PROJECT_SCOPE, RANK
from annolog.core.permissions import rank_in_directory as _rank_in_directory
from annolog.core.permissions import rank_on_file as _rank_on_file
from annolog.projections.tables import directories, memberships, roles

__all__ = ["PROJECT_SCOPE", "grants", "grants_of", "holders", "rank_in_directory", "rank_on_file"]


def grants_of(db: Connection, project_id: UUID, principals: Iterable[str]) -> dict[str, dict[UUID, int]]:
    """Each principal's current rank per scope (principals without a role map to ``{}``)."""
    wanted = list(principals)
    found: dict[str, dict[UUID, int]] = {p: {} for p in wanted}
    query = select(roles.c.principal, roles.c.scope_id, roles.c.role).where(
        roles.c.project_id == project_id, roles.c.principal.in_(wanted), roles.c.valid_to.is_(None)
    )
    for principal, scope, role in db.execute(query):
        found[principal][scope] = RANK[Role(role)]
    return found


def grants(db: Connection, project_id: UUID, principal: str) -> dict[UUID, int]:
    """The principal's current rank per scope: the project (``PROJECT_SCOPE``) and directories."""
    return grants_of(db, project_id, [principal])[principal]


def holders(db: Connection, project_id: UUID, file_ids: Iterable[UUID]) -> dict[UUID, dict[UUID, int | None]]:
    """For each file, every directory that ever held it with the end of its latest membership
    (None while it holds the file)."""
    wanted = list(file_ids)
    found: dict[UUID, dict[UUID, int | None]] = {f: {} for f in wanted}
    query = (
        select(memberships.c.file_id, memberships.c.directory_id, memberships.c.valid_to)
        .where(memberships.c.project_id == project_id, memberships.c.file_id.in_(wanted))
        .order_by(memberships.c.valid_from)
    )
    for file_id, directory_id, valid_to in db.execute(query):
        found[file_id][directory_id] = valid_to  # the latest row of each directory wins
    return found


def rank_in_directory(granted: dict[UUID, int], directory: Any) -> int:
    """Rank of someone with ``granted`` in ``directory`` (anything with a ``directory_id`` and an ``access_type``)."""
    return _rank_in_directory(granted, {"directory_id": directory.directory_id, "access_type": directory.access_type})


def rank_on_file(db: Connection, project_id: UUID, granted: dict[UUID, int], file_id: UUID) -> int:
    """Best rank on the file through the directories that hold it (see ``core.permissions``).

    Only the views are read, never a clock, so the judge's replay decides the same way.
    """
    held = holders(db, project_id, [file_id])[file_id]
    rows = db.execute(
        select(directories.c.directory_id, directories.c.access_type).where(
            directories.c.project_id == project_id,
            directories.c.directory_id.in_(list(held)),
            directories.c.valid_to.is_(None),
        )
    )
    found = {row.directory_id: {"directory_id": row.directory_id, "access_type": row.access_type} for row in rows}
    return _rank_on_file(granted, held, found.__getitem__)
