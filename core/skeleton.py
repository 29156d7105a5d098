"""A label's skeleton: the named keypoints a ``keypoints`` instance of it holds, and their connections.

COCO's categories carry the same two lists (``keypoints``, ``skeleton``); here the skeleton's
edges are **0-based** indices into ``keypoints`` (Python's, and the order of an instance's
points), where COCO's file format counts from 1: the COCO reader and writer convert. A
keypoints instance holds one point per keypoint, in this order, so the number of keypoints is
what every instance of the label depends on: the rules keep it fixed once declared (names and
edges may be corrected later).

>>> Skeleton(keypoints=("head", "hip", "knee"), skeleton=((0, 1), (1, 2))).skeleton
((0, 1), (1, 2))
"""

from typing import Annotated

from pydantic import Field, model_validator

from annolog.core.errors import InvalidInputError
from annolog.core.model import Model
from annolog.core.text import Name

MAX_KEYPOINTS = 1000
"""More keypoints than any pose, face or hand model in use (COCO-WholeBody has 133)."""

KeypointIndex = Annotated[int, Field(ge=0, lt=MAX_KEYPOINTS)]
Edge = tuple[KeypointIndex, KeypointIndex]


class Skeleton(Model):
    """The keypoints of a label, by name, and the edges drawn between them (0-based indices)."""

    keypoints: Annotated[tuple[Name, ...], Field(min_length=1, max_length=MAX_KEYPOINTS)]
    skeleton: Annotated[tuple[Edge, ...], Field(max_length=MAX_KEYPOINTS * 4)] = ()

    @model_validator(mode="after")
    def _edges_join_named_keypoints(self) -> "Skeleton":
        if len(set(self.keypoints)) != len(self.keypoints):
            twice = sorted({k for k in self.keypoints if self.keypoints.count(k) > 1})
            raise InvalidInputError(f"keypoint names must be unique; {', '.join(map(repr, twice))} repeat")
        for i, j in self.skeleton:
            if max(i, j) >= len(self.keypoints) or i == j:
                raise InvalidInputError(
                    f"skeleton edge {(i, j)} must join two different keypoints among indices "
                    f"0..{len(self.keypoints) - 1} (0-based: COCO's 1-based edges are converted on import)"
                )
        return self


def check_keypoint_count(label: str, keypoints: tuple[str, ...] | None, points: int) -> None:
    """Raise ``InvalidInputError`` unless a keypoints instance of ``label`` holds one point per keypoint.

    ``keypoints`` are the names the label's skeleton declares, None when it declares none.
    """
    if keypoints is None:
        raise InvalidInputError(
            f"label {label!r} declares no skeleton, so it cannot hold keypoints; declare one first "
            f"(project.declare_skeleton({label!r}, keypoints=[...], skeleton=[...]))"
        )
    if points != len(keypoints):
        raise InvalidInputError(
            f"a keypoints instance of label {label!r} holds one point per keypoint of its skeleton: "
            f"expected {len(keypoints)} ({', '.join(keypoints)}), got {points}"
        )
