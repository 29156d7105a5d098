"""The pure domain: what commands accept, refuse, and turn into."""

from typing import Any
from uuid import uuid4

import pytest
from pydantic import model_validator

from annolog.core import (
    AddFile,
    AddInstance,
    ChangeInstance,
    CopyFile,
    CreateProject,
    FileCopied,
    InstanceAdded,
    InvalidInputError,
    TagVersion,
    project_id_for,
    uuid7,
)
from annolog.core.arrays import holding_past
from annolog.core.labels import AttributeSpecs, check_attributes, stored_specs
from annolog.core.model import Model


def test_a_box_with_x_max_below_x_min_is_refused_naming_the_box() -> None:
    with pytest.raises(InvalidInputError, match=r"box \(50.0, 20.0, 10.0, 60.0\) is empty or inverted"):
        AddInstance(file_id=uuid4(), label="dog", kind="box", points=((50, 20), (10, 60)))


@pytest.mark.parametrize(
    ("kind", "points", "message"),
    [
        ("box", ((1, 1),), "a box needs 2 points, got 1"),
        ("polygon", ((0, 0), (1, 1)), "a polygon needs at least 3 points, got 2"),
        ("point", (), "a point needs 1 points, got 0"),
        ("tag", ((1, 1),), "a tag needs 0 points, got 1"),
        ("line", ((0, 0), (float("nan"), 1)), "line coordinates must be finite numbers"),
    ],
)
def test_geometry_that_does_not_fit_its_kind_is_refused(kind: str, points: tuple, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        AddInstance(file_id=uuid4(), label="x", kind=kind, points=points)


def test_an_unknown_instance_kind_is_refused_listing_the_kinds() -> None:
    with pytest.raises(InvalidInputError, match="kind: Input should be 'box', 'polygon'.*got 'blob'"):
        AddInstance(file_id=uuid4(), label="x", kind="blob")


def test_an_unknown_field_is_refused_rather_than_dropped() -> None:
    with pytest.raises(InvalidInputError, match="labell: Extra inputs are not permitted"):
        AddInstance(file_id=uuid4(), labell="dog", kind="tag")


def test_a_tag_that_looks_like_a_version_number_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="tag '12' looks like a version number"):
        TagVersion(tag="12")


def test_a_file_hash_must_be_a_sha256_hex_digest() -> None:
    with pytest.raises(InvalidInputError, match="sha256: String should match pattern"):
        AddFile(directory_id=uuid4(), sha256="abc", name="a.jpg", media_type="image/jpeg", size=1)


def test_a_command_becomes_a_commit_named_after_it_with_client_generated_ids() -> None:
    command = AddInstance(file_id=uuid4(), label="dog", kind="box", points=((1, 2), (3, 4)))
    commit = command.commit(project_id=uuid4(), actor="ana")

    assert commit.command == "AddInstance"
    (event,) = commit.events
    assert isinstance(event, InstanceAdded)
    assert event.instance_id == command.instance_id and event.points == ((1, 2), (3, 4))


def test_a_retried_command_keeps_its_commit_id() -> None:
    command = ChangeInstance(instance_id=uuid4(), expected_revision=3, label="cat", kind="tag")
    first = command.commit(project_id=uuid4(), actor="ana")
    retry = command.commit(project_id=first.project_id, actor="ana", commit_id=first.commit_id)
    assert retry.commit_id == first.commit_id and retry.events == first.events


def test_copy_records_its_source_and_whether_instances_come_along() -> None:
    source = uuid4()
    (event,) = CopyFile(source_file_id=source, directory_id=uuid4(), copy_instances=False).events()
    assert isinstance(event, FileCopied)
    assert event.source_file_id == source and event.with_instances is False and event.file_id != source


def test_a_project_name_always_gives_the_same_project_id() -> None:
    assert CreateProject(name="cars").project_id == project_id_for("cars") != project_id_for("dogs")


def test_uuid7_ids_are_version_7_and_sort_in_creation_order_even_within_a_millisecond() -> None:
    ids = [uuid7() for _ in range(10_000)]  # thousands per millisecond
    assert all(i.version == 7 and i.variant == "specified in RFC 4122" for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_a_shrink_must_clear_the_stored_chunks_holding_elements_past_it_in_grid_order() -> None:
    stored = ["1.1", "0.0", "0.1", "1.0", "5.0"]  # 5.0 lies outside the (4, 10) grid of chunks (2, 5)

    assert holding_past((4, 10), (2, 5), (3, 10), stored) == ["1.0", "1.1"]  # row 3 of chunks 1.*
    assert holding_past((4, 10), (2, 5), (2, 10), stored) == ["1.0", "1.1"]  # chunks 1.* whole
    assert holding_past((4, 10), (2, 5), (3, 20), stored) == ["1.0", "1.1"]  # one axis grows, one shrinks
    assert holding_past((4, 10), (2, 5), (4, 7), stored) == ["0.1", "1.1"]
    assert holding_past((4, 10), (2, 5), (4, 10), stored) == []


class _Inner(Model):
    value: int

    @model_validator(mode="after")
    def _counted(self) -> "_Inner":
        _VALIDATED.append(self.value)
        return self


class _Outer(Model):
    inner: list[_Inner]


_VALIDATED: list[int] = []


def test_a_nested_model_is_validated_once_and_its_error_names_its_path() -> None:
    # Decoding the log builds every event nested in its commit: running each event's
    # after-validators (its geometry checks) a second time cost a fifth of decoding.
    _VALIDATED.clear()
    _Outer(inner=[{"value": 1}, {"value": 2}])
    _Outer.model_validate({"inner": [{"value": 3}]})
    assert _VALIDATED == [1, 2, 3]
    with pytest.raises(InvalidInputError, match=r"invalid _Outer: inner\.1\.value: .*\(got 'x'\)"):
        _Outer(inner=[{"value": 1}, {"value": "x"}])


@pytest.mark.parametrize(
    ("spec", "value", "why"),
    [
        ("bool", True, None),
        ("bool", 1, "must be true or false"),
        ("str", "x", None),
        ("str", 3, "must be a string"),
        (["red", "blue"], "red", None),
        (["red", "blue"], "green", "must be one of 'red', 'blue'"),
        ({"type": "int", "min": 0}, 3, None),
        ({"type": "int", "min": 0}, 2.5, "must be an integer"),
        ({"type": "int", "min": 0}, True, "must be an integer"),
        ({"type": "int", "min": 0}, -1, "must be at least 0"),
        ({"type": "float", "max": 1}, 1, None),
        ({"type": "float", "max": 1}, 1.5, "must be at most 1"),
        ({"type": "float", "max": 1}, "1", "must be a number"),
    ],
)
def test_an_attribute_is_checked_against_its_spec_as_the_views_store_it(spec: Any, value: Any, why: str | None) -> None:
    stored = stored_specs(AttributeSpecs.validate_python({"a": spec}))
    if why is None:
        check_attributes("car", stored, {"a": value})
    else:
        with pytest.raises(InvalidInputError, match=f"attribute 'a' of label 'car' {why}, got"):
            check_attributes("car", stored, {"a": value})
