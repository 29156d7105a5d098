"""A project's labels at one version: their names, class indices, and what stored label names read as.

Instances and label counts store a label by its first name (``core.rules``), so a rename
or a merge changes one ``labels`` row and no instance. A read at version V maps each
stored name to the name its label has at V, following merges to the label that absorbed
it: views at an earlier version show the names of then, later ones the names of now.
The labels' whole history is one row per definition or schema change, so it is read
whole, once per read.

Class indices never move: a renamed label keeps its index, and a merged one keeps its
slot in ``classes`` (unused: its instances now carry the target's index), so a model
built with ``num_classes`` at one version still fits every later one, and a pinned run
reads the names and indices of its own version.

``labels.<name>`` in a slice read at V counts, per file, the instances of every stored
name that reads as ``<name>`` at V (a merge adds the merged label's counts to its
target's). A name that is not a label at V means:

- the name a label has now (renamed since V, or defined after it): that label as it was
  at V, so a slice written with today's names works at every version (0 before it existed);
- a name a label had before a rename, or a label merged into another: an error naming
  the name to use, which is friendlier than a silent 0. Saved slices keep their text, so
  one naming a label since renamed says so when read after the rename; save it again;
- a name no label ever had: an error suggesting close ones.
"""

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select

from annolog.core.errors import InvalidInputError
from annolog.core.query import Field
from annolog.core.rules import MERGED, label_state, stored_name
from annolog.projections.tables import labels


@dataclass(frozen=True, slots=True)
class LabelRow:
    """One version range of one label."""

    name: str
    class_index: int
    stored_as: str
    state: str
    into: int | None
    attributes: dict[str, Any] | None
    valid_from: int
    valid_to: int | None

    def valid_at(self, version: int) -> bool:
        return self.valid_from <= version and (self.valid_to is None or self.valid_to > version)


class LabelMap:
    """The labels at ``version``, read from the labels' whole ``history``."""

    def __init__(self, history: Sequence[LabelRow], version: int, project_name: str) -> None:
        self.version, self._history, self._project = version, history, project_name
        self.at = {r.class_index: r for r in history if r.valid_at(version)}
        self._latest = {r.name: r.class_index for r in history if r.valid_to is None}
        self._by_stored = {r.stored_as: r.class_index for r in self.at.values()}

    def holder(self, index: int) -> LabelRow:
        """The label at this version that holds class ``index``'s instances (merges followed)."""
        found = self.at[index]
        while found.state == MERGED and found.into is not None:
            found = self.at[found.into]
        return found

    def classes(self) -> list[str]:
        """Every label's name by class index, merged ones' slots included."""
        return [self.at[i].name for i in sorted(self.at)]

    def names(self) -> list[str]:
        """The names instances can go by at this version (merged labels have none), sorted."""
        return sorted(r.name for r in self.at.values() if r.state != MERGED)

    def name_of(self, stored: str) -> str:
        """The name at this version of the label whose instances are stored as ``stored``."""
        return self.holder(self._by_stored[stored]).name

    def merged(self, stored: str) -> bool:
        """Whether the label stored as ``stored`` was merged into another by this version."""
        return self.at[self._by_stored[stored]].state == MERGED

    def counted_as(self) -> dict[str, int]:
        """Each stored name with the class index its instances count as at this version."""
        return {stored: self.holder(index).class_index for stored, index in self._by_stored.items()}

    def stored_names(self, field: Field) -> list[str]:
        """The stored names ``labels.<name>`` (or ``frame.labels.<name>``) counts at this version
        (see the module docstring)."""
        name = field.path[-1]
        index = next((r.class_index for r in self.at.values() if r.name == name), self._latest.get(name))
        if index is None:
            raise InvalidInputError(self._unknown(name, field))
        row = self.at.get(index)
        if row is None:  # defined after this version: nothing to count yet
            return []
        if row.state == MERGED:
            into = self.holder(index).name
            raise InvalidInputError(
                f"label {name!r} was merged into {into!r} in project {self._project!r} by version {self.version}; "
                f"its instances count as labels.{into} (column {field.column})"
            )
        return [stored for stored, counted in self.counted_as().items() if counted == index]

    def _unknown(self, name: str, field: Field) -> str:
        renamed = [r for r in self._history if r.name == name and r.valid_to is not None]
        if renamed:
            now = self.at.get(renamed[-1].class_index) or next(
                r for r in self._history if r.class_index == renamed[-1].class_index and r.valid_to is None
            )
            return (
                f"label {name!r} is called {now.name!r} since version {renamed[-1].valid_to} in project "
                f"{self._project!r}; query labels.{now.name} (column {field.column})"
            )
        known = sorted({r.name for r in self._history})
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}?" if close else f"labels: {', '.join(known) or 'none'}"
        return f"unknown label {name!r} at column {field.column} in project {self._project!r}; {hint}"


def label_map(db: Connection, project_id: UUID, version: int, *, project_name: str = "") -> LabelMap:
    """The labels of the project at ``version``; ``project_name`` is for the errors of slices."""
    query = select(labels).where(labels.c.project_id == project_id).order_by(labels.c.valid_from)
    rows = [dict(r._mapping) for r in db.execute(query)]
    history = [
        LabelRow(
            name=r["name"],
            class_index=r["class_index"],
            stored_as=stored_name(r),
            state=label_state(r),
            into=r["into"],
            attributes=r["attributes"],
            valid_from=r["valid_from"],
            valid_to=r["valid_to"],
        )
        for r in rows
    ]
    return LabelMap(history, version, project_name)
