"""Slice queries compiled to parameterised SQL over the views, valid at any version.

Nothing the user typed is concatenated into SQL: names and values become bound
parameters, JSON paths included. Semantics, identical on SQLite and PostgreSQL:

- ``labels.<l>`` is the number of instances labelled ``l`` on the file (0 without any),
  with ``l`` resolved through renames and merges at the version read (``labelmap``);
- a comparison on a missing value, or on a value of another JSON type, is false — and
  ``not`` of it is true (every predicate is two-valued: ``COALESCE(p, false)``);
- ``attributes.<k>`` holds when ANY instance of the file satisfies it;
- ``frame.index`` and ``frame.labels.<l>`` (the instances labelled ``l`` on one frame) hold
  when ANY annotated frame of a video (one with an instance on it) satisfies them, each
  predicate on its own, as ``attributes`` do: per-frame counts are grouped from the
  instances when read, not kept in a view of their own. This chooses the videos; which of
  their frames are training items is the query evaluated per frame (``core.query.frames``);
- ``contains`` is a substring of text, or an element of a JSON array.
"""

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Float, and_, case, cast, exists, false, func, literal, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from annolog.core.errors import InvalidInputError
from annolog.core.query import (
    OPERATORS,
    And,
    Compare,
    Contains,
    Exists,
    Expr,
    Field,
    In,
    Namespace,
    Not,
    Or,
    Predicate,
    Value,
)
from annolog.projections.labelmap import LabelMap
from annolog.projections.tables import RowsAt, files, instances, label_counts


def _substring(dialect: str, text: ColumnElement[Any], part: str) -> ColumnElement[bool]:
    """Case-sensitive substring test on both databases (SQLite's LIKE ignores ASCII case)."""
    position = func.instr(text, part) if dialect == "sqlite" else func.strpos(text, part)
    return position > 0


def _compare(column: ColumnElement[Any], op: str, value: object) -> ColumnElement[bool]:
    return OPERATORS[op](column, value)  # type: ignore[no-any-return]


class _Json:
    """Typed reads of a JSON column at a path, per dialect, with the path as bound parameters."""

    def __init__(self, dialect: str, column: ColumnElement[Any], path: Sequence[str]) -> None:
        self._dialect, self._sqlite = dialect, dialect == "sqlite"
        self.type: ColumnElement[Any]
        self.text: ColumnElement[Any]
        if self._sqlite:
            if any('"' in key or "\\" in key for key in path):
                raise InvalidInputError(f"JSON keys with quotes or backslashes cannot be queried: {list(path)}")
            where = literal("$" + "".join(f'."{key}"' for key in path))
            self.type = func.json_type(column, where)
            self.text = func.json_extract(column, where)
        elif path:
            keys = [literal(key) for key in path]
            self.type = func.json_typeof(func.json_extract_path(column, *keys))
            self.text = func.json_extract_path_text(column, *keys)
        else:  # the value itself, e.g. one element of an array
            self.type = func.json_typeof(column)
            self.text = column.op("#>>")(literal("{}"))

    def _typed(self, kind: str) -> ColumnElement[Any]:
        names = (
            {"number": ("integer", "real"), "string": ("text",), "array": ("array",)}
            if self._sqlite
            else {"number": ("number",), "string": ("string",), "array": ("array",)}
        )
        return self.type.in_(names[kind])

    def compare(self, op: str, value: Value) -> ColumnElement[bool]:
        if isinstance(value, bool):
            if self._sqlite:
                return self.type == ("true" if (value == (op == "=")) else "false")
            return and_(self.type == "boolean", self.text == ("true" if (value == (op == "=")) else "false"))
        if isinstance(value, float):
            return _compare(case((self._typed("number"), cast(self.text, Float))), op, value)
        return _compare(case((self._typed("string"), self.text)), op, value)

    def contains(self, value: Value, element: Callable[[], ColumnElement[bool]]) -> ColumnElement[bool]:
        text_match = (
            and_(self._typed("string"), _substring(self._dialect, self.text, value))
            if isinstance(value, str)
            else false()
        )
        return or_(text_match, and_(self._typed("array"), element()))

    def exists(self) -> ColumnElement[bool]:
        return self.type.is_not(None)


class SliceCompiler:
    """Compiles a query's tree into a WHERE clause over ``files`` rows, reading the ``rows`` of the
    tables it looks into."""

    def __init__(self, *, dialect: str, project_id: UUID, rows: RowsAt, labels: LabelMap) -> None:
        self._dialect, self._project_id, self._rows, self._labels = dialect, project_id, rows, labels

    @staticmethod
    def check_labels(expr: Expr, labels: LabelMap) -> None:
        """Refuse the labels ``labels.<name>`` fields cannot count at the map's version, saying why."""
        for field in label_fields(expr):
            labels.stored_names(field)

    def where(self, expr: Expr) -> ColumnElement[bool]:
        if isinstance(expr, And):
            return and_(*(self.where(e) for e in expr.operands))
        if isinstance(expr, Or):
            return or_(*(self.where(e) for e in expr.operands))
        if isinstance(expr, Not):
            return not_(self.where(expr.operand))
        return self._predicate(expr)

    def _predicate(self, p: Predicate) -> ColumnElement[bool]:
        """Two-valued SQL for one predicate. EXISTS and COUNT are never NULL, and are left bare:
        wrapped in COALESCE, PostgreSQL could no longer plan an EXISTS as a semi-join."""
        namespace = p.field.namespace
        if namespace is Namespace.labels:
            return self._label_count(p)
        if namespace is Namespace.instances:
            return self._holds(p, self._instance_count(p.field))
        if namespace is Namespace.attributes:
            return self._attributes(p)
        if namespace is Namespace.frame:
            return self._frame(p)
        column = self._file_column(p) if namespace is Namespace.file else self._json(p, files.c.metadata)
        return func.coalesce(column, false())  # a missing value or width makes NULL; it means false

    def _holds(self, p: Predicate, column: ColumnElement[Any]) -> ColumnElement[bool]:
        if isinstance(p, In):
            return column.in_(p.values)
        if isinstance(p, Compare):
            return _compare(column, p.op, p.value)
        raise AssertionError(f"the parser lets no {type(p).__name__} through for {p.field}")

    def _label_count(self, p: Predicate) -> ColumnElement[bool]:
        """EXISTS over label_counts, or NOT EXISTS when a count of 0 satisfies the predicate
        (files without the label have no row): both let the database drive from the index.
        A label that absorbed merged ones sums their rows; one not defined yet counts 0."""
        stored = self._labels.stored_names(p.field)
        zero_holds = (0.0 in p.values) if isinstance(p, In) else OPERATORS[p.op](0.0, p.value)  # type: ignore[union-attr]
        if not stored:
            return true() if zero_holds else false()
        of_file = (
            label_counts.c.project_id == self._project_id,
            label_counts.c.file_id == files.c.file_id,
            self._rows.of(label_counts),
        )
        if len(stored) > 1:
            total = select(func.coalesce(func.sum(label_counts.c["count"]), 0)).where(
                *of_file, label_counts.c.label.in_(stored)
            )
            return self._holds(p, total.scalar_subquery())
        rows = select(literal(1)).where(*of_file, label_counts.c.label == stored[0])
        holds = self._holds(p, label_counts.c["count"])
        return not_(exists(rows.where(not_(holds)))) if zero_holds else exists(rows.where(holds))

    def _instance_count(self, field: Field) -> ColumnElement[Any]:
        query = select(func.count()).where(
            instances.c.project_id == self._project_id,
            instances.c.file_id == files.c.file_id,
            self._rows.of(instances),
        )
        if field.path[0] != "count":
            query = query.where(instances.c.kind == field.path[0])
        return query.scalar_subquery()

    def _file_column(self, p: Predicate) -> ColumnElement[bool]:
        name = p.field.path[0]
        if name == "type":  # the part of the media type before the slash: "image", "video"…

            def major(kind: Value) -> ColumnElement[bool]:
                prefix = f"{kind}/"
                return func.substr(files.c.media_type, 1, len(prefix)) == prefix

            if isinstance(p, In):
                return or_(*(major(v) for v in p.values))
            assert isinstance(p, Compare)  # the parser allows only = != and in on file.type
            return major(p.value) if p.op == "=" else not_(major(p.value))
        if isinstance(p, Contains):
            return _substring(self._dialect, files.c[name], str(p.value))
        return self._holds(p, files.c[name])

    def _json(self, p: Predicate, column: ColumnElement[Any]) -> ColumnElement[bool]:
        at = _Json(self._dialect, column, p.field.path)
        if isinstance(p, Exists):
            return at.exists()
        if isinstance(p, In):
            return or_(*(at.compare("=", v) for v in p.values))
        if isinstance(p, Contains):
            return at.contains(p.value, lambda: self._array_has(column, p.field.path, p.value))
        return at.compare(p.op, p.value)

    def _array_has(self, column: ColumnElement[Any], path: Sequence[str], value: Value) -> ColumnElement[bool]:
        if self._dialect == "sqlite":
            # SQLite names json_each's columns itself and takes no column aliases.
            items = func.json_each(column, literal("$" + "".join(f'."{key}"' for key in path))).table_valued(
                "value", "type"
            )
            typed = {bool: ("true" if value else "false",), float: ("integer", "real"), str: ("text",)}[type(value)]
            match = (
                items.c.type.in_(typed)
                if isinstance(value, bool)
                else and_(items.c.type.in_(typed), items.c.value == value)
            )
            return exists(select(literal(1)).select_from(items).where(match))
        element = (
            func.json_array_elements(func.json_extract_path(column, *(literal(k) for k in path)))
            .table_valued("value")
            .render_derived()
        )
        return exists(
            select(literal(1)).select_from(element).where(_Json("postgresql", element.c.value, ()).compare("=", value))
        )

    def _frame(self, p: Predicate) -> ColumnElement[bool]:
        """EXISTS an annotated frame of the file (its instances grouped by frame) that holds ``p``:
        its index, or how many of its instances have the label (0 for a frame with others only)."""
        on_frames = select(literal(1)).where(
            instances.c.project_id == self._project_id,
            instances.c.file_id == files.c.file_id,
            instances.c.frame.is_not(None),
            self._rows.of(instances),
        )
        if p.field.path == ("index",):
            return exists(on_frames.where(self._holds(p, instances.c.frame)))
        stored = self._labels.stored_names(p.field)  # through renames and merges, as labels.<l>
        count = func.sum(case((instances.c.label.in_(stored), 1), else_=0))
        return exists(on_frames.group_by(instances.c.frame).having(self._holds(p, count)))

    def _attributes(self, p: Predicate) -> ColumnElement[bool]:
        return exists(
            select(literal(1)).where(
                instances.c.project_id == self._project_id,
                instances.c.file_id == files.c.file_id,
                self._rows.of(instances),
                func.coalesce(self._json(p, instances.c.attributes), false()),
            )
        )


def label_fields(expr: Expr) -> list[Field]:
    """Every ``labels.<name>`` and ``frame.labels.<name>`` field the query reads (the name is last)."""
    if isinstance(expr, (And, Or)):
        return [f for e in expr.operands for f in label_fields(e)]
    if isinstance(expr, Not):
        return label_fields(expr.operand)
    field = expr.field
    per_frame = field.namespace is Namespace.frame and field.path[0] == "labels"
    return [field] if field.namespace is Namespace.labels or per_frame else []
