"""Roles as the judge sees them: the actor's rank in the project, a directory, on a file.

A restricted directory is reachable only with a grant of its own (admins and owners
reach everything); a file is reachable through any directory holding it that the actor
may reach, so a file mirrored into a restricted directory stays open through the others.
A file in no directory is governed by the directories that held it last.
"""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select

from annolog.core.events import AccessType, Role
from annolog.core.permissions import RANK
from annolog.projections.tables import directories, memberships, roles

PROJECT_SCOPE = UUID(int=0)
"""The ``scope_id`` of a project-wide grant (a directory grant has the directory's id)."""


def grants(db: Connection, project_id: UUID, principal: str) -> dict[UUID, int]:
    """The principal's current rank per scope: the project (``PROJECT_SCOPE``) and directories."""
    query = select(roles.c.scope_id, roles.c.role).where(
        roles.c.project_id == project_id, roles.c.principal == principal, roles.c.valid_to.is_(None)
    )
    return {scope: RANK[Role(role)] for scope, role in db.execute(query)}


def rank_in_directory(granted: dict[UUID, int], directory: Any) -> int:
    """Rank of someone with ``granted`` in the ``directory`` row."""
    project_rank = granted.get(PROJECT_SCOPE, 0)
    if project_rank >= RANK[Role.admin] or directory.access_type == AccessType.project:
        return max(project_rank, granted.get(directory.directory_id, 0))
    return granted.get(directory.directory_id, 0)


def rank_on_file(db: Connection, project_id: UUID, granted: dict[UUID, int], file_id: UUID) -> int:
    """Best rank through the directories holding the file now or, if none does, the ones that
    held it last: removing a file from a restricted directory must not open it to everyone.

    Only the views are read, never a clock, so the judge's replay decides the same way.
    """
    query = (
        select(directories.c.directory_id, directories.c.access_type, memberships.c.valid_to)
        .join(
            memberships,
            (memberships.c.project_id == directories.c.project_id)
            & (memberships.c.directory_id == directories.c.directory_id),
        )
        .where(
            directories.c.project_id == project_id,
            memberships.c.file_id == file_id,
            directories.c.valid_to.is_(None),
        )
    )
    holders = _last_holders(db.execute(query).all())
    if not holders:  # never in a directory (added and removed by one commit), or no such file
        project_rank = granted.get(PROJECT_SCOPE, 0)
        return project_rank if project_rank >= RANK[Role.admin] else 0
    return max(rank_in_directory(granted, directory) for directory in holders)


def _last_holders(memberships_ever: Sequence[Any]) -> list[Any]:
    """The current memberships, or else those at the last version the file had any: a row
    closed at V was valid up to V - 1, so the last ones are those closed at the greatest V."""
    current = [m for m in memberships_ever if m.valid_to is None]
    if current or not memberships_ever:
        return current
    last = max(m.valid_to for m in memberships_ever)
    return [m for m in memberships_ever if m.valid_to == last]
