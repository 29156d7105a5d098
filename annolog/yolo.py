"""YOLO text labels: one line per object, normalised to 0..1 — ``class x_center y_center width height``
for a box, ``class x1 y1 x2 y2 ...`` for a polygon (Ultralytics' segment format)."""

from collections.abc import Sequence
from pathlib import PurePosixPath

from annolog.core.geometry import Point
from annolog.plan import Box


def label_line(class_index: int, box: Box, width: int, height: int) -> str:
    """A box as a YOLO line, e.g. ``label_line(0, (10, 20, 50, 60), 100, 100)`` -> ``'0 0.3 0.4 0.4 0.4'``.

    >>> label_line(0, (10, 20, 50, 60), 100, 100)
    '0 0.3 0.4 0.4 0.4'
    """
    x_min, y_min, x_max, y_max = box
    values = (
        (x_min + x_max) / 2 / width,
        (y_min + y_max) / 2 / height,
        (x_max - x_min) / width,
        (y_max - y_min) / height,
    )
    return _line(class_index, values)


def segment_line(class_index: int, points: Sequence[Point], width: int, height: int) -> str:
    """A polygon as a YOLO segment line.

    >>> segment_line(1, [(10, 20), (50, 20), (30, 60)], 100, 100)
    '1 0.1 0.2 0.5 0.2 0.3 0.6'
    """
    return _line(class_index, [v for x, y in points for v in (x / width, y / height)])


def _line(class_index: int, values: Sequence[float]) -> str:
    return " ".join([str(class_index), *(f"{v:.6f}".rstrip("0").rstrip(".") for v in values)])


def label_file(image: str) -> str:
    """Where the labels of the image exported as ``image`` go: the same path under ``labels/``, as ``.txt``.

    >>> label_file("day/cat.jpg")
    'labels/day/cat.txt'
    """
    return f"labels/{PurePosixPath(image).with_suffix('.txt')}"


def classes_text(classes: Sequence[str]) -> str:
    """``classes.txt``: the label of class index i on line i + 1."""
    return "".join(f"{name}\n" for name in classes)
