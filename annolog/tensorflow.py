"""A ``tf.data.Dataset`` over a pinned version, as Keras models fit on it (TensorFlow is an optional extra).

Elements are ``(image, target)``, which ``model.fit`` reads as ``(x, y)``. ``image`` is
float32 H×W×3 with pixels 0–255, as ``keras.utils.image_dataset_from_directory`` yields
them (Keras models rescale inside, e.g. with ``keras.layers.Rescaling(1 / 255)``). ``target``:

- ``task="detection"``: ``{"boxes": float32 N×4, "labels": int32 N}``, the ``y`` of KerasHub's
  object detectors and the ``bounding_boxes`` of Keras' box-aware layers: boxes in
  ``"xyxy"`` pixels, labels class indices in [0, len(classes)) — Keras counts no background;
- ``task="classification"``: float32 multi-hot over the classes, 1 for each label on the
  image (its boxes, tags and shapes): the ``y`` of a sigmoid multi-label classifier;
- ``task="instance_segmentation"``: ``{"boxes", "labels", "masks"}``, the instances with pixels
  (masks and polygons, as ``annolog.segmentation`` picks them) with their uint8 N×H×W masks,
  row for row; box instances, lines and points are not in it.

Each pass over the dataset (a Keras epoch) visits the files in a new seeded permutation,
the policy of ``annolog.sharding`` that PyTorch streams follow too; shard ``index`` of
``num_shards`` reads an equal, disjoint block of it, so the cardinality is known.
``batch_size`` pads images (bottom and right, with 0, which keeps boxes where they are) and
box lists (with -1, KerasHub's padding) to the largest of each batch, masks with 0 (as the images).
"""

from collections.abc import Callable, Iterator
from itertools import count
from typing import Any, Literal

import numpy as np

from annolog.core.errors import InvalidInputError
from annolog.images import decode_image
from annolog.pinned import Entry, PinnedReader
from annolog.segmentation import segments
from annolog.sharding import epoch_order, rank_block

Task = Literal["detection", "classification", "instance_segmentation"]
Frame = tuple[int, int]  # the decoded image's height and width
_CHUNK = 32  # files read per manifest round trip


def _detection(entry: Entry, classes: int, frame: Frame) -> dict[str, Any]:
    return {
        "boxes": np.asarray(entry.boxes, dtype=np.float32).reshape(-1, 4),
        "labels": np.asarray(entry.box_labels, dtype=np.int32),
    }


def _classification(entry: Entry, classes: int, frame: Frame) -> Any:
    present = np.zeros(classes, dtype=np.float32)
    present[[*entry.box_labels, *entry.tags, *(shape.label for shape in entry.shapes)]] = 1.0
    return present


def _instance_segmentation(entry: Entry, classes: int, frame: Frame) -> dict[str, Any]:
    found = segments(entry, *frame)
    return {"boxes": found.boxes, "labels": np.asarray(found.labels, dtype=np.int32), "masks": found.masks}


_TARGETS: dict[str, Callable[[Entry, int, Frame], Any]] = {
    "detection": _detection,
    "classification": _classification,
    "instance_segmentation": _instance_segmentation,
}


class _Passes:
    """The files each pass over the dataset reads: a new seeded permutation per pass, this shard's block of it."""

    def __init__(self, files: int, *, shuffle: bool, seed: int, num_shards: int, index: int) -> None:
        if num_shards < 1 or not 0 <= index < num_shards:
            raise InvalidInputError(
                f"index must be in 0..num_shards - 1 and num_shards at least 1, "
                f"got index={index}, num_shards={num_shards}"
            )
        self.files, self.shuffle, self.seed, self.num_shards, self.index = files, shuffle, seed, num_shards, index
        self._passes = count()

    def __len__(self) -> int:
        return self.files // self.num_shards

    def next_positions(self) -> list[int]:
        order = epoch_order(self.files, seed=self.seed, epoch=next(self._passes), shuffle=self.shuffle)
        return rank_block(order, rank=self.index, world_size=self.num_shards)


def _elements(reader: PinnedReader, positions: list[int], task: Task) -> Iterator[tuple[Any, Any]]:
    target, classes = _TARGETS[task], len(reader.classes)
    for start in range(0, len(positions), _CHUNK):
        entries = reader.entries(positions[start : start + _CHUNK], masks=task == "instance_segmentation")
        for entry, data in zip(entries, reader.fetch(entries)):
            pixels = decode_image(data, entry.name)
            yield pixels.astype(np.float32), target(entry, classes, pixels.shape[:2])


def _signature(tf: Any, task: Task, classes: int) -> tuple[Any, Any]:
    image = tf.TensorSpec(shape=(None, None, 3), dtype=tf.float32)
    if task == "classification":
        return image, tf.TensorSpec(shape=(classes,), dtype=tf.float32)
    boxes = {
        "boxes": tf.TensorSpec(shape=(None, 4), dtype=tf.float32),
        "labels": tf.TensorSpec(shape=(None,), dtype=tf.int32),
    }
    if task == "instance_segmentation":
        return image, boxes | {"masks": tf.TensorSpec(shape=(None, None, None), dtype=tf.uint8)}
    return image, boxes


def _padding(tf: Any, task: Task) -> tuple[Any, Any]:
    image = tf.constant(0.0)
    if task == "classification":
        return image, tf.constant(0.0)
    boxes = {"boxes": tf.constant(-1.0), "labels": tf.constant(-1, dtype=tf.int32)}
    if task == "instance_segmentation":
        return image, boxes | {"masks": tf.constant(0, dtype=tf.uint8)}
    return image, boxes


def to_tensorflow(
    reader: PinnedReader,
    *,
    task: Task = "detection",
    shuffle: bool = False,
    seed: int = 0,
    num_shards: int = 1,
    index: int = 0,
    batch_size: int | None = None,
) -> Any:
    """The pinned files as ``(image, target)`` elements, read ahead by ``tf.data``."""
    import tensorflow as tf  # optional and heavy: imported only when asked for

    if task not in _TARGETS:
        raise InvalidInputError(f"task must be one of {sorted(_TARGETS)}, got {task!r}")
    if batch_size is not None and batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    passes = _Passes(len(reader.ids), shuffle=shuffle, seed=seed, num_shards=num_shards, index=index)
    dataset = tf.data.Dataset.from_generator(
        lambda: _elements(reader, passes.next_positions(), task),
        output_signature=_signature(tf, task, len(reader.classes)),
    ).apply(tf.data.experimental.assert_cardinality(len(passes)))
    if batch_size is not None:
        dataset = dataset.padded_batch(batch_size, padding_values=_padding(tf, task))
    return dataset.prefetch(tf.data.AUTOTUNE)
