"""Slices: SQL equals a brute-force evaluation on random data and random queries, on SQLite and
PostgreSQL, at latest and pinned versions; errors that help; injection that does nothing."""

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect

from annolog.api.bootstrap import build_service
from annolog.api.service import Service
from annolog.api.settings import load_settings
from annolog.core import (
    AddFile,
    AddInstance,
    ChangeFileMetadata,
    Command,
    CreateDirectory,
    CreateProject,
    DefineLabel,
    DeleteInstance,
    InvalidInputError,
)
from annolog.core.query import MAX_QUERY_DEPTH, MAX_QUERY_LENGTH, QueryError, parse
from annolog.projections import queries
from tests.slice_oracle import FileFacts, holds

LABELS = ("car", "dog", "person")
_text = st.text(alphabet="abxyz", max_size=3)
_scalar = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -1.5, 2.25]), _text, st.booleans())
_metadata = st.fixed_dictionaries(
    {},
    optional={
        "a": _scalar,
        "b": st.fixed_dictionaries({}, optional={"c": _scalar}),
        "tags": st.one_of(_text, st.lists(_scalar, max_size=3)),
    },
)
_attributes = st.fixed_dictionaries({}, optional={"score": st.sampled_from([0.1, 0.5, 0.9]), "x": _scalar})
_instance = st.tuples(st.sampled_from(LABELS), st.sampled_from(["box", "tag"]), _attributes)
_file = st.fixed_dictionaries(
    {
        "name": _text,
        "media_type": st.sampled_from(["image/jpeg", "image/png", "text/plain"]),
        "size": st.integers(0, 5),
        "width": st.none() | st.integers(1, 4),
        "metadata": _metadata,
        "instances": st.lists(_instance, max_size=4),
        "change": st.none() | st.tuples(_metadata, st.booleans(), _instance),  # new metadata, drop first, add
    }
)


def _literal(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else json.dumps(value)


def _predicates() -> st.SearchStrategy[str]:
    counts = st.sampled_from(
        ["labels.car", "labels.dog", "labels.person", "instances.count", "instances.box", "file.size", "file.width"]
    )
    ops = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
    json_fields = st.sampled_from(
        ["file.meta.a", "file.meta.b.c", "file.meta.tags", "attributes.score", "attributes.x"]
    )
    json_compare = st.tuples(json_fields, ops, _scalar).filter(
        lambda t: not isinstance(t[2], bool) or t[1] in ("=", "!=")
    )
    return st.one_of(
        st.builds(lambda f, o, v: f"{f} {o} {v}", counts, ops, st.integers(0, 4)),
        st.builds(
            lambda f, vs: f"{f} in [{', '.join(map(str, vs))}]",
            counts,
            st.lists(st.integers(0, 3), min_size=1, max_size=3),
        ),
        st.builds(lambda o, v: f"file.name {o} {json.dumps(v)}", ops, _text),
        st.builds(lambda v: f"file.name contains {json.dumps(v)}", _text),
        st.builds(
            lambda o, v: f"file.type {o} {json.dumps(v)}",
            st.sampled_from(["=", "!="]),
            st.sampled_from(["image", "text"]),
        ),
        json_compare.map(lambda t: f"{t[0]} {t[1]} {_literal(t[2])}"),
        st.builds(
            lambda f, vs: f"{f} in [{', '.join(map(_literal, vs))}]",
            json_fields,
            st.lists(_scalar, min_size=1, max_size=3),
        ),
        st.builds(lambda f, v: f"{f} contains {_literal(v)}", json_fields, _scalar),
        st.builds(lambda f: f"{f} exists", json_fields),
    )


_queries = st.recursive(
    _predicates(),
    lambda inner: st.one_of(
        st.builds(lambda q: f"not ({q})", inner),
        st.builds(lambda a, b: f"({a}) and ({b})", inner, inner),
        st.builds(lambda a, b: f"({a}) or ({b})", inner, inner),
    ),
    max_leaves=4,
)


class _World:
    """One random project written through the service, and the same facts in Python."""

    def __init__(self, service: Service, specs: list[dict[str, Any]]) -> None:
        self.service = service
        create = CreateProject(name=f"slices-{uuid4().hex[:8]}")
        self.project_id, self.name = create.project_id, create.name
        self._execute([create, *(DefineLabel(name=label) for label in LABELS)])
        directory = CreateDirectory(name="all")
        self.directory_id = directory.directory_id
        commands: list[Command] = [directory]
        self.ids: list[UUID] = []
        self.facts: dict[int, dict[UUID, FileFacts]] = {}
        first_instances: dict[UUID, UUID] = {}
        version = self._version() + 1
        before: dict[UUID, FileFacts] = {}
        for i, spec in enumerate(specs):
            add = AddFile(
                directory_id=directory.directory_id,
                sha256=hashlib.sha256(bytes([i])).hexdigest(),
                name=f"{i}{spec['name']}",
                media_type=spec["media_type"],
                size=spec["size"],
                width=spec["width"],
                metadata=spec["metadata"],
            )
            commands.append(add)
            self.ids.append(add.file_id)
            before[add.file_id] = FileFacts(
                add.name, add.media_type, add.size, add.width, None, version, spec["metadata"], list(spec["instances"])
            )
            for n, (label, kind, attributes) in enumerate(spec["instances"]):
                instance = AddInstance(
                    file_id=add.file_id,
                    label=label,
                    kind=kind,
                    points=((0, 0), (1, 1)) if kind == "box" else (),
                    attributes=attributes,
                )
                commands.append(instance)
                if n == 0:
                    first_instances[add.file_id] = instance.instance_id
        self._execute(commands)
        self.facts[version] = before
        self._change(specs, first_instances, before)

    def _change(self, specs: list[dict[str, Any]], first: dict[UUID, UUID], before: dict[UUID, FileFacts]) -> None:
        commands: list[Command] = []
        after = {file_id: FileFacts(**{**vars(f), "instances": list(f.instances)}) for file_id, f in before.items()}
        for file_id, spec in zip(self.ids, specs):
            if spec["change"] is None:
                continue
            metadata, drop_first, (label, kind, attributes) = spec["change"]
            commands.append(ChangeFileMetadata(file_id=file_id, metadata=metadata))
            after[file_id].metadata = metadata
            if drop_first and file_id in first:
                commands.append(DeleteInstance(instance_id=first[file_id], expected_revision=1))
                after[file_id].instances.pop(0)
            commands.append(
                AddInstance(
                    file_id=file_id,
                    label=label,
                    kind=kind,
                    points=((0, 0), (1, 1)) if kind == "box" else (),
                    attributes=attributes,
                )
            )
            after[file_id].instances.append((label, kind, attributes))
        if commands:
            self._execute(commands)
            self.facts[self._version()] = after

    def _execute(self, commands: list[Command]) -> None:
        self.service.execute(self.project_id, "ana", commands)

    def _version(self) -> int:
        return self.service.read(queries.project_named, self.name).version

    def sql(self, query: str, version: int) -> set[UUID]:
        project = self.service.read(queries.project_named, self.name)
        found = self.service.read(
            queries.slice_file_ids, project, version, parse(query), directory_ids=[self.directory_id]
        )
        return set(found)

    def python(self, query: str, version: int) -> set[UUID]:
        expr = parse(query)
        return {file_id for file_id, facts in self.facts[version].items() if holds(facts, expr)}


class SliceContract:
    """Subclasses provide a class-scoped ``service``."""

    # One contract, several backends: the same test method runs on each subclass by design.
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(specs=st.lists(_file, min_size=1, max_size=6), query_list=st.lists(_queries, min_size=1, max_size=4))
    def test_sql_equals_brute_force_at_latest_and_pinned_versions(
        self, service: Service, specs: list[dict[str, Any]], query_list: list[str]
    ) -> None:
        world = _World(service, specs)
        for version in world.facts:
            for query in query_list:
                assert world.sql(query, version) == world.python(query, version), (query, version)

    def test_injection_in_names_and_values_is_harmless(self, service: Service) -> None:
        world = _World(
            service,
            [
                {
                    "name": "a",
                    "media_type": "image/jpeg",
                    "size": 1,
                    "width": 1,
                    "metadata": {"a": "x"},
                    "instances": [("car", "box", {})],
                    "change": None,
                }
            ],
        )
        evil = [
            'file.meta.a = "x\'; DROP TABLE files; --"',
            'file.meta."a\') OR 1=1 --" exists',
            'file.name contains "%"',
            'attributes."x\'); DELETE FROM instances; --" = 1',
        ]
        for query in evil:
            assert world.sql(query, max(world.facts)) == set(), query
        with pytest.raises(InvalidInputError, match='unknown label "car\'; DROP TABLE files; --"'):
            world.sql('labels."car\'; DROP TABLE files; --" > 0', max(world.facts))
        with service.reading() as db:
            assert {"files", "instances"} <= set(inspect(db).get_table_names())
        assert len(world.sql("labels.car = 1", max(world.facts))) == 1

    def test_the_deepest_and_the_longest_queries_allowed_run_and_agree_with_brute_force(self, service: Service) -> None:
        file = {"name": "a", "media_type": "image/jpeg", "size": 1, "width": 1, "metadata": {"a": 1}, "change": None}
        world = _World(service, [{**file, "instances": [("car", "box", {"score": 0.5})]}])
        kinds = ['attributes.x contains "a"', "file.meta.a in [1, 2]", "labels.dog = 0", "not file.meta.b exists"]
        levels = range(MAX_QUERY_DEPTH - 1)
        deepest = "".join(f"{kinds[d % 4]} {('and', 'or')[d % 2]} (" for d in levels) + kinds[0] + ")" * len(levels)
        for query in (
            "not " * MAX_QUERY_DEPTH + "labels.car > 0",
            "not (" * MAX_QUERY_DEPTH + kinds[0] + ")" * MAX_QUERY_DEPTH,
            deepest,
            _longest(" and "),
            _longest(" or "),
        ):
            assert world.sql(query, max(world.facts)) == world.python(query, max(world.facts)), query[:80]


def _longest(joiner: str) -> str:
    """As many predicates of every kind as fit in the longest query allowed."""
    kinds = ["labels.car > 0", "file.meta.a = 1", "attributes.score > 0.1", "not labels.dog > 0", "file.size < 9"]
    query = kinds[0]
    while len(query + joiner + kinds[0]) <= MAX_QUERY_LENGTH:
        query += joiner + kinds[len(query) % len(kinds)]
    return query[: query.rindex(joiner)] if len(query) > MAX_QUERY_LENGTH else query


@pytest.fixture(scope="module")
def sqlite_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = build_service(load_settings(data_dir=tmp_path_factory.mktemp("slices")))
    yield service
    service.engine.dispose()


class TestSqliteSlices(SliceContract):
    @pytest.fixture
    def service(self, sqlite_service: Service) -> Service:
        return sqlite_service


@pytest.mark.kafka
@pytest.mark.postgres
class TestPostgresSlices(SliceContract):
    @pytest.fixture
    def service(self, postgres_service: Service) -> Service:
        return postgres_service


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("labels.car >", 'syntax error at column 13: expected a "quoted string", a number, false, true; got the end'),
        ("labels.car >> 3", "syntax error at column 13: expected .*; got '>'"),
        ("labels.car > 1 labels.dog > 2", "syntax error at column 16: expected and, or, the end; got 'labels'"),
        ("(labels.car > 1", "syntax error at column 16: expected '\\)'; got the end of the query"),
        ("labels.car > 1 & x", "syntax error at column 16: .*got '&'"),
        ("", "empty query"),
        ("label.cars > 1", "unknown field 'label.cars' at column 1; did you mean labels.<label>"),
        ('file.colour = "x"', "unknown field 'file.colour' at column 1; did you mean"),
        ('labels.car = "x"', "labels.car is a number, but is compared with string 'x'"),
        ("file.name > 3", "file.name is a string, but is compared with number 3.0"),
        ("file.meta.ok > true", "booleans compare only with = and !=, not >"),
        ("file.name exists", "file.name is a string; compare it with"),
        ("labels.car contains 3", "labels.car is a number; compare it with"),
        ('file.type > "image"', 'file.type is "image", "video"…; compare it only with =, != and in'),
        ('file.name = "a\tb"', "control character U\\+0009 in a string at column 15; write it as \\\\t"),
        ('file.name = "a\\u0000b"', "strings must not contain U\\+0000 \\(the string at column 13\\)"),
        ('file.name = "a\\qb"', "invalid \\\\escape in a string at column 15"),
        ("not " * 1500 + "labels.car > 0", "conditions nest more than 25 deep at column 101"),
        ("labels.car > 0 or " * 600 + "labels.car > 0", "the query has 10,814 characters; at most 10,000"),
    ],
)
def test_every_query_error_says_where_and_what(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message) as error:
        parse(query)
    assert error.value.column >= 1
    assert "^" in str(error.value)


def test_a_query_as_deep_or_as_long_as_allowed_parses() -> None:
    assert parse("not " * MAX_QUERY_DEPTH + "labels.car > 0")
    widest = " or ".join(["labels.car > 0"] * 555)
    assert len(widest) <= MAX_QUERY_LENGTH and len(parse(widest).operands) == 555  # type: ignore[union-attr]


def test_precedence_is_not_then_and_then_or() -> None:
    assert parse("labels.a > 0 or labels.b > 0 and not labels.c > 0") == parse(
        "labels.a > 0 or (labels.b > 0 and (not labels.c > 0))"
    )
    assert parse("labels.a > 0 AND NOT labels.b > 0") == parse("labels.a > 0 and not labels.b > 0")


def test_an_unknown_label_is_named_with_close_matches(tmp_path: Path) -> None:
    service = build_service(load_settings(data_dir=tmp_path))
    world = _World(service, [])
    with pytest.raises(InvalidInputError, match="unknown label 'cra' at column 19 .*did you mean car"):
        world.sql("labels.car > 0 or labels.cra > 1", 1)
