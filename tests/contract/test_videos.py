"""The video contract: a video is one file with frames; instances sit on frames and follow tracks,
with revisions, time travel, history and slices by frame, the same on every backend."""

from uuid import uuid4

import pytest

import annolog
from annolog.api.service import Service
from annolog.core import ConflictError, InvalidInputError
from tests.contract.conftest import Connect
from tests.contract.test_projections import jpeg
from tests.videos import make_video


class VideoContract:
    """Subclasses provide ``service``; ``connect`` reaches it in process unless overridden."""

    @pytest.fixture
    def connect(self, service: Service) -> Connect:
        return lambda actor: annolog.Client(service, actor=actor)

    @pytest.fixture
    def project(self, connect: Connect) -> annolog.Project:
        return connect("ana").create_project(f"clips-{uuid4().hex[:8]}", labels=["car", "person"])

    @pytest.fixture
    def clips(self, project: annolog.Project) -> annolog.Directory:
        return project.directory.new("clips")

    def test_a_video_is_one_file_with_its_frame_count_rate_and_size(self, clips: annolog.Directory) -> None:
        clips.add_file(make_video(frames=24, fps=12), name="street.mp4")

        (clip,) = clips.project.directory.get("clips")
        assert (clip.media_type, clip.width, clip.height, clip.frames, clip.fps) == ("video/mp4", 64, 48, 24, 12.0)

    def test_instances_on_frames_keep_their_frame_and_track_through_edits_and_time_travel(
        self, clips: annolog.Directory
    ) -> None:
        clip = clips.add_file(make_video(), name="street.mp4")
        car = clip.add_instance("car", box=(1, 1, 10, 10), frame=3, track=7)
        clip.add_instance("person", box=(2, 2, 6, 20), frame=3, track="ped-1")
        before = clips.project.version
        (stale,) = [i for i in clips.project.directory.get("clips")[0].instances if i.label == "car"]
        car.update(box=(2, 1, 11, 10), frame=4)

        now = {i.label: (i.frame, i.track, i.revision) for i in clips.project.directory.get("clips")[0].instances}
        then = clips.project.directory.get("clips", version=before)[0].instances
        assert now == {"car": (4, 7, 2), "person": (3, "ped-1", 1)}
        assert {i.label: (i.frame, i.track) for i in then} == {"car": (3, 7), "person": (3, "ped-1")}
        with pytest.raises(ConflictError, match="at revision 2 but the edit expected revision 1"):
            stale.update(frame=5)

    def test_the_history_of_an_instance_shows_the_frame_it_moved_from_and_to(self, clips: annolog.Directory) -> None:
        clip = clips.add_file(make_video(), name="street.mp4")
        car = clip.add_instance("car", box=(1, 1, 10, 10), frame=3, track=7)
        car.update(frame=9)

        changed = clips.project.history(instance=car)[-1]
        assert (changed.before["frame"], changed.after["frame"], changed.after["track"]) == (3, 9, 7)

    def test_a_frame_past_the_end_of_the_video_is_refused_naming_the_file(self, clips: annolog.Directory) -> None:
        clip = clips.add_file(make_video(frames=30), name="street.mp4")

        with pytest.raises(InvalidInputError, match="frame 30 is past the end of file 'street.mp4'.*30 frames"):
            clip.add_instance("car", box=(1, 1, 10, 10), frame=30)
        clip.add_instance("car", box=(1, 1, 10, 10), frame=29)

    def test_a_frame_on_a_picture_is_refused(self, clips: annolog.Directory) -> None:
        photo = clips.add_file(jpeg(), name="photo.jpg")

        with pytest.raises(InvalidInputError, match="'photo.jpg'.*single picture with no frames"):
            photo.add_instance("car", box=(1, 1, 10, 10), frame=0)

    def test_a_corrupt_video_is_refused_when_added_naming_the_file(self, clips: annolog.Directory) -> None:
        with pytest.raises(InvalidInputError, match="file 'broken.mp4' declared as video/mp4 is not a decodable video"):
            clips.add_file(make_video()[:1500], name="broken.mp4")

    def test_slices_select_videos_by_their_frames(self, clips: annolog.Directory) -> None:
        busy = clips.add_file(make_video(), name="busy.mp4")
        for track in range(3):
            busy.add_instance("car", box=(1 + track, 1, 10 + track, 10), frame=20, track=track)
        early = clips.add_file(make_video(), name="early.mp4")
        early.add_instance("car", box=(1, 1, 10, 10), frame=2)
        early.add_instance("person", box=(1, 1, 10, 10), frame=2)
        clips.add_file(jpeg(), name="photo.jpg").add_instance("car", box=(1, 1, 10, 10))
        clips = clips.project.directory.get("clips")

        def names(query: str) -> list[str]:
            return sorted(f.name for f in clips.slice(query))

        assert names("frame.labels.car >= 2") == ["busy.mp4"]
        assert names("frame.index < 10") == ["early.mp4"]
        assert names("frame.labels.person = 0") == ["busy.mp4"]  # frame 20 has cars only
        assert names("frame.labels.car >= 1 and file.frames = 30") == ["busy.mp4", "early.mp4"]
        assert names("labels.car >= 1 and not frame.index >= 0") == ["photo.jpg"]
        with pytest.raises(InvalidInputError, match="unknown label 'cat'"):
            names("frame.labels.cat > 0")

    def test_slices_by_frame_read_the_version_they_are_at(self, clips: annolog.Directory) -> None:
        clip = clips.add_file(make_video(), name="street.mp4")
        car = clip.add_instance("car", box=(1, 1, 10, 10), frame=25)
        before = clips.project.version
        car.update(frame=5)

        assert len(clips.project.slice("frame.index < 10")) == 1
        assert len(clips.project.slice("frame.index < 10", version=before)) == 0

    def test_per_frame_label_counts_follow_a_renamed_label_and_refuse_its_old_name(
        self, clips: annolog.Directory
    ) -> None:
        clip = clips.add_file(make_video(), name="street.mp4")
        clip.add_instance("car", box=(1, 1, 10, 10), frame=3)
        clips.project.label("car").rename("vehicle")

        assert [f.name for f in clips.project.slice("frame.labels.vehicle >= 1")] == ["street.mp4"]
        with pytest.raises(InvalidInputError, match="label 'car' is called 'vehicle'"):
            clips.project.slice("frame.labels.car >= 1")


class TestEmbedded(VideoContract):
    """In process, and through the HTTP API in process (the shared ``service``/``connect``)."""

    @pytest.fixture
    def connect(self, connect: Connect) -> Connect:
        return connect


@pytest.mark.kafka
@pytest.mark.postgres
class TestKafkaPostgres(VideoContract):
    @pytest.fixture
    def service(self, postgres_service: Service) -> Service:
        return postgres_service
