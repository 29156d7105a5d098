"""The slice query language: ``labels.car > 3 and labels.pedestrian >= 1``."""

from annolog.core.query.ast import And, Compare, Contains, Exists, Expr, Field, In, Namespace, Not, Or, Predicate, Value
from annolog.core.query.parser import MAX_QUERY_DEPTH, MAX_QUERY_LENGTH, QueryError, parse

__all__ = [
    "MAX_QUERY_DEPTH",
    "MAX_QUERY_LENGTH",
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
