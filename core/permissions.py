"""Who may do what: the role each event needs, and the order of roles."""

from annolog.core.events import Role

RANK: dict[Role, int] = {Role.viewer: 1, Role.annotator: 2, Role.editor: 3, Role.admin: 4, Role.owner: 5}
"""Higher ranks may do everything lower ranks may."""

NEEDED: dict[str, Role] = {
    "LabelDefined": Role.editor,
    "DirectoryCreated": Role.editor,
    "FileAdded": Role.editor,
    "FileMetadataChanged": Role.editor,
    "FileMirrored": Role.editor,
    "FileRemovedFromDirectory": Role.editor,
    "FileCopied": Role.editor,
    "InstanceAdded": Role.annotator,
    "InstanceChanged": Role.annotator,
    "InstanceDeleted": Role.annotator,
    "VersionTagged": Role.editor,
    "TagMoved": Role.admin,
    "RoleGranted": Role.admin,
    "RoleRevoked": Role.admin,
    "SliceSaved": Role.editor,
}
"""The least role each event needs; ``ProjectCreated`` needs none (its actor becomes owner)."""


def role_of_rank(rank: int) -> Role | None:
    """The role with ``rank``, or None for rank 0 (no role at all)."""
    return next((role for role, r in RANK.items() if r == rank), None)
