"""Videos into training: to_pytorch(frames=...) yields the right frames of a video directory with
the instances drawn on them, decoded from the nearest keyframe."""

import pickle
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

import annolog
from annolog.core import CorruptBlob, InvalidInputError
from annolog.pytorch import collate
from tests.videos import make_video


@pytest.fixture
def clips(tmp_path: Path) -> annolog.Directory:
    """Two 30-frame clips: cars tracked on frames 3, 4 and 25 of the first, a person on frame 17 of
    the second, and a tag of the whole first clip."""
    project = annolog.Client(tmp_path / "data", actor="ana").create_project("clips", labels=["car", "person", "day"])
    directory = project.directory.new("videos")
    first = directory.add_file(make_video(), name="a.mp4")
    for frame, x in ((3, 1), (4, 2), (25, 10)):
        first.add_instance("car", box=(x, 1, x + 10, 12), frame=frame, track=7)
    first.add_instance("car", box=(30, 5, 40, 20), frame=25, track="van")
    first.add_instance("day", kind="tag")
    second = directory.add_file(make_video(frames=20), name="b.mp4")
    second.add_instance("person", box=(2, 2, 8, 40), frame=17)
    return project.directory.get("videos")


def _frame_number(image: torch.Tensor) -> int:
    from tests.videos import frame_number

    return frame_number(image.numpy())


def test_annotated_frames_are_the_items_with_the_instances_drawn_on_each(clips: annolog.Directory) -> None:
    ds = clips.to_pytorch(frames="annotated", dtype=torch.uint8)

    assert len(ds) == 4
    frames = [(target["frame"], _frame_number(image)) for image, target in ds]
    assert frames == [(3, 3), (4, 4), (25, 25), (17, 17)]
    _, on_25 = ds[2]
    assert on_25["boxes"].tolist() == [[10, 1, 20, 12], [30, 5, 40, 20]]
    assert on_25["labels"].tolist() == [1, 1] and on_25["tracks"] == [7, "van"]
    assert on_25["tags"].tolist() == [3]  # the whole clip's tag is on every frame of it
    _, on_17 = ds[3]
    assert on_17["labels"].tolist() == [2] and "tracks" not in on_17


def test_every_frame_of_every_video_is_an_item_with_all(clips: annolog.Directory) -> None:
    ds = clips.to_pytorch(frames="all", dtype=torch.uint8)

    assert len(ds) == 50
    assert [_frame_number(image) for image, _ in ds] == [*range(30), *range(20)]
    assert [len(target["boxes"]) for _, target in ds][:6] == [0, 0, 0, 1, 1, 0]


def test_shuffled_frames_batched_by_workers_are_the_frames_they_name(clips: annolog.Directory) -> None:
    ds = clips.to_pytorch(frames="all", dtype=torch.uint8)
    loader = DataLoader(pickle.loads(pickle.dumps(ds)), batch_size=7, shuffle=True, num_workers=2, collate_fn=collate)

    seen = [
        (t["file_id"], t["frame"], _frame_number(image))
        for images, targets in loader
        for image, t in zip(images, targets)
    ]

    assert len(seen) == 50 and all(frame == decoded for _, frame, decoded in seen)


def test_a_streamed_frame_dataset_yields_every_annotated_frame_once(clips: annolog.Directory) -> None:
    stream = clips.to_pytorch(frames="annotated", streaming=True, shuffle=True, seed=3)

    assert sorted(target["frame"] for _, target in stream) == [3, 4, 17, 25]


def test_a_video_in_a_picture_dataset_says_to_ask_for_its_frames(clips: annolog.Directory) -> None:
    with pytest.raises(InvalidInputError, match="'a.mp4' is a video of 30 frames.*frames='annotated'"):
        clips.to_pytorch()[0]


def test_an_unknown_frame_choice_is_refused(clips: annolog.Directory) -> None:
    with pytest.raises(InvalidInputError, match="frames must be 'annotated' or 'all'.*'odd'"):
        clips.to_pytorch(frames="odd")  # type: ignore[arg-type]


def test_a_video_whose_stored_bytes_do_not_decode_is_reported_by_name(tmp_path: Path) -> None:
    project = annolog.Client(tmp_path / "data", actor="ana").create_project("clips", labels=["car"])
    directory = project.directory.new("videos")
    clip = directory.add_file(make_video(), name="a.mp4")
    clip.add_instance("car", box=(1, 1, 5, 5), frame=2)
    blob = next((tmp_path / "data").rglob(clip.sha256))
    blob.chmod(0o644)
    blob.write_bytes(b"\0" * 4000)

    with pytest.raises(CorruptBlob, match="a.mp4"):
        project.directory.get("videos").to_pytorch(frames="annotated")[0]


def test_a_coco_export_lists_the_videos_it_leaves_out(clips: annolog.Directory, tmp_path: Path) -> None:
    summary = clips.export_coco(tmp_path / "out")

    assert summary.files == 0
    assert any("a.mp4" in p.location and "a video of 30 frames" in p.message for p in summary.skipped)
