"""Videos: probing their frames when added, and decoding chosen frames for training."""

import pytest

from annolog.blobs.media import Media, probe
from annolog.core.errors import CorruptBlob, InvalidInputError
from annolog.video import VideoFrames
from tests.videos import frame_number, make_video


def test_a_video_is_probed_for_its_size_frame_count_and_rate() -> None:
    assert probe(make_video(frames=24, fps=12), name="clip.mp4") == Media("video/mp4", 64, 48, 24, 12.0)


def test_a_declared_video_type_is_read_whatever_the_name() -> None:
    assert probe(make_video(frames=5), name="upload-7", media_type="video/mp4").frames == 5


@pytest.mark.parametrize(
    "damage", [lambda data: data[: len(data) // 2], lambda data: b"\0" * 4000, lambda data: data[:40]]
)
def test_bytes_ffmpeg_cannot_read_are_refused_naming_the_file(damage: object) -> None:
    data = damage(make_video())  # type: ignore[operator]
    with pytest.raises(InvalidInputError, match="file 'clip.mp4' declared as video/mp4 is not a decodable video"):
        probe(data, name="clip.mp4")


def test_frames_asked_for_in_any_order_are_those_frames() -> None:
    video = VideoFrames(make_video(frames=30, keyframe_every=10), "clip.mp4")

    assert len(video) == 30
    for asked in ([29], [0], [14, 3, 22, 3], list(range(30))):
        decoded = [(k, frame_number(pixels)) for k, pixels in video.read(asked)]
        assert decoded == [(k, k) for k in sorted(set(asked))]


def test_a_frame_the_video_does_not_have_is_an_error_naming_the_file() -> None:
    video = VideoFrames(make_video(frames=10), "clip.mp4")

    with pytest.raises(CorruptBlob, match="file 'clip.mp4' has 10 frames; no frame 10"):
        list(video.read([10]))


def test_bytes_that_are_no_video_are_reported_by_file_name() -> None:
    with pytest.raises(CorruptBlob, match="file 'clip.mp4' does not open as a video"):
        VideoFrames(b"\0" * 4000, "clip.mp4")
