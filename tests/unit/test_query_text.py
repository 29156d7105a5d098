"""A syntax tree written back as text (core.query.query_text) parses to the same tree: how a part
of a query is asked of a backend."""

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from annolog.core.query import And, Compare, Contains, Exists, Expr, Field, In, Namespace, Not, Or, parse, query_text

_names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=8)
_numbers = st.floats(allow_nan=False)
_scalars = st.one_of(_numbers, _names, st.booleans())
_ops = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])


def _field(namespace: Namespace, *path: str) -> Field:
    return Field(namespace, path, column=1)


def _counted() -> st.SearchStrategy[Field]:
    return st.one_of(
        _names.map(lambda n: _field(Namespace.labels, n)),
        _names.map(lambda n: _field(Namespace.frame, "labels", n)),
        st.sampled_from(["count", "box", "mask"]).map(lambda k: _field(Namespace.instances, k)),
        st.sampled_from(["size", "frames", "fps"]).map(lambda c: _field(Namespace.file, c)),
        st.just(_field(Namespace.frame, "index")),
    )


def _json_compare(field: Field, op: str, value: Any) -> Compare:
    return Compare(field, op if not isinstance(value, bool) else ("=" if op in ("=", "<=", ">=") else "!="), value)


def _predicates() -> st.SearchStrategy[Expr]:
    json_fields = st.builds(
        lambda ns, path: _field(ns, *path),
        st.sampled_from([Namespace.meta, Namespace.attributes]),
        st.lists(_names, min_size=1, max_size=3),
    )
    name = st.just(_field(Namespace.file, "name"))
    return st.one_of(
        st.builds(Compare, _counted(), _ops, _numbers),
        st.builds(In, _counted(), st.lists(_numbers, min_size=1, max_size=3).map(tuple)),
        st.builds(_json_compare, json_fields, _ops, _scalars),
        st.builds(In, json_fields, st.lists(_scalars, min_size=1, max_size=3).map(tuple)),
        st.builds(Contains, json_fields, _scalars),
        st.builds(Exists, json_fields),
        st.builds(Compare, name, _ops, _names),
        st.builds(Contains, name, _names),
        st.builds(In, st.just(_field(Namespace.file, "type")), st.lists(_names, min_size=1, max_size=2).map(tuple)),
    )


_trees = st.recursive(
    _predicates(),
    lambda inner: st.one_of(
        st.builds(Not, inner),
        st.builds(And, st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(Or, st.lists(inner, min_size=2, max_size=3).map(tuple)),
    ),
    max_leaves=6,
)


@given(_trees)
def test_a_written_tree_parses_back_to_itself(tree: Expr) -> None:
    assert parse(query_text(tree)) == tree


def test_keys_that_are_keywords_or_hold_dots_and_quotes_stay_one_key() -> None:
    tree = parse('file.meta."and"."a.b" = "say \\"hi\\"" and not labels."traffic light" in [1, 2]')

    assert parse(query_text(tree)) == tree
