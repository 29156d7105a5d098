"""Skeletons and keypoints instances in core and its rules: judged in memory, no database."""

from uuid import UUID

import pytest

from annolog.api.http.web.shapes import shapes
from annolog.core.commit import Commit
from annolog.core.errors import AccessDenied, ConflictError, InvalidInputError, NotFoundError
from annolog.core.events import InstanceAdded, InstanceChanged, LabelDefined, Role, RoleGranted, SkeletonDeclared
from annolog.core.geometry import InstanceKind, Shape
from annolog.core.rules import judge
from annolog.projections.readmodels import InstanceView
from tests.factories import file_view
from tests.unit.test_rules import PHOTO, PROJECT, Judged, opened

PERSON = UUID(int=50)
NAMES = ("head", "hip", "knee")


@pytest.fixture
def project() -> Judged:
    """``opened()`` (a 100x80 photo, label "car") with label "person" of a three-keypoint skeleton."""
    judged = opened()
    judged.commit(LabelDefined(name="person"), SkeletonDeclared(label="person", keypoints=NAMES, skeleton=((0, 1),)))
    return judged


def _pose(
    points: tuple[tuple[float, float], ...] = ((50, 10), (50, 40), (0, 0)),
    visibility: tuple[int, ...] = (2, 1, 0),
    label: str = "person",
) -> InstanceAdded:
    return InstanceAdded(
        instance_id=PERSON,
        file_id=PHOTO,
        label=label,
        kind=InstanceKind.keypoints,
        points=points,
        visibility=visibility,
    )


def test_a_skeleton_is_a_row_of_its_label_with_names_and_zero_based_edges(project: Judged) -> None:
    row = project.state.row("skeletons", ("person",))

    assert row is not None and row["keypoints"] == list(NAMES) and row["skeleton"] == [[0, 1]]


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"keypoints": ("a", "a")}, "keypoint names must be unique; 'a' repeat"),
        ({"keypoints": ("a", "b"), "skeleton": ((0, 2),)}, r"edge \(0, 2\) must join two different keypoints"),
        ({"keypoints": ("a", "b"), "skeleton": ((1, 1),)}, r"edge \(1, 1\) must join two different keypoints"),
        ({"keypoints": ()}, "at least 1 item"),
    ],
)
def test_a_skeleton_with_repeated_names_or_edges_off_its_keypoints_is_refused(fields: dict, why: str) -> None:
    with pytest.raises(InvalidInputError, match=why):
        SkeletonDeclared(label="person", **fields)


def test_a_skeleton_of_an_undefined_label_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="label 'horse' is not defined"):
        opened().commit(SkeletonDeclared(label="horse", keypoints=NAMES))


def test_a_skeleton_may_rename_its_keypoints_and_change_its_edges_but_not_their_count(project: Judged) -> None:
    project.commit(SkeletonDeclared(label="person", keypoints=("nose", "hip", "knee"), skeleton=((0, 1), (1, 2))))
    assert project.state.row("skeletons", ("person",))["keypoints"] == ["nose", "hip", "knee"]  # type: ignore[index]

    with pytest.raises(ConflictError, match="skeleton of 3 keypoints.*a skeleton of 4 keypoints needs a new label"):
        project.commit(SkeletonDeclared(label="person", keypoints=(*NAMES, "ankle")))


def test_only_editors_declare_skeletons(project: Judged) -> None:
    project.commit(RoleGranted(principal="bo", role=Role.annotator))

    with pytest.raises(AccessDenied, match="bo may not SkeletonDeclared.*needs editor"):
        project.commit(SkeletonDeclared(label="person", keypoints=NAMES), actor="bo")


def test_a_keypoints_instance_is_a_row_with_its_points_and_visibility_flags(project: Judged) -> None:
    project.commit(_pose())

    row = project.state.row("instances", (PERSON,))
    assert row is not None and row["kind"] == "keypoints" and row["visibility"] == [2, 1, 0]
    assert row["points"] == [[50, 10], [50, 40], [0, 0]] and row["mask"] is None and row["parts"] is None


def test_a_keypoints_instance_of_another_count_than_its_skeleton_is_refused_naming_both(project: Judged) -> None:
    with pytest.raises(InvalidInputError, match=r"label 'person'.*expected 3 \(head, hip, knee\), got 2"):
        project.commit(_pose(points=((1, 1), (2, 2)), visibility=(2, 2)))


def test_keypoints_of_a_label_without_a_skeleton_are_refused(project: Judged) -> None:
    with pytest.raises(InvalidInputError, match="label 'car' declares no skeleton"):
        project.commit(_pose(label="car"))


def test_an_edit_to_keypoints_is_checked_against_the_skeleton_of_its_new_label(project: Judged) -> None:
    project.commit(_pose())
    edit = InstanceChanged(
        instance_id=PERSON,
        expected_revision=1,
        label="car",
        kind=InstanceKind.keypoints,
        points=((1, 1), (2, 2), (3, 3)),
        visibility=(2, 2, 2),
    )
    with pytest.raises(InvalidInputError, match="label 'car' declares no skeleton"):
        project.commit(edit)


def test_only_labelled_keypoints_must_lie_on_the_image(project: Judged) -> None:
    project.commit(_pose(points=((50, 10), (50, 40), (-500, 900)), visibility=(2, 1, 0)))

    with pytest.raises(InvalidInputError, match=r"point \(50.0, 900.0\) lies outside its 100x80 image"):
        project.commit(_pose(points=((50, 10), (50, 900), (0, 0)), visibility=(2, 1, 0)))


@pytest.mark.parametrize(
    ("kind", "visibility", "why"),
    [
        (InstanceKind.keypoints, (2, 2), "one visibility flag per point: 3 points, got 2 flags"),
        (InstanceKind.polygon, (2, 2, 2), "only a keypoints instance has visibility flags; a polygon got"),
        (InstanceKind.keypoints, (2, 3, 0), "less than or equal to 2"),
    ],
)
def test_visibility_flags_are_one_per_keypoint_and_cocos_zero_one_or_two(
    kind: InstanceKind, visibility: tuple[int, ...], why: str
) -> None:
    with pytest.raises(InvalidInputError, match=why):
        Shape(label="person", kind=kind, points=((1, 1), (2, 2), (3, 3)), visibility=visibility)


def test_the_audit_shows_a_skeleton_before_and_after_and_a_keypoints_instance_with_its_flags(project: Judged) -> None:
    renamed = SkeletonDeclared(label="person", keypoints=("nose", "hip", "knee"))
    commit = Commit(project_id=PROJECT, actor="ana", command="Test", events=(renamed, _pose()))

    skeleton, instance = judge(commit, "streets", project.version + 1, project.state)

    assert skeleton.before == {"keypoints": list(NAMES), "skeleton": [[0, 1]]}
    assert skeleton.after == {"keypoints": ["nose", "hip", "knee"], "skeleton": []}
    assert instance.after["visibility"] == [2, 1, 0] and instance.after["kind"] == "keypoints"


def test_the_web_page_draws_the_labelled_keypoints_as_dots_and_leaves_out_the_unlabelled() -> None:
    pose = InstanceView(
        instance_id=PERSON,
        file_id=PHOTO,
        label="person",
        kind="keypoints",
        points=((10, 20), (0, 0), (30, 40)),
        visibility=(2, 0, 1),
        attributes={},
        revision=1,
    )
    file = file_view(PHOTO, pose)

    (dots,) = shapes(file)

    assert (dots.element, dots.attributes["class"]) == ("path", "keypoints")
    assert dots.attributes["d"].count("M ") == 2 and "M 0," not in dots.attributes["d"]
