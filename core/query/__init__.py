"""The slice query language: ``labels.car > 3 and labels.pedestrian >= 1``."""

from core.query.ast import And, Compare, Contains, Exists, Expr, Field, In, Namespace, Not, Or, Predicate, Value
from core.query.parser import QueryError, parse

__all__ = [
    "And",
    "Compare",
    "Contains",
    "Exists",
    "Expr",
    "Field",
    "In",
    "Namespace",
    "Not",
    "Or",
    "Predicate",
    "QueryError",
    "Value",
    "parse",
]
