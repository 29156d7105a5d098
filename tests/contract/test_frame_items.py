"""The frame-items contract: a slice whose query reads frames yields, as training items, the
frames its query holds on (``core.query.frames``), with their own pixels and instances, the
same embedded, over HTTP and on Kafka + PostgreSQL."""

from typing import Any
from uuid import uuid4

import pytest
import torch
from fastapi.testclient import TestClient

import annolog
from annolog.api.http import create_app
from annolog.api.service import Service
from annolog.http import HttpBackend
from tests.contract.conftest import Connect
from tests.contract.test_projections import jpeg
from tests.videos import frame_number, make_video

Items = list[tuple[str, int | None, int]]  # (file name, frame, boxes drawn on it)


class FrameItemsContract:
    """Subclasses provide ``service``; ``connect`` reaches it in process unless overridden."""

    @pytest.fixture
    def connect(self, service: Service) -> Connect:
        return lambda actor: annolog.Client(service, actor=actor)

    @pytest.fixture
    def project(self, connect: Connect) -> annolog.Project:
        """a.mp4: 1 car on frame 3, 2 on 4, 3 and a person on 25; b.mp4 (20 frames): 2 cars on 2,
        a person on 17; c.mp4: a car on 5 and on 8, a person on 9; photo.jpg: a car."""
        project = connect("ana").create_project(f"clips-{uuid4().hex[:8]}", labels=["car", "person"])
        clips = project.directory.new("clips")
        drawn = {
            "a.mp4": (30, {3: ["car"], 4: ["car"] * 2, 25: ["car"] * 3 + ["person"]}),
            "b.mp4": (20, {2: ["car"] * 2, 17: ["person"]}),
            "c.mp4": (30, {5: ["car"], 8: ["car"], 9: ["person"]}),
        }
        for name, (frames, on) in drawn.items():
            clip = clips.add_file(make_video(frames=frames), name=name)
            for frame, labels in on.items():
                for n, label in enumerate(labels):
                    clip.add_instance(label, box=(1 + n, 1, 10 + n, 10), frame=frame)
        clips.add_file(jpeg(), name="photo.jpg").add_instance("car", box=(1, 1, 5, 5))
        return project

    @staticmethod
    def items(project: annolog.Project, query: str, frames: str = "annotated", **at: int) -> Items:
        """Each item's file, frame (None for a picture) and box count, checking that its pixels
        are the frame it names."""
        names = {str(f.id): f.name for f in project.slice("instances.count >= 0")}
        found: Items = []
        for image, target in project.slice(query, **at).to_pytorch(frames=frames, dtype=torch.uint8):  # type: ignore[arg-type]
            frame = target.get("frame")
            if frame is not None:
                assert frame_number(image.numpy()) == frame
            found.append((names[target["file_id"]], frame, len(target["boxes"])))
        return found

    def test_a_per_frame_label_count_yields_only_the_frames_with_that_many(self, project: annolog.Project) -> None:
        assert self.items(project, "frame.labels.car >= 2") == [("a.mp4", 4, 2), ("a.mp4", 25, 4), ("b.mp4", 2, 2)]

    def test_a_frame_index_yields_those_frames_annotated_or_all(self, project: annolog.Project) -> None:
        assert self.items(project, "frame.index < 6") == [
            ("a.mp4", 3, 1),
            ("a.mp4", 4, 2),
            ("b.mp4", 2, 2),
            ("c.mp4", 5, 1),
        ]
        every = [(name, frame) for name, frame, _ in self.items(project, "frame.index < 4", "all")]
        assert every == [(name, k) for name in ("a.mp4", "b.mp4") for k in range(4)]  # c's first annotated frame is 5

    def test_a_file_predicate_holds_on_every_frame_of_its_file(self, project: annolog.Project) -> None:
        assert self.items(project, 'file.name = "b.mp4" or frame.labels.person >= 1') == [
            ("a.mp4", 25, 4),
            ("b.mp4", 2, 2),
            ("b.mp4", 17, 1),
            ("c.mp4", 9, 1),
        ]
        assert self.items(project, 'labels.person >= 1 and frame.index > 4 and not file.name = "a.mp4"') == [
            ("b.mp4", 17, 1),
            ("c.mp4", 5, 1),
            ("c.mp4", 8, 1),
            ("c.mp4", 9, 1),
        ]

    def test_not_holds_frame_by_frame_within_the_videos_the_slice_selects(self, project: annolog.Project) -> None:
        """a's frame 4 and b's frame 2 have two cars and no person; the picture has no frame,
        so ``not frame...`` holds on it, as it does for the file."""
        assert self.items(project, "frame.labels.person >= 1 or not frame.labels.car >= 2") == [
            ("a.mp4", 3, 1),
            ("a.mp4", 25, 4),
            ("b.mp4", 17, 1),
            ("c.mp4", 5, 1),
            ("c.mp4", 8, 1),
            ("c.mp4", 9, 1),
            ("photo.jpg", None, 1),
        ]
        assert self.items(project, 'not file.name = "a.mp4" or frame.index = 25')[:2] == [
            ("a.mp4", 25, 4),
            ("b.mp4", 2, 2),
        ]

    def test_under_all_a_frame_without_instances_counts_zero_of_every_label(self, project: annolog.Project) -> None:
        """b and c have an annotated frame without cars (17, 9), so the slice selects them; a has none."""
        found = [(name, frame) for name, frame, _ in self.items(project, "frame.labels.car = 0", "all")]
        assert found == [("b.mp4", k) for k in range(20) if k != 2] + [
            ("c.mp4", k) for k in range(30) if k not in (5, 8)
        ]

    def test_a_per_frame_count_of_a_label_renamed_since_reads_its_name_then(self, project: annolog.Project) -> None:
        before = project.version
        project.label("car").rename("vehicle")

        assert self.items(project, "frame.labels.vehicle >= 3", version=before) == [("a.mp4", 25, 4)]
        assert self.items(project, "frame.labels.vehicle >= 3") == [("a.mp4", 25, 4)]

    def test_a_resumed_stream_of_selected_frames_yields_exactly_the_rest(self, project: annolog.Project) -> None:
        def stream() -> Any:
            return project.slice("frame.labels.car >= 1").to_pytorch(
                frames="annotated", streaming=True, shuffle=True, seed=5
            )

        whole = [(t["file_id"], t["frame"]) for _, t in stream()]
        state = stream().state_dict(samples_seen=3)
        resumed = stream()
        resumed.load_state_dict(state)

        assert state["files"] == len(whole) == 6  # a: 3, 4, 25; b: 2; c: 5, 8
        assert [(t["file_id"], t["frame"]) for _, t in resumed] == whole[3:]


class TestEmbedded(FrameItemsContract):
    """In process, and through the HTTP API in process (the shared ``service``/``connect``)."""

    @pytest.fixture
    def connect(self, connect: Connect, service: Service, monkeypatch: pytest.MonkeyPatch) -> Connect:
        """A dataset over HTTP reopens its server by URL for its manifest and blobs; the in-process
        server has none, so it is reached as the client was: through the app, in process."""
        app = create_app(service)

        def in_process(cls: type[HttpBackend], url: str, *, token: str | None) -> HttpBackend:
            return cls(TestClient(app, headers={"Authorization": f"Bearer {token}"}), token=token)

        monkeypatch.setattr(HttpBackend, "connect", classmethod(in_process))
        return connect


@pytest.mark.kafka
@pytest.mark.postgres
class TestKafkaPostgres(FrameItemsContract):
    @pytest.fixture
    def service(self, postgres_service: Service) -> Service:
        return postgres_service
