"""Parsing slice queries into the syntax tree, with errors that point at the column.

The grammar (``grammar.lark``) is parsed by lark's LALR parser: precedence is
not > and > or, and a syntax error reports the column and what was expected there.
Field names and value types are checked here too, so a query that parses is one the
SQL compiler and any other evaluator can run without further validation.
"""

import difflib
import json
from functools import cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from core.errors import InvalidInputError
from core.geometry import InstanceKind
from core.query.ast import And, Compare, Contains, Exists, Expr, Field, In, Namespace, Not, Or, Predicate, Value

NUMERIC_FILE_FIELDS = ("size", "width", "height", "created_version")
TEXT_FILE_FIELDS = ("name", "type", "media_type")
_INSTANCE_COUNTS = ("count", *InstanceKind)

_EXPECTED = {
    "COMPARATOR": "a comparison (= != < <= > >=)",
    "NUMBER": "a number",
    "STRING": 'a "quoted string"',
    "NAME": "a field such as labels.car",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "DOT": "'.'",
    "_AND": "and",
    "_OR": "or",
    "_NOT": "not",
    "_IN": "in",
    "_CONTAINS": "contains",
    "_EXISTS": "exists",
    "_TRUE": "true",
    "_FALSE": "false",
    "$END": "the end",
}


class QueryError(InvalidInputError):
    """A slice query that does not parse or names something that does not exist."""

    def __init__(self, message: str, *, query: str, column: int) -> None:
        super().__init__(f"{message}\n  {query}\n  {' ' * (column - 1)}^")
        self.column = column


def _suggest(wrong: str, known: list[str]) -> str:
    close = difflib.get_close_matches(wrong, known, n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(close)}?" if close else f"; known: {', '.join(known)}"


def _fields_known() -> list[str]:
    return [
        "labels.<label>",
        *(f"file.{f}" for f in (*TEXT_FILE_FIELDS, *NUMERIC_FILE_FIELDS)),
        "file.meta.<key>",
        "attributes.<key>",
        *(f"instances.{k}" for k in _INSTANCE_COUNTS),
    ]


class _Unknown(Exception):
    """Raised inside the transformer; turned into a QueryError with the query text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.column = column


def _field(segments: list[Token], column: int) -> Field:
    names = [str(s) for s in segments]
    head, rest = names[0], names[1:]
    written = ".".join(names)
    if head == "labels" and len(rest) == 1:
        return Field(Namespace.labels, (rest[0],), column)
    if head == "file" and rest[:1] == ["meta"] and len(rest) > 1:
        return Field(Namespace.meta, tuple(rest[1:]), column)
    if head == "file" and len(rest) == 1 and rest[0] in (*TEXT_FILE_FIELDS, *NUMERIC_FILE_FIELDS):
        return Field(Namespace.file, (rest[0],), column)
    if head == "attributes" and rest:
        return Field(Namespace.attributes, tuple(rest), column)
    if head == "instances" and len(rest) == 1 and rest[0] in _INSTANCE_COUNTS:
        return Field(Namespace.instances, (rest[0],), column)
    known = _fields_known()
    shape = written if head not in ("labels", "attributes") else f"{head}.<name>"
    raise _Unknown(f"unknown field {written!r} at column {column}{_suggest(shape, known)}", column)


def _kind(value: Value) -> str:
    return "boolean" if isinstance(value, bool) else "number" if isinstance(value, float) else "string"


def _check(predicate: Predicate) -> Predicate:
    """Refuse predicates whose operator or value type cannot apply to their field."""
    field = predicate.field
    values: tuple[Value, ...] = (
        predicate.values if isinstance(predicate, In) else () if isinstance(predicate, Exists) else (predicate.value,)
    )
    counted = field.namespace in (Namespace.labels, Namespace.instances) or field.path[0] in NUMERIC_FILE_FIELDS
    is_text = field.namespace is Namespace.file and field.path[0] in TEXT_FILE_FIELDS
    if counted or is_text:
        wanted = "number" if counted else "string"
        if isinstance(predicate, Exists) or (isinstance(predicate, Contains) and counted):
            raise _Unknown(f"{field} is a {wanted}; compare it with = != < <= > >=", field.column)
        wrong = [v for v in values if _kind(v) != wanted]
        if wrong:
            raise _Unknown(f"{field} is a {wanted}, but is compared with {_kind(wrong[0])} {wrong[0]!r}", field.column)
    if (
        field.path == ("type",)
        and field.namespace is Namespace.file
        and (isinstance(predicate, Contains) or (isinstance(predicate, Compare) and predicate.op not in ("=", "!=")))
    ):
        raise _Unknown('file.type is "image", "video"…; compare it only with =, != and in', field.column)
    if isinstance(predicate, Compare) and isinstance(predicate.value, bool) and predicate.op not in ("=", "!="):
        raise _Unknown(f"booleans compare only with = and !=, not {predicate.op}", field.column)
    return predicate


@v_args(inline=True)
class _ToAst(Transformer[Token, Expr]):
    def field(self, *segments: Token) -> Field:
        return _field(list(segments), segments[0].column or 1)

    def segment(self, token: Token) -> Token:
        return token

    def STRING(self, token: Token) -> Token:  # noqa: N802 - lark names terminal callbacks after them
        return token.update(value=json.loads(token))

    def number(self, token: Token) -> float:
        return float(token)

    def string(self, token: Token) -> str:
        return str(token)

    def true(self) -> bool:
        return True

    def false(self) -> bool:
        return False

    def compare(self, field: Field, op: Token, value: Value) -> Predicate:
        return _check(Compare(field, str(op), value))

    def member(self, field: Field, *values: Value) -> Predicate:
        return _check(In(field, values))

    def contains(self, field: Field, value: Value) -> Predicate:
        return _check(Contains(field, value))

    def exists(self, field: Field) -> Predicate:
        return _check(Exists(field))

    def negation(self, operand: Expr) -> Expr:
        return Not(operand)

    def and_expr(self, *operands: Expr) -> Expr:
        return And(operands)

    def or_expr(self, *operands: Expr) -> Expr:
        return Or(operands)


@cache
def _parser() -> Lark:
    grammar = resources.files("core.query").joinpath("grammar.lark").read_text()
    return Lark(grammar, parser="lalr", maybe_placeholders=False)


def _syntax_error(query: str, error: UnexpectedInput) -> QueryError:
    at_end = isinstance(error, UnexpectedEOF) or (isinstance(error, UnexpectedToken) and error.token.type == "$END")
    column = len(query) + 1 if at_end else getattr(error, "column", None) or len(query) + 1
    # ``accepts`` (what the parser state really takes) is narrower than LALR's ``expected``.
    expected: set[str] = set(
        getattr(error, "accepts", None) or getattr(error, "expected", None) or getattr(error, "allowed", None) or ()
    )
    wanted = ", ".join(sorted({_EXPECTED.get(name, name) for name in expected})) or "something else"
    if isinstance(error, UnexpectedCharacters):
        got = repr(query[column - 1])
    elif at_end:
        got = "the end of the query"
    else:
        got = repr(str(getattr(error, "token", "")))
    return QueryError(f"syntax error at column {column}: expected {wanted}; got {got}", query=query, column=column)


def parse(query: str) -> Expr:
    """The syntax tree of ``query``; ``QueryError`` says where and why it is wrong.

    >>> parse('labels.car > 3 and labels.pedestrian >= 1')  # doctest: +ELLIPSIS
    And(operands=(Compare(field=Field(namespace=<Namespace.labels: 'labels'>, path=('car',), ...
    """
    if not query.strip():
        raise QueryError("empty query: expected a condition such as labels.car > 0", query=query, column=1)
    try:
        tree: Any = _parser().parse(query)
        return _ToAst().transform(tree)
    except UnexpectedInput as error:
        raise _syntax_error(query, error) from None
    except VisitError as error:
        if isinstance(error.orig_exc, _Unknown):
            raise QueryError(str(error.orig_exc), query=query, column=error.orig_exc.column) from None
        raise
