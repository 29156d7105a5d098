"""A label of a project in the SDK: the handle its schema changes go through.

Each change is one commit, judged like any other: it needs the admin role, is recorded in
the audit history, and leaves earlier versions as they were (they keep the old names;
class indices never move, so a run pinned to a version is unaffected).

>>> car = project.label("car")  # doctest: +SKIP
>>> vehicle = car.rename("vehicle")  # doctest: +SKIP
>>> project.label("auto").merge_into("vehicle")  # doctest: +SKIP
>>> vehicle.declare_attributes({"occluded": "bool", "score": {"type": "float", "min": 0, "max": 1}})  # doctest: +SKIP
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from annolog.core.commands import DeclareLabelAttributes, MergeLabel, RenameLabel, RetireLabel

if TYPE_CHECKING:
    from annolog.project import Project


class Label:
    """Label ``name`` of ``project``; its methods return the version they made (``rename``: the renamed label)."""

    def __init__(self, project: "Project", name: str) -> None:
        self.project, self.name = project, name

    def rename(self, new_name: str) -> "Label":
        """Call the label ``new_name`` from the next version on; it keeps its class index and instances."""
        self.project.execute([RenameLabel(name=self.name, new_name=new_name)])
        return Label(self.project, new_name)

    def merge_into(self, target: str) -> int:
        """Fold this label into ``target``: its instances read and count as ``target``, its class
        index maps to ``target``'s, and its own name can no longer be given to instances."""
        return self.project.execute([MergeLabel(name=self.name, into=target)]).version

    def retire(self) -> int:
        """Refuse new instances of this label; the ones it has stay readable and editable."""
        return self.project.execute([RetireLabel(name=self.name)]).version

    def declare_attributes(self, attributes: Mapping[str, Any]) -> int:
        """The attributes this label's new and edited instances may carry, replacing any declared
        before: ``"bool"``, ``"int"``, ``"float"``, ``"str"``, a list of allowed strings, or the long
        form ``{"type": "float", "min": 0, "max": 1}``; ``{}`` makes them free-form again."""
        declared = DeclareLabelAttributes(name=self.name, attributes=dict(attributes))
        return self.project.execute([declared]).version

    def __repr__(self) -> str:
        return f"Label({self.name!r})"
