"""Streaming into training: PyTorch map-style and streaming datasets, TensorFlow, on real data."""

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

import annolog
from annolog.api.bootstrap import build_service
from annolog.api.settings import load_settings
from annolog.core import CorruptBlob, InvalidInputError, NotFoundError
from annolog.pytorch import TorchStream, collate
from tests.streets import segmented_streets

FILES = 22  # not a multiple of 4: the remainder policy is exercised


def _jpeg(i: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40 + i, 30), (i * 10 % 255, 80, 160)).save(out, "JPEG")
    return out.getvalue()


def _noisy_jpeg(i: int) -> bytes:
    """A photo-sized blob (tens of KB): noise does not compress."""
    out = io.BytesIO()
    Image.effect_noise((160 + i, 120), 80).convert("RGB").save(out, "JPEG", quality=95)
    return out.getvalue()


def _fill(project: annolog.Project, image: Callable[[int], bytes] = _jpeg) -> annolog.Directory:
    directory = project.directory.new("train")
    for i in range(FILES):
        photo = directory.add_file(image(i), name=f"{i:02d}.jpg")
        for n in range(i % 3):
            photo.add_instance("car" if n % 2 else "person", box=(1, 1, 10 + n, 12))
        if i % 5 == 0:
            photo.add_instance("night", kind="tag")
    return project.directory.get("train")


@pytest.fixture
def directory(tmp_path: Path) -> annolog.Directory:
    client = annolog.Client(tmp_path / "data", actor="ana")
    return _fill(client.create_project("training", labels=["person", "car", "night"]))


def _ids(batches: Any) -> list[str]:
    return [target["file_id"] for _, targets in batches for target in targets]


def test_items_are_in_torchvision_detection_format_with_stable_class_indices(directory: annolog.Directory) -> None:
    ds = directory.to_pytorch()
    image, target = ds[2]
    assert image.dtype == torch.float32 and image.shape == (3, 30, 42) and 0 <= image.min() <= image.max() <= 1
    assert target["boxes"].dtype == torch.float32 and target["boxes"].shape == (2, 4)
    assert target["labels"].tolist() == [1, 2] and ds.classes == ["__background__", "person", "car", "night"]
    assert ds.num_classes == directory.num_classes == 4 and directory.classes == ["person", "car", "night"]
    assert ds[0][1]["boxes"].shape == (0, 4) and ds[0][1]["tags"].tolist() == [3]
    directory.project.define_labels("bicycle")  # new labels get new indices, old ones keep theirs
    assert directory.project.directory.get("train").classes == ["person", "car", "night", "bicycle"]


def test_keypoints_reach_training_with_their_visibility_so_an_unlabelled_one_is_no_point_at_the_origin(
    directory: annolog.Directory,
) -> None:
    project = directory.project
    project.declare_skeleton("person", keypoints=["head", "hand"], skeleton=[(0, 1)])
    directory[0].add_instance("person", keypoints={"head": (5.0, 6.0, 2)})

    (pose,) = project.directory.get("train").to_pytorch()[0][1]["shapes"]

    assert pose["kind"] == "keypoints" and pose["points"].tolist() == [[5.0, 6.0, 2.0], [0.0, 0.0, 0.0]]


def test_a_slice_of_a_dataset_is_its_files_in_that_range(directory: annolog.Directory) -> None:
    files = list(directory)
    assert [f.id for f in directory[2:5]] == [f.id for f in files[2:5]]
    assert [f.id for f in directory[::7]] == [f.id for f in files[::7]] and directory[30:] == []
    with pytest.raises(InvalidInputError, match="indexed by an int or a slice, got str 'cars'"):
        directory["cars"]  # type: ignore[call-overload]


def test_a_dataloader_batch_is_collated_as_lists(directory: annolog.Directory) -> None:
    images, targets = next(iter(DataLoader(directory.to_pytorch(), batch_size=4, collate_fn=collate)))
    assert len(images) == len(targets) == 4 and [t["file_id"] for t in targets] == [
        str(f.id) for f in list(directory)[:4]
    ]


def test_the_same_seed_and_version_give_the_same_batches(directory: annolog.Directory) -> None:
    def run(seed: int) -> list[str]:
        stream = directory.to_pytorch(streaming=True, shuffle=True, seed=seed, batch_size=4)
        return _ids(DataLoader(stream, batch_size=4, collate_fn=collate, num_workers=2))

    assert run(7) == run(7) != run(8)
    assert sorted(run(7)) == sorted(str(f.id) for f in directory)


def test_two_ranks_of_two_workers_read_every_item_exactly_once(directory: annolog.Directory) -> None:
    seen: list[str] = []
    for rank in (0, 1):
        stream = directory.to_pytorch(streaming=True, shuffle=True, seed=3, batch_size=2, rank=rank, world_size=2)
        mine = _ids(DataLoader(stream, batch_size=2, collate_fn=collate, num_workers=2))
        assert len(mine) == len(stream) == FILES // 2
        seen += mine
    assert len(seen) == len(set(seen)) == FILES


def test_ranks_get_equal_shares_and_the_remainder_waits_for_another_epoch(directory: annolog.Directory) -> None:
    per_rank = [
        directory.to_pytorch(streaming=True, shuffle=True, seed=1, batch_size=1, rank=r, world_size=4) for r in range(4)
    ]
    epochs = []
    for epoch in (0, 1):
        ids = []
        for stream in per_rank:
            stream.set_epoch(epoch)
            ids.append(_ids(DataLoader(stream, batch_size=1, collate_fn=collate)))
        assert {len(i) for i in ids} == {FILES // 4}
        epochs.append({x for i in ids for x in i})
    assert epochs[0] != epochs[1]  # the 2 items left out differ between epochs


def test_resuming_mid_epoch_yields_exactly_the_rest_even_with_other_workers(directory: annolog.Directory) -> None:
    def stream() -> TorchStream:
        s = directory.to_pytorch(streaming=True, shuffle=True, seed=11, batch_size=3)
        s.set_epoch(4)
        return s  # type: ignore[no-any-return]

    everything = _ids(DataLoader(stream(), batch_size=3, collate_fn=collate, num_workers=2))
    first = stream()
    batches = iter(DataLoader(first, batch_size=3, collate_fn=collate, num_workers=2))
    consumed = _ids([next(batches), next(batches)])
    state = first.state_dict(samples_seen=len(consumed))

    resumed = stream()
    resumed.load_state_dict(state)
    rest = _ids(DataLoader(resumed, batch_size=3, collate_fn=collate, num_workers=1))
    assert consumed + rest == everything


def test_resuming_against_another_version_is_refused(directory: annolog.Directory) -> None:
    saved_at = directory.version
    state = directory.to_pytorch(streaming=True, batch_size=2).state_dict(samples_seen=4)
    directory.add_file(_jpeg(99), name="new.jpg")
    with pytest.raises(InvalidInputError, match=f"saved at version {saved_at}, and this stream reads version"):
        directory.to_pytorch(streaming=True, batch_size=2).load_state_dict(state)


def test_resuming_through_a_moved_tag_is_refused_and_resumes_on_the_version_it_named(
    directory: annolog.Directory,
) -> None:
    project = directory.project
    v1 = project.tag("v1")

    def stream(version: int | str) -> TorchStream:
        train = project.directory.get("train", version=version)
        return train.to_pytorch(streaming=True, shuffle=True, seed=3, batch_size=2)  # type: ignore[no-any-return]

    everything = _ids(DataLoader(stream("v1"), batch_size=2, collate_fn=collate))
    state = stream("v1").state_dict(samples_seen=4)
    directory.add_file(_jpeg(99), name="new.jpg")
    moved_to = project.tag("v1", project.version, force=True)

    with pytest.raises(InvalidInputError) as refused:
        stream("v1").load_state_dict(state)
    resumed = stream(v1)
    resumed.load_state_dict(state)

    assert (state["version"], state["tag"]) == (v1, "v1")
    assert str(refused.value) == (
        f"cannot resume: the state was saved at version {v1} through tag 'v1', which has since been moved to "
        f"version {moved_to}; the rest of its epoch would be other data. To resume on the data it was trained "
        f"on, open the dataset with version={v1}"
    )
    assert _ids(DataLoader(resumed, batch_size=2, collate_fn=collate)) == everything[4:]


def test_a_pinned_dataset_does_not_change_when_the_directory_does(directory: annolog.Directory) -> None:
    v = directory.project.tag("frozen")
    pinned = directory.project.directory.get("train", version="frozen").to_pytorch()
    before = [pinned[i][1]["boxes"].tolist() for i in range(len(pinned))]
    latest = directory.project.directory.get("train")
    latest.add_file(_jpeg(50), name="late.jpg")
    latest[2].instances[0].delete()
    assert len(pinned) == FILES and [pinned[i][1]["boxes"].tolist() for i in range(FILES)] == before
    assert directory.project.directory.get("train", version=v).to_pytorch()[2][1]["boxes"].tolist() == before[2]


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_workers_started_by_fork_or_spawn_open_their_own_connections(
    directory: annolog.Directory, context: str
) -> None:
    loader = DataLoader(
        directory.to_pytorch(), batch_size=5, collate_fn=collate, num_workers=2, multiprocessing_context=context
    )
    assert sorted(_ids(loader)) == sorted(str(f.id) for f in directory)


def test_a_corrupt_blob_is_an_error_naming_the_file_not_a_hung_worker(directory: annolog.Directory) -> None:
    victim = directory[3]
    store_root = directory.project.backend.service.settings.data_dir / "blobs"
    path = next(store_root.rglob(victim.sha256))
    path.chmod(0o644)
    path.write_bytes(b"garbage")
    loader = DataLoader(directory.to_pytorch(), batch_size=4, collate_fn=collate, num_workers=2, timeout=60)
    with pytest.raises(CorruptBlob, match=f"file '03.jpg' .*{victim.sha256}"):
        list(loader)


def test_a_missing_blob_is_an_error_naming_the_file(directory: annolog.Directory) -> None:
    victim = directory[5]
    next((directory.project.backend.service.settings.data_dir / "blobs").rglob(victim.sha256)).unlink()
    with pytest.raises(NotFoundError, match="file '05.jpg'"):
        directory.to_pytorch()[5]


def test_tensorflow_reads_the_same_pixels_and_boxes_with_keras_class_indices(directory: annolog.Directory) -> None:
    elements = list(directory.to_tensorflow().as_numpy_iterator())
    torch_ds = directory.to_pytorch(dtype=torch.uint8)
    assert len(elements) == FILES
    for i in (0, 2, 7):
        image, target = elements[i]
        assert image.dtype == "float32" and image.max() > 1  # Keras' 0-255, rescaled inside the model
        assert (image == torch_ds[i][0].permute(1, 2, 0).numpy()).all()
        assert target["boxes"].tolist() == torch_ds[i][1]["boxes"].tolist()
        assert target["labels"].tolist() == [k - 1 for k in torch_ds[i][1]["labels"].tolist()]  # no background


def test_tensorflow_shards_reshuffle_each_pass_in_the_order_pytorch_streams_read(directory: annolog.Directory) -> None:
    import tensorflow as tf

    def boxes(elements: Any) -> list[list[list[float]]]:
        return [target["boxes"].tolist() for _, target in elements]

    shards = [directory.to_tensorflow(shuffle=True, seed=5, num_shards=2, index=k) for k in (0, 1)]
    assert [int(tf.data.experimental.cardinality(s)) for s in shards] == [FILES // 2] * 2
    first_pass = [boxes(s.as_numpy_iterator()) for s in shards]
    stream = directory.to_pytorch(streaming=True, shuffle=True, seed=5, rank=1, world_size=2)
    assert first_pass[1] == [target["boxes"].tolist() for _, target in stream]
    assert boxes(shards[1].as_numpy_iterator()) != first_pass[1]  # the next pass (Keras epoch) is reshuffled
    with pytest.raises(InvalidInputError, match="got index=2, num_shards=2"):
        directory.to_tensorflow(num_shards=2, index=2)


def test_a_keras_classifier_fits_on_tensorflow_batches_as_they_come(directory: annolog.Directory) -> None:
    import keras

    ds = directory.to_tensorflow(task="classification", shuffle=True, batch_size=4)
    _, present = next(iter(ds))
    assert present.shape == (4, 3) and present.dtype == "float32" and int(ds.cardinality()) == -(-FILES // 4)
    model = keras.Sequential(
        [
            keras.Input(shape=(None, None, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(directory.classes), activation="sigmoid"),
        ]
    )
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    history = model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0)
    assert len(history.history["loss"]) == 1 and history.history["loss"][0] > 0


def test_detection_elements_go_through_keras_box_layers_and_pad_boxes_with_minus_one(
    directory: annolog.Directory,
) -> None:
    import keras

    resize = keras.layers.Resizing(32, 32, bounding_box_format="xyxy")
    image, target = next(iter(directory.to_tensorflow().skip(2)))
    resized = resize({"images": image, "bounding_boxes": target})
    assert tuple(resized["images"].shape) == (32, 32, 3) and tuple(resized["bounding_boxes"]["boxes"].shape) == (2, 4)
    images, targets = next(iter(directory.to_tensorflow(batch_size=3)))  # files with 0, 1 and 2 boxes
    assert tuple(images.shape) == (3, 30, 42, 3) and targets["labels"].numpy().tolist() == [[-1, -1], [0, -1], [0, 1]]


def test_tensorflow_instance_segmentation_gives_pytorch_s_masks_and_pads_them_with_zero(tmp_path: Path) -> None:
    streets = segmented_streets(tmp_path / "data")
    torch_ds = streets.to_pytorch(masks=True)
    for i, (_, target) in enumerate(streets.to_tensorflow(task="instance_segmentation").as_numpy_iterator()):
        _, expected = torch_ds[i]
        assert target["masks"].dtype == "uint8" and (target["masks"] == expected["masks"].numpy()).all()
        assert target["boxes"].tolist() == expected["boxes"].tolist()
        assert target["labels"].tolist() == [k - 1 for k in expected["labels"].tolist()]  # no background
    _, batch = next(iter(streets.to_tensorflow(task="instance_segmentation", batch_size=3)))
    assert tuple(batch["masks"].shape) == (3, 3, 64, 64)  # the most instances, the tallest, the widest
    assert int(batch["masks"][0].numpy().sum()) == int(torch_ds[0][1]["masks"].sum())  # padding adds no pixel
    assert batch["labels"].numpy().tolist()[0] == [0, 1, -1]


@pytest.fixture
def s3_directory(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[annolog.Directory]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    bucket = f"annolog-train-{tmp_path.name[-8:].lower().replace('_', '-')}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    service = build_service(
        load_settings(data_dir=tmp_path / "data", blob_url=f"s3://{bucket}", s3_endpoint_url=s3_endpoint)
    )
    project = annolog.Client(service, actor="ana").create_project("s3", labels=["person", "car", "night"])
    yield _fill(project, _noisy_jpeg)
    service.engine.dispose()


@pytest.mark.s3
def test_the_blob_cache_stays_under_its_limit_on_a_dataset_larger_than_it(
    s3_directory: annolog.Directory, tmp_path: Path
) -> None:
    import diskcache

    limit = 160 * 1024  # the cache's whole size on disk, its index included
    assert sum(f.size for f in s3_directory) > 2 * limit
    ds = s3_directory.to_pytorch(cache_dir=tmp_path / "cache", cache_bytes=limit)
    for _ in range(2):
        assert len(_ids(DataLoader(ds, batch_size=4, collate_fn=collate))) == FILES
    with diskcache.Cache(str(tmp_path / "cache")) as cache:
        assert cache.volume() <= limit
        assert 0 < len(cache) < FILES
