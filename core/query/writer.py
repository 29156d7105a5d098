"""A syntax tree written back as query text that parses to the same tree: how a part of a
query is asked of a backend, embedded or over HTTP, which both take slices as text."""

import json
import math

from annolog.core.query.ast import And, Compare, Contains, Exists, Expr, Field, In, Namespace, Not, Or, Value


def query_text(expr: Expr) -> str:
    """``expr`` as text; ``parse(query_text(e)) == e``.

    >>> from annolog.core.query import parse
    >>> query_text(parse('not labels."traffic light" > 0 or file.name in ["a", "b"]'))
    '(not (labels."traffic light" > 0.0) or file.name in ["a", "b"])'
    """
    if isinstance(expr, (And, Or)):
        joint = " and " if isinstance(expr, And) else " or "
        return "(" + joint.join(query_text(e) for e in expr.operands) + ")"
    if isinstance(expr, Not):
        return f"not ({query_text(expr.operand)})"
    field = _field(expr.field)
    if isinstance(expr, Compare):
        return f"{field} {expr.op} {_value(expr.value)}"
    if isinstance(expr, In):
        return f"{field} in [{', '.join(_value(v) for v in expr.values)}]"
    if isinstance(expr, Contains):
        return f"{field} contains {_value(expr.value)}"
    assert isinstance(expr, Exists)
    return f"{field} exists"


def _field(field: Field) -> str:
    """Names quoted (a JSON string is a segment), so a key such as ``and`` or ``a.b`` stays one."""
    prefix = "file.meta" if field.namespace is Namespace.meta else field.namespace.value
    if field.namespace is Namespace.frame:  # frame.index, frame.labels.<l>: the first part is a keyword
        return ".".join((prefix, field.path[0], *(json.dumps(p) for p in field.path[1:])))
    if field.namespace in (Namespace.file, Namespace.instances):  # a column's name, not a key
        return f"{prefix}.{field.path[0]}"
    return ".".join((prefix, *(json.dumps(p) for p in field.path)))


def _value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("-" if value < 0 else "") + "1e999"
    return json.dumps(value)
