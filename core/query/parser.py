"""Parsing slice queries into the syntax tree, with errors that point at the column.

The grammar (``grammar.lark``) is parsed by lark's LALR parser: precedence is
not > and > or, and a syntax error reports the column and what was expected there.
Field names and value types are checked here too, so a query that parses is one the
SQL compiler and any other evaluator can run without further validation.

Everything after lark's parser walks the tree recursively (lark's transformer, the SQL
compiler, the database's own parser), so a query is bounded in length and in how deeply
its conditions nest before any of them runs; the parser itself keeps an explicit stack.
"""

import difflib
import json
import unicodedata
from functools import cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from annolog.core.errors import InvalidInputError
from annolog.core.geometry import InstanceKind
from annolog.core.query.ast import And, Compare, Contains, Exists, Expr, Field, In, Namespace, Not, Or, Predicate, Value

NUMERIC_FILE_FIELDS = ("size", "width", "height", "frames", "fps", "created_version")
TEXT_FILE_FIELDS = ("name", "type", "media_type")
_INSTANCE_COUNTS = ("count", *InstanceKind)

MAX_QUERY_LENGTH = 10_000
"""The most characters a slice query may have, wherever it comes from."""
MAX_QUERY_DEPTH = 25
"""The most ``not``/``and``/``or`` a condition may sit inside. Each is a pair of brackets in the
SQL, and SQLite's parser (before 3.46) overflows its stack at about 30 of them with our
predicates inside; people write a handful, and wide queries (``a or b or …``) are not deep."""
_NESTING = ("negation", "and_expr", "or_expr")
_SHOWN = 80  # characters of the query an error shows around the column it points at

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
        start = max(0, column - _SHOWN // 2)
        shown = ("…" if start else "") + query[start : start + _SHOWN]
        super().__init__(f"{message}\n  {shown}\n  {' ' * (column - 1 - start + (start > 0))}^")
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
        "frame.index",
        "frame.labels.<label>",
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
    if head == "frame" and (rest == ["index"] or (rest[:1] == ["labels"] and len(rest) == 2)):
        return Field(Namespace.frame, tuple(rest), column)
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
    counted = field.namespace in (Namespace.labels, Namespace.instances, Namespace.frame)
    counted = counted or field.path[0] in NUMERIC_FILE_FIELDS
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


def _string(token: Token) -> str:
    """A quoted string's value. It is a JSON string, so control characters are written escaped
    (``"a\\tb"``); and never NUL or a lone surrogate, which no database stores as text."""
    column = token.column or 1
    try:
        value: str = json.loads(token)
    except json.JSONDecodeError as error:
        at, wrong = column + error.pos, token[error.pos]
        if unicodedata.category(wrong) == "Cc":
            fix = "strings must not contain it" if wrong == "\x00" else f"write it as {json.dumps(wrong)[1:-1]}"
            raise _Unknown(f"control character U+{ord(wrong):04X} in a string at column {at}; {fix}", at) from None
        raise _Unknown(f"{error.msg.lower()} in a string at column {at}", at) from None
    for char in value:
        if char == "\x00" or unicodedata.category(char) == "Cs":
            raise _Unknown(f"strings must not contain U+{ord(char):04X} (the string at column {column})", column)
    return value


@v_args(inline=True)
class _ToAst(Transformer[Token, Expr]):
    def field(self, *segments: Token) -> Field:
        return _field(list(segments), segments[0].column or 1)

    def segment(self, token: Token) -> Token:
        return token

    def STRING(self, token: Token) -> Token:  # noqa: N802 - lark names terminal callbacks after them
        return token.update(value=_string(token))

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
    grammar = resources.files("annolog.core.query").joinpath("grammar.lark").read_text()
    return Lark(grammar, parser="lalr", maybe_placeholders=False, propagate_positions=True)


def _check_depth(query: str, tree: Tree[Token]) -> None:
    """Refuse conditions nested deeper than ``MAX_QUERY_DEPTH``; walks with a list, not recursion."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        depth += node.data in _NESTING
        if depth > MAX_QUERY_DEPTH:
            column = node.meta.column if not node.meta.empty else 1
            raise QueryError(
                f"conditions nest more than {MAX_QUERY_DEPTH} deep at column {column}; nest fewer nots and brackets",
                query=query,
                column=column,
            )
        stack.extend((child, depth) for child in node.children if isinstance(child, Tree))


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
    if len(query) > MAX_QUERY_LENGTH:
        raise QueryError(
            f"the query has {len(query):,} characters; at most {MAX_QUERY_LENGTH:,}",
            query=query,
            column=MAX_QUERY_LENGTH + 1,
        )
    try:
        tree: Any = _parser().parse(query)
    except UnexpectedInput as error:
        raise _syntax_error(query, error) from None
    _check_depth(query, tree)
    try:
        return _ToAst().transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, _Unknown):
            raise QueryError(str(error.orig_exc), query=query, column=error.orig_exc.column) from None
        raise
