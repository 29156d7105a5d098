"""The slice query's syntax tree: what a query means, independent of SQL or Python."""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Union

Value = Union[float, str, bool]
"""A literal: numbers are floats (JSON has one number type), strings, booleans."""


class Namespace(StrEnum):
    labels = "labels"  # labels.<label>: how many instances of that label a file has
    file = "file"  # file.<column>: name, type, media_type, size, width, height, frames, fps, created_version
    meta = "meta"  # file.meta.<key>...: the file's JSON metadata
    attributes = "attributes"  # attributes.<key>...: any instance's JSON attributes
    instances = "instances"  # instances.count, instances.<kind>: instance counts
    frame = "frame"  # frame.index, frame.labels.<label>: any annotated frame of a video


@dataclass(frozen=True)
class Field:
    """What a predicate reads; ``column`` is where it starts in the query (1-based)."""

    namespace: Namespace
    path: tuple[str, ...]
    column: int = field(compare=False)  # where it was written, not what it means

    def __str__(self) -> str:
        prefix = "file.meta" if self.namespace is Namespace.meta else self.namespace.value
        return ".".join((prefix, *(p if p.isidentifier() else f'"{p}"' for p in self.path)))


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str  # one of = != < <= > >=
    value: Value


@dataclass(frozen=True)
class In:
    field: Field
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Contains:
    """A substring of a text value, or an element of a JSON array."""

    field: Field
    value: Value


@dataclass(frozen=True)
class Exists:
    field: Field


@dataclass(frozen=True)
class Not:
    operand: "Expr"


@dataclass(frozen=True)
class And:
    operands: tuple["Expr", ...]


@dataclass(frozen=True)
class Or:
    operands: tuple["Expr", ...]


Predicate = Union[Compare, In, Contains, Exists]
Expr = Union[Predicate, Not, And, Or]
