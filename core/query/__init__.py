"""The slice query language: ``labels.car > 3 and labels.pedestrian >= 1``."""

from annolog.core.query.ast import And, Compare, Contains, Exists, Expr, Field, In, Namespace, Not, Or, Predicate, Value
from annolog.core.query.frames import Frame, file_parts, frame_label_names, holds_on_frame, reads_frames
from annolog.core.query.operators import OPERATORS
from annolog.core.query.parser import MAX_QUERY_DEPTH, MAX_QUERY_LENGTH, QueryError, parse
from annolog.core.query.writer import query_text

__all__ = [
    "MAX_QUERY_DEPTH",
    "MAX_QUERY_LENGTH",
    "OPERATORS",
    "And",
    "Compare",
    "Contains",
    "Exists",
    "Expr",
    "Field",
    "Frame",
    "In",
    "Namespace",
    "Not",
    "Or",
    "Predicate",
    "QueryError",
    "Value",
    "file_parts",
    "frame_label_names",
    "holds_on_frame",
    "parse",
    "query_text",
    "reads_frames",
]
