"""Who may do what: the order of roles, and an actor's rank in a directory or on a file.

A restricted directory is reachable only with a grant of its own (admins and owners
reach everything); a file is reachable through any directory holding it that the actor
may reach, so a file mirrored into a restricted directory stays open through the others.
A file in no directory is governed by the directories that held it last. The role each
event needs is declared with the event (``core.rules.EVENTS``).
"""

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from annolog.core.events import AccessType, Role

RANK: dict[Role, int] = {Role.viewer: 1, Role.annotator: 2, Role.editor: 3, Role.admin: 4, Role.owner: 5}
"""Higher ranks may do everything lower ranks may."""

PROJECT_SCOPE = UUID(int=0)
"""The scope of a project-wide grant (a directory grant's scope is the directory's id)."""


def role_of_rank(rank: int) -> Role | None:
    """The role with ``rank``, or None for rank 0 (no role at all)."""
    return next((role for role, r in RANK.items() if r == rank), None)


def rank_in_directory(granted: Mapping[UUID, int], directory: Mapping[str, Any]) -> int:
    """Rank of someone with ``granted`` (rank per scope) in the ``directory`` row."""
    project_rank = granted.get(PROJECT_SCOPE, 0)
    if project_rank >= RANK[Role.admin] or directory["access_type"] == AccessType.project:
        return max(project_rank, granted.get(directory["directory_id"], 0))
    return granted.get(directory["directory_id"], 0)


def rank_on_file(
    granted: Mapping[UUID, int],
    holders: Mapping[UUID, int | None],
    directory: Callable[[UUID], Mapping[str, Any]],
) -> int:
    """Best rank through the directories holding the file now or, if none does, the ones that
    held it last: removing a file from a restricted directory must not open it to everyone.

    ``holders`` maps each directory that ever held the file to the end of its latest
    membership (None while it holds it); ``directory`` gives a directory's row.
    """
    current = [d for d, ended in holders.items() if ended is None]
    if not current and holders:
        last = max(ended for ended in holders.values() if ended is not None)
        current = [d for d, ended in holders.items() if ended == last]
    if not current:  # never in a directory (added and removed by one commit), or no such file
        project_rank = granted.get(PROJECT_SCOPE, 0)
        return project_rank if project_rank >= RANK[Role.admin] else 0
    return max(rank_in_directory(granted, directory(d)) for d in current)
