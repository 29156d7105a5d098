"""Keypoints as the SDK takes and gives them: (x, y, visibility) triples, in a skeleton's order or by name.

Core stores a keypoints instance as its points and COCO visibility flags side by side
(``Shape.points``, ``Shape.visibility``); users think of one triple per keypoint, as COCO's
``keypoints`` list does, and often of keypoints by name. This module converts between the two.

>>> split([(10, 20, 2), (0, 0, 0)])
(((10, 20), (0, 0)), (2, 0))
"""

from collections.abc import Mapping, Sequence

from annolog.core.errors import InvalidInputError
from annolog.core.geometry import Point

Keypoint = tuple[float, float, int]
"""x, y and COCO's visibility: 0 not labelled, 1 labelled but not visible, 2 visible."""

Keypoints = Sequence[Keypoint] | Mapping[str, Keypoint]
"""One triple per keypoint of the label's skeleton, in its order, or some of them by name."""

UNLABELLED: Keypoint = (0.0, 0.0, 0)
"""What a keypoint left out of a mapping is: not labelled, at COCO's (0, 0)."""


def in_order(label: str, named: Mapping[str, Keypoint], names: Sequence[str]) -> list[Keypoint]:
    """The triples of ``named`` in the order of the skeleton's ``names``; a keypoint not named is
    not labelled. A name the skeleton lacks is an ``InvalidInputError`` naming the known ones."""
    unknown = sorted(set(named) - set(names))
    if unknown:
        raise InvalidInputError(
            f"label {label!r} has no keypoints {', '.join(map(repr, unknown))}; its skeleton names {', '.join(names)}"
        )
    return [named.get(name, UNLABELLED) for name in names]


def split(triples: Sequence[Keypoint]) -> tuple[tuple[Point, ...], tuple[int, ...]]:
    """The points and the visibility flags of ``triples``."""
    for triple in triples:
        if len(triple) != 3:
            raise InvalidInputError(f"a keypoint is (x, y, visibility), got {tuple(triple)}")
    return tuple((x, y) for x, y, _ in triples), tuple(v for _, _, v in triples)


def joined(points: Sequence[Point], visibility: Sequence[int]) -> list[Keypoint]:
    """The (x, y, visibility) triples of a stored keypoints instance."""
    return [(x, y, v) for (x, y), v in zip(points, visibility)]
