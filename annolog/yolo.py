"""YOLO text labels: one line per box, ``class x_center y_center width height``, normalised to 0..1."""

from collections.abc import Sequence
from pathlib import PurePosixPath

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
