"""The projection contract: the same SDK behaviour on the embedded default and on Kafka + PostgreSQL + S3."""

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest.mock import patch
from uuid import uuid4

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

import annolog
from annolog import masks
from annolog.api.bootstrap import build_service
from annolog.api.http import create_app
from annolog.api.service import Service
from annolog.api.settings import Settings, load_settings
from annolog.api.tokens import Tokens
from annolog.core import (
    AccessDenied,
    AddFile,
    AddInstance,
    ConflictError,
    CreateDirectory,
    CreateProject,
    DefineLabel,
    InvalidInputError,
    NotFoundError,
    ReadOnlyError,
    uuid7,
)
from annolog.http import HttpBackend
from annolog.projections.projector import Projector, stored_offset
from annolog.projections.replay import (
    checksums,
    drop_database,
    fresh_database,
    replay,
    replay_until,
    snapshot_checksums,
)
from annolog.projections.tables import commits
from tests.stack import environment
from tests.videos import make_video


def jpeg(width: int = 64, height: int = 48, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG")
    return out.getvalue()


Connect = Callable[[str], annolog.Client]
"""A client acting as the principal named."""


class ProjectionContract:
    """Subclasses provide ``service`` (a Service whose writes are judged before they return)
    and may override ``connect`` to reach it another way (over HTTP)."""

    @pytest.fixture
    def connect(self, service: Service) -> Connect:
        return lambda actor: annolog.Client(service, actor=actor)

    @pytest.fixture
    def client(self, connect: Connect) -> annolog.Client:
        return connect("ana")

    @pytest.fixture
    def project(self, client: annolog.Client) -> annolog.Project:
        return client.create_project(f"streets-{uuid4().hex[:6]}", labels=["car", "dog", "person"])

    def test_a_box_drawn_in_one_directory_shows_in_its_mirror_at_later_versions_only(
        self, project: annolog.Project
    ) -> None:
        everything, dogs = project.directory.new("all"), project.directory.new("dogs")
        photo = everything.add_file(jpeg(), name="dog.jpg")
        dogs.add(photo)
        before_box = project.version
        project.directory.get("all")[0].add_instance("dog", box=(10, 20, 50, 40))
        after_box = project.version
        project.define_labels("cat")  # a later, unrelated version

        for version in (after_box, project.version):
            (mirrored,) = project.directory.get("dogs", version=version)
            assert [i.box for i in mirrored.instances] == [(10, 20, 50, 40)]
        (earlier,) = project.directory.get("dogs", version=before_box)
        assert earlier.instances == []

    def test_an_edit_in_one_directory_is_the_edit_in_every_mirror(self, project: annolog.Project) -> None:
        a, b = project.directory.new("a"), project.directory.new("b")
        photo = a.add_file(jpeg(), name="p.jpg")
        box = photo.add_instance("car", box=(1, 2, 30, 40))
        b.add(photo)
        box.update(label="person")
        assert [i.label for i in project.directory.get("b")[0].instances] == ["person"]
        assert [i.label for i in project.directory.get("a")[0].instances] == ["person"]

    def test_as_of_every_version_equals_a_replay_to_that_version(
        self, project: annolog.Project, service: Service
    ) -> None:
        _build_history(project)
        for version in range(1, project.version + 1):
            target = fresh_database(service.engine)
            try:
                replay_until(service.log, target, project.id, version)
                assert snapshot_checksums(target, project.id, version) == snapshot_checksums(
                    service.engine, project.id, version
                ), f"version {version}"
            finally:
                drop_database(target)

    def test_a_full_rebuild_equals_the_incremental_views(self, project: annolog.Project, service: Service) -> None:
        _build_history(project)
        assert _rebuilt_equals_live(service)

    def test_a_commit_id_resent_with_other_commands_is_a_conflict_and_a_true_retry_gets_the_first_outcome(
        self, project: annolog.Project
    ) -> None:
        commit_id = uuid7()
        first = project.execute([DefineLabel(name="truck")], commit_id=commit_id)

        assert project.execute([DefineLabel(name="truck")], commit_id=commit_id) == first
        with pytest.raises(ConflictError, match=f"commit id {commit_id} was already used for a commit with other"):
            project.execute([DefineLabel(name="bus")], commit_id=commit_id)
        assert "bus" not in project.labels and project.version == first.version

    def test_a_retry_whose_new_things_got_fresh_ids_gets_the_first_outcome(self, project: annolog.Project) -> None:
        # The server fills in ids a request leaves out, and a bulk import makes new ones on each run.
        commit_id = uuid7()
        first = project.execute([CreateDirectory(name="retried")], commit_id=commit_id)

        assert project.execute([CreateDirectory(name="retried")], commit_id=commit_id) == first
        with pytest.raises(ConflictError, match="already used for a commit with other"):
            project.execute([CreateDirectory(name="another")], commit_id=commit_id)
        assert [d.name for d in project.directory.list()] == ["retried"]

    def test_two_handles_editing_one_instance_one_wins_and_a_replay_decides_the_same(
        self, project: annolog.Project, service: Service
    ) -> None:
        photo = project.directory.new("all").add_file(jpeg(), name="p.jpg")
        photo.add_instance("car", box=(1, 1, 10, 10))
        first = project.directory.get("all")[0].instances[0]
        second = project.directory.get("all")[0].instances[0]

        first.update(box=(2, 2, 10, 10))
        with pytest.raises(ConflictError, match="is at revision 2 but the edit expected revision 1"):
            second.update(box=(3, 3, 10, 10))
        assert project.directory.get("all")[0].instances[0].box == (2, 2, 10, 10)

        assert _rebuilt_equals_live(service)

    def test_a_client_retry_of_the_same_commit_is_applied_once(
        self, project: annolog.Project, service: Service
    ) -> None:
        photo = project.directory.new("all").add_file(jpeg(), name="p.jpg")
        command = AddInstance(file_id=photo.id, label="car", kind="box", points=((1, 1), (5, 5)))
        first = project.execute([command])
        retry = project.execute([command], commit_id=first.commit_id)

        assert retry == first and project.version == first.version
        assert len(project.directory.get("all")[0].instances) == 1
        with service.engine.connect() as db:
            assert db.execute(select(func.count()).where(commits.c.commit_id == first.commit_id)).scalar_one() == 1

    def test_copies_take_the_instances_or_not_and_keep_their_lineage(self, project: annolog.Project) -> None:
        source_dir, copies = project.directory.new("src"), project.directory.new("copies")
        bare = project.directory.new("bare")
        photo = source_dir.add_file(jpeg(), name="p.jpg")
        photo.add_instance("car", box=(1, 1, 10, 10))
        with_boxes = photo.copy(copies)
        without = photo.copy(bare, copy_instances=False)

        assert with_boxes.copied_from == photo.id == without.copied_from
        assert with_boxes.sha256 == photo.sha256 and with_boxes.id != photo.id
        assert [i.box for i in with_boxes.instances] == [(1, 1, 10, 10)] and without.instances == []
        with_boxes.instances[0].update(label="dog")  # the copy's instances are its own
        assert project.directory.get("src")[0].instances[0].label == "car"

    def test_removing_a_file_from_a_directory_keeps_it_in_the_others(self, project: annolog.Project) -> None:
        a, b = project.directory.new("a"), project.directory.new("b")
        photo = a.add_file(jpeg(), name="p.jpg")
        photo.add_instance("car", box=(1, 1, 10, 10))
        b.add(photo)
        b.remove(photo)
        assert len(project.directory.get("b")) == 0
        assert [i.label for i in project.directory.get("a")[0].instances] == ["car"]

    def test_a_pinned_directory_never_changes_and_refuses_writes(self, project: annolog.Project) -> None:
        everything = project.directory.new("all")
        everything.add_file(jpeg(), name="one.jpg").add_instance("car", box=(1, 1, 9, 9))
        v1 = project.tag("v1")
        everything.add_file(jpeg(color="blue"), name="two.jpg")
        project.directory.get("all")[0].instances[0].delete()

        pinned = project.directory.get("all", version="v1")
        assert pinned.version == v1 and len(pinned) == 1
        assert [f.name for f in pinned] == ["one.jpg"] and len(pinned[0].instances) == 1
        with pytest.raises(ReadOnlyError, match="pinned at version"):
            pinned.add_file(jpeg(), name="three.jpg")
        with pytest.raises(ReadOnlyError, match="pinned at version"):
            pinned[0].instances[0].update(label="dog")

    def test_a_tag_names_one_version_until_it_is_moved_with_force(self, project: annolog.Project) -> None:
        project.directory.new("all")
        v = project.tag("release")
        refusal = (
            f"tag 'release' already names version {v} of project '{project.name}', and a tag pins its version "
            "for good; to move it (admin): project.tag('release', 1, force=True), `annolog tag release 1 --force`, "
            "or a MoveTag command"
        )
        with pytest.raises(ConflictError) as refused:
            project.tag("release", 1)
        assert str(refused.value) == refusal  # word for word, embedded and over HTTP
        assert project.tags() == {"release": v}

        assert project.tag("release", 1, force=True) == 1
        assert project.tags() == {"release": 1} and project.directory.list(version="release") == []
        assert project.tag("new", force=True) == project.version  # force on a new name just names it

    def test_latest_is_the_newest_version_everywhere_and_no_tag_may_take_its_name(
        self, project: annolog.Project
    ) -> None:
        project.directory.new("all")
        project.tag("first")
        project.directory.new("more")

        assert [d.name for d in project.directory.list(version="latest")] == ["all", "more"]
        assert project.directory.get("more", version="latest").version == project.version
        with pytest.raises(InvalidInputError, match="may not be named 'latest'"):
            project.tag("latest")

    def test_moving_a_tag_needs_admin_and_is_audited_from_before_to_after(
        self, project: annolog.Project, connect: Connect
    ) -> None:
        project.directory.new("all")
        v = project.tag("release")
        project.grant("ed", "editor")
        project.grant("ada", "admin")
        with pytest.raises(AccessDenied, match="ed may not TagMoved.*needs admin"):
            connect("ed").project(project.name).tag("release", 1, force=True)

        connect("ada").project(project.name).tag("release", 1, force=True)

        (moved,) = project.history(event="TagMoved")
        assert (moved.actor, moved.entity, moved.entity_id) == ("ada", "tag", "release")
        assert (moved.before, moved.after) == ({"version": v}, {"version": 1})

    def test_moving_a_tag_to_the_version_it_names_commits_nothing(self, project: annolog.Project) -> None:
        project.directory.new("all")
        v = project.tag("release")
        assert project.tag("release", v, force=True) == v
        assert project.version == v and project.history(event="TagMoved") == []

    def test_a_dataset_opened_by_a_tag_keeps_the_tag_and_the_version_it_named(self, project: annolog.Project) -> None:
        project.directory.new("all")
        v1 = project.tag("v1")
        project.directory.new("more")
        by_tag = project.directory.get("all", version="v1")
        later = project.tag("v1", project.version, force=True)

        assert (by_tag.version, by_tag.tag) == (v1, "v1")  # opened before the move: still the old version
        assert by_tag.slice("labels.car = 0").tag == "v1" and repr(by_tag).endswith(f"version {v1} (tag 'v1'))")
        moved = project.directory.get("all", version="v1")
        assert (moved.version, moved.tag) == (later, "v1") and later > v1
        assert project.slice("labels.car = 0", version="v1").tag == "v1"
        assert project.directory.get("all", version=v1).tag is None and project.directory.get("all").tag is None

    def test_json_of_any_text_and_size_reads_back_as_written(
        self, project: annolog.Project, caplog: pytest.LogCaptureFixture
    ) -> None:
        """What the bulk writer must escape or cannot encode itself: backslashes, tabs and newlines
        (COPY's own escapes), quotes, text past ASCII, an integer past 64 bits. Written in bulk:
        a batch that fell back to one commit at a time would hide a bad COPY line."""
        tricky = {
            "path": "C:\\data\\n\\t",
            "note": "tab\there\nnew line\r\\N",
            "quote": '"quoted" \\"',
            "words": ["Zürich", "東京", "🚗"],
            "big": 2**70,
            "nested": {"empty": {}, "none": None, "list": [1, 2.5, True]},
        }
        everything = project.directory.new("all")
        photo = everything.add_file(jpeg(), name="p.jpg", metadata=tricky)
        box = photo.add_instance("car", box=(1, 1, 9, 9), attributes=tricky)

        (again,) = project.directory.get("all")
        assert again.metadata == tricky
        assert [i.attributes for i in again.instances] == [tricky]
        assert box.attributes == tricky
        assert "one commit at a time" not in caplog.text

    def test_a_file_declared_in_another_size_than_its_upload_is_refused(self, project: annolog.Project) -> None:
        everything = project.directory.new("all")
        stored = project.store_blob(jpeg(), name="p.jpg")
        version = project.version

        lying = stored.model_dump() | {"size": stored.size * 2}
        with pytest.raises(InvalidInputError, match=f"blob {stored.sha256} is {stored.size} bytes, but the commit"):
            project.execute([AddFile(directory_id=everything.id, name="p.jpg", **lying)])
        assert project.version == version
        project.execute([AddFile(directory_id=everything.id, name="p.jpg", **stored.model_dump())])
        assert [f.size for f in project.directory.get("all")] == [stored.size]

    def test_a_file_naming_bytes_another_file_holds_must_declare_their_size(
        self, project: annolog.Project, connect: Connect
    ) -> None:
        photo = project.directory.new("all").add_file(jpeg(), name="p.jpg")
        copies = project.directory.new("copies")
        project.grant("ben", "editor")
        ben = connect("ben").project(project.name)  # never uploaded these bytes: reads them in "all"
        described = {k: getattr(photo, k) for k in ("sha256", "media_type", "width", "height")}

        with pytest.raises(InvalidInputError, match=f"blob {photo.sha256} is {photo.size} bytes, but the commit"):
            ben.execute([AddFile(directory_id=copies.id, name="p.jpg", size=photo.size + 1, **described)])
        ben.execute([AddFile(directory_id=copies.id, name="p.jpg", size=photo.size, **described)])
        assert [f.sha256 for f in project.directory.get("copies")] == [photo.sha256]

    def test_bad_input_gets_a_clear_error_and_changes_nothing(self, project: annolog.Project) -> None:
        everything = project.directory.new("all")
        photo = everything.add_file(jpeg(), name="p.jpg")
        version = project.version
        cases = [
            (InvalidInputError, "box .* is empty or inverted", lambda: photo.add_instance("car", box=(50, 1, 10, 9))),
            (
                InvalidInputError,
                "unknown instance kind 'blob'; kinds: box, polygon",
                lambda: photo.add_instance("car", kind="blob"),
            ),
            (
                NotFoundError,
                "label 'horse' is not defined.*car, dog, person",
                lambda: photo.add_instance("horse", box=(1, 1, 2, 2)),
            ),
            (
                NotFoundError,
                f"version 99 of project '{project.name}' does not exist; latest is {version}",
                lambda: project.directory.get("all", version=99),
            ),
            (NotFoundError, "tag 'v9' does not exist", lambda: project.directory.get("all", version="v9")),
            (InvalidInputError, "corrupt.jpg", lambda: everything.add_file(jpeg()[:200], name="corrupt.jpg")),
            (
                InvalidInputError,
                r"point \(500.0, 40.0\) lies outside its 64x48 image",
                lambda: photo.add_instance("car", box=(10, 10, 500, 40)),
            ),
            (InvalidInputError, "name: must not contain control", lambda: project.define_labels("c\x00r")),
            (
                InvalidInputError,
                "metadata: sky: must not contain NUL",
                lambda: everything.add_file(jpeg(color="green"), name="n.jpg", metadata={"sky": "grey\x00"}),
            ),
            (InvalidInputError, "must not contain '/'", lambda: project.directory.new("a/b")),
            (
                ConflictError,
                "already has a file named 'p.jpg'",
                lambda: everything.add_file(jpeg(color="blue"), name="p.jpg"),
            ),
        ]
        for error, message, attempt in cases:
            with pytest.raises(error, match=message):
                attempt()
        assert project.version == version
        assert [f.name for f in project.directory.get("all")] == ["p.jpg"]

    def test_roles_gate_writes_and_restricted_directories_need_their_own_grant(
        self, project: annolog.Project, connect: Connect
    ) -> None:
        secret = project.directory.new("secret", access_type="restricted")
        photo = secret.add_file(jpeg(), name="p.jpg")
        project.grant("ben", "annotator")
        as_ben = connect("ben").project(project.name)
        drawing = AddInstance(file_id=photo.id, label="car", kind="box", points=((1, 1), (5, 5)))

        with pytest.raises(AccessDenied, match="ben may not read directory 'secret'"):
            as_ben.directory.get("secret")
        assert [d.name for d in as_ben.directory.list()] == []
        with pytest.raises(AccessDenied, match="ben may not InstanceAdded.*needs annotator.*ben has no role there"):
            as_ben.execute([drawing])
        project.grant("ben", "annotator", directory=secret)
        as_ben.directory.get("secret")[0].add_instance("car", box=(1, 1, 5, 5))
        with pytest.raises(AccessDenied, match="ben may not DirectoryCreated"):
            as_ben.directory.new("mine")
        assert len(project.directory.get("secret")[0].instances) == 1

    def test_no_role_in_a_project_reads_nothing_of_it(self, project: annolog.Project, connect: Connect) -> None:
        project.directory.new("all").add_file(jpeg(), name="p.jpg")
        stranger = connect("eve")

        assert project.name not in [p.name for p in stranger.projects()]
        with pytest.raises(AccessDenied, match="eve has no role in project"):
            stranger.project(project.name)


def _rebuilt_equals_live(service: Service) -> bool:
    """Replay the whole log into fresh tables; do they equal the incrementally kept views?"""
    target = fresh_database(service.engine)
    try:
        replay(service.log, target)
        return checksums(target) == checksums(service.engine)
    finally:
        drop_database(target)


def _build_history(project: annolog.Project) -> None:
    """A little of everything: files, mirrors, copies, edits, deletes, tags, metadata, removals, masks
    (inline and as blobs), skeletons and keypoints, a video with instances on frames and tracks, and
    a label schema that changes (a rename, a merge, a retirement, declared attributes)."""
    a, b = project.directory.new("a"), project.directory.new("b")
    first = a.add_file(jpeg(), name="1.jpg", metadata={"weather": "rain"})
    box = first.add_instance("car", box=(1, 1, 20, 20), attributes={"score": 0.9})
    b.add(first)
    project.tag("v1")
    box.update(label="dog")
    second = a.add_file(jpeg(color="green"), name="2.jpg")
    second.add_instance("person", kind="polygon", points=[(0, 0), (10, 0), (5, 9)])
    second.add_instance("car", polygons=[[(0, 0), (10, 0), (5, 9)], [(20, 20), (30, 20), (30, 30)]])
    road = second.add_instance("dog", mask=np.eye(48, 64, dtype=bool))
    project.declare_skeleton("person", keypoints=["head", "hip"], skeleton=[(0, 1)])
    pose = second.add_instance("person", keypoints=[(5, 5, 2), (0, 0, 0)])
    second.copy(b)
    with patch.object(masks, "INLINE_COUNTS", 0):  # a mask drawn inline becomes a blob, then gets a new label
        road.update(mask=np.fliplr(np.eye(48, 64, dtype=bool)))
        road.update(label="car")
    project.declare_skeleton("person", keypoints=["nose", "hip"], skeleton=[(0, 1)])
    pose.update(keypoints={"hip": (9, 30, 1)})
    first.set_metadata({"weather": "sun"})
    box.delete()
    b.remove(first)
    clip = a.add_file(make_video(frames=12), name="street.mp4")
    followed = clip.add_instance("car", box=(1, 1, 9, 9), frame=3, track=7)
    followed.update(frame=5)
    clip.add_instance("dog", box=(2, 2, 8, 8), frame=5, track="rex")
    project.define_labels("auto", "truck")
    clip.add_instance("auto", box=(1, 1, 6, 6), frame=0)
    project.label("car").rename("vehicle")
    project.label("auto").merge_into("vehicle")
    project.label("truck").retire()
    project.label("dog").declare_attributes({"good": "bool"})
    project.tag("v1", project.version, force=True)


class TestEmbedded(ProjectionContract):
    @pytest.fixture
    def service(self, tmp_path: Path) -> Iterator[Service]:
        service = build_service(load_settings(data_dir=tmp_path))
        yield service
        service.engine.dispose()


class TestInProcessHttp(ProjectionContract):
    """The embedded stack behind the HTTP API, reached through an in-process transport."""

    @pytest.fixture
    def service(self, tmp_path: Path) -> Iterator[Service]:
        service = build_service(load_settings(data_dir=tmp_path))
        yield service
        service.engine.dispose()

    @pytest.fixture
    def connect(self, service: Service) -> Connect:
        app, tokens = create_app(service), Tokens(service.engine)

        def connect(actor: str) -> annolog.Client:
            token = tokens.create(actor, created_by="test")
            transport = TestClient(app, headers={"Authorization": f"Bearer {token}"})
            return annolog.Client(HttpBackend(transport, token=token))

        return connect


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.s3
class TestKafkaPostgres(ProjectionContract):
    @pytest.fixture
    def service(self, server_settings: Settings) -> Iterator[Service]:
        service = build_service(server_settings, project_in_process=True)
        yield service
        service.log.close()
        service.engine.dispose()

    def test_a_projector_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
        self, server_settings: Settings
    ) -> None:
        writer = build_service(server_settings, project_in_process=False)
        create = CreateProject(name=f"crash-{uuid4().hex[:6]}")
        batch = [create.commit(project_id=create.project_id, actor="ana")] + [
            CreateDirectory(name=f"d{i}").commit(project_id=create.project_id, actor="ana") for i in range(1500)
        ]
        positions = writer.log.append_many([*batch, batch[7]])  # one commit appended twice
        partition, end = positions[0].partition, positions[-1].offset + 1

        projector = subprocess.Popen(
            [sys.executable, "-m", "annolog", "projector", "--batch-size", "50"], env=environment(server_settings)
        )
        try:
            stopped_at = _wait_for_progress(writer, partition, end)
            os.kill(projector.pid, signal.SIGKILL)
        finally:
            projector.wait()
        assert 0 < stopped_at < end, "the kill must land while the projector is working"

        Projector(writer.engine, writer.log).catch_up()
        with writer.engine.connect() as db:
            judged = db.execute(select(func.count()).select_from(commits)).scalar_one()
            accepted = db.execute(select(func.count()).where(commits.c.accepted)).scalar_one()
        assert judged == accepted == len(batch)
        assert annolog.Client(writer, actor="ana").project(create.name).version == len(batch)
        assert _rebuilt_equals_live(writer)


def _wait_for_progress(service: Service, partition: int, end: int) -> int:
    """The projector's stored offset, as soon as it has moved but not finished."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with service.engine.connect() as db:
            offset = stored_offset(db, partition)
        if offset > 0:
            return offset
        time.sleep(0.005)
    raise AssertionError("the projector made no progress within 60 s")


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.s3
class TestServerOverHttp(ProjectionContract):
    """The SDK over real HTTP to `annolog serve`, with `annolog projector` judging on Kafka + PostgreSQL + S3."""

    @pytest.fixture
    def service(self, running_stack: tuple[Settings, str]) -> Iterator[Service]:
        service = build_service(running_stack[0], project_in_process=False)
        yield service
        service.close()

    @pytest.fixture
    def connect(self, service: Service, running_stack: tuple[Settings, str]) -> Connect:
        tokens = Tokens(service.engine)
        return lambda actor: annolog.Client(running_stack[1], token=tokens.create(actor, created_by="test"))
