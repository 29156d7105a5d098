"""A slice query evaluated on one frame of a video: which frames of the videos it selects are items.

A slice selects files (``projections.slices``): a video matches when, for each frame
predicate on its own, ANY annotated frame satisfies it. A frame item is narrower: frame k
of a selected video is an item when the WHOLE query holds on k, with

- ``frame.index`` the frame's index and ``frame.labels.<l>`` the instances labelled ``l``
  drawn on frame k (0 on a frame without any: every frame, under ``frames="all"``);
- every other predicate (``file.*``, ``labels.*``, ``attributes.*``…) read of the file, so
  it has the same value on each of the file's frames;
- ``not`` and ``or`` applied per frame: ``file.name = "a.mp4" or frame.index < 3`` keeps
  every frame of a.mp4 and the first three of the others;
  ``frame.labels.person >= 1 or not frame.labels.car >= 2`` keeps the frames with a
  person and those with fewer than two cars.

The file's match still decides which videos take part, so a frame is an item only when
both hold. Since a file-level ``not frame.P`` means "no annotated frame satisfies P", a
query that is just ``not frame.labels.car >= 2`` selects the videos without such a frame
and keeps all their frames; and under ``"all"``, ``frame.labels.car = 0`` reaches only
videos with an annotated frame without cars (then their un-annotated frames match too).

A single picture among the videos has no frame: every frame predicate is false on it (as
for the file's match), so the picture is an item exactly when the slice selects it.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from annolog.core.query.ast import And, Compare, Expr, In, Namespace, Not, Or, Predicate
from annolog.core.query.operators import OPERATORS


@dataclass(frozen=True)
class Frame:
    """What frame predicates read of one frame: its index (None for a single picture, which has
    no frames) and how many instances on it each label has, by the name the query writes."""

    index: int | None
    labels: Mapping[str, int]


def reads_frames(expr: Expr) -> bool:
    """Whether any predicate of ``expr`` reads a frame (``frame.index``, ``frame.labels.<l>``)."""
    if isinstance(expr, (And, Or)):
        return any(reads_frames(e) for e in expr.operands)
    if isinstance(expr, Not):
        return reads_frames(expr.operand)
    return expr.field.namespace is Namespace.frame


def file_parts(expr: Expr) -> list[Expr]:
    """The largest parts of ``expr`` that read no frame: each has one value per file, which
    ``holds_on_frame`` asks its caller for."""
    if not reads_frames(expr):
        return [expr]
    if isinstance(expr, (And, Or)):
        return [part for e in expr.operands for part in file_parts(e)]
    if isinstance(expr, Not):
        return file_parts(expr.operand)
    return []


def frame_label_names(expr: Expr) -> set[str]:
    """The labels ``frame.labels.<l>`` predicates of ``expr`` count, as the query writes them."""
    if isinstance(expr, (And, Or)):
        return {name for e in expr.operands for name in frame_label_names(e)}
    if isinstance(expr, Not):
        return frame_label_names(expr.operand)
    field = expr.field
    return {field.path[1]} if field.namespace is Namespace.frame and field.path[0] == "labels" else set()


def holds_on_frame(expr: Expr, frame: Frame, on_file: Callable[[Expr], bool]) -> bool:
    """Whether ``expr`` holds on ``frame``; ``on_file(part)`` is the file's value of each of
    ``file_parts(expr)``.

    >>> from annolog.core.query import parse
    >>> query = parse('file.name = "a.mp4" or frame.labels.car >= 2')
    >>> holds_on_frame(query, Frame(4, {"car": 2}), on_file=lambda part: False)
    True
    >>> holds_on_frame(query, Frame(5, {}), on_file=lambda part: False)
    False
    """
    if not reads_frames(expr):
        return on_file(expr)
    if isinstance(expr, And):
        return all(holds_on_frame(e, frame, on_file) for e in expr.operands)
    if isinstance(expr, Or):
        return any(holds_on_frame(e, frame, on_file) for e in expr.operands)
    if isinstance(expr, Not):
        return not holds_on_frame(expr.operand, frame, on_file)
    return _frame_predicate(expr, frame)


def _frame_predicate(p: Predicate, frame: Frame) -> bool:
    if frame.index is None:
        return False
    value = float(frame.index) if p.field.path == ("index",) else float(frame.labels.get(p.field.path[1], 0))
    if isinstance(p, In):
        return value in p.values
    if isinstance(p, Compare):
        return bool(OPERATORS[p.op](value, p.value))
    raise AssertionError(f"the parser lets no {type(p).__name__} through for {p.field}")
