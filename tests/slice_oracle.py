"""A brute-force evaluator of slice queries over plain Python data: the oracle SQL must agree with.

It implements the documented semantics directly (projections/slices.py's docstring): label
counts default to 0; a comparison on a missing or differently typed value is false; ``not``
is two-valued; ``attributes`` holds when any instance satisfies it.
"""

from dataclasses import dataclass, field
from typing import Any

from annolog.core.query import OPERATORS, And, Compare, Contains, Exists, Expr, In, Namespace, Not, Or, Predicate, Value

_MISSING = object()


@dataclass
class FileFacts:
    name: str
    media_type: str
    size: int
    width: int | None
    height: int | None
    created_version: int
    metadata: dict[str, Any]
    instances: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # label, kind, attributes


def _json_at(document: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(document, dict) or key not in document:
            return _MISSING
        document = document[key]
    return document


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "other"


def _json_equal_typed(found: Any, op: str, value: Value) -> bool:
    wanted = _kind_of(value)
    if _kind_of(found) != wanted:
        return False
    if wanted == "boolean":
        return (found == value) == (op == "=")
    return bool(OPERATORS[op](float(found) if wanted == "number" else found, value))


def _json_holds(document: Any, p: Predicate) -> bool:
    found = _json_at(document, p.field.path)
    if isinstance(p, Exists):
        return found is not _MISSING
    if isinstance(p, In):
        return any(_json_equal_typed(found, "=", v) for v in p.values)
    if isinstance(p, Contains):
        if isinstance(found, str):
            return isinstance(p.value, str) and p.value in found
        return isinstance(found, list) and any(_json_equal_typed(item, "=", p.value) for item in found)
    assert isinstance(p, Compare)
    return _json_equal_typed(found, p.op, p.value)


def _number_holds(number: float | None, p: Predicate) -> bool:
    if number is None:
        return False
    if isinstance(p, In):
        return any(number == v for v in p.values)
    assert isinstance(p, Compare)
    return bool(OPERATORS[p.op](number, p.value))


def _file_holds(f: FileFacts, p: Predicate) -> bool:
    name = p.field.path[0]
    if name == "type":
        major = f.media_type.split("/")[0]
        return any(major == v for v in p.values) if isinstance(p, In) else (major == p.value) == (p.op == "=")  # type: ignore[union-attr]
    value = getattr(f, name)
    if isinstance(p, Contains):
        return str(p.value) in value
    if isinstance(value, str):
        return any(value == v for v in p.values) if isinstance(p, In) else bool(OPERATORS[p.op](value, p.value))  # type: ignore[union-attr]
    return _number_holds(value, p)


def holds(f: FileFacts, expr: Expr) -> bool:
    if isinstance(expr, And):
        return all(holds(f, e) for e in expr.operands)
    if isinstance(expr, Or):
        return any(holds(f, e) for e in expr.operands)
    if isinstance(expr, Not):
        return not holds(f, expr.operand)
    namespace = expr.field.namespace
    if namespace is Namespace.labels:
        return _number_holds(sum(1 for label, _, _ in f.instances if label == expr.field.path[0]), expr)
    if namespace is Namespace.instances:
        kind = expr.field.path[0]
        return _number_holds(sum(1 for _, k, _ in f.instances if kind in ("count", k)), expr)
    if namespace is Namespace.meta:
        return _json_holds(f.metadata, expr)
    if namespace is Namespace.attributes:
        return any(_json_holds(attributes, expr) for _, _, attributes in f.instances)
    return _file_holds(f, expr)
