"""A ``tf.data.Dataset`` over a pinned version (TensorFlow is an optional extra).

Elements are dicts: ``image`` (uint8 H×W×3, TensorFlow's layout), ``boxes`` (float32 N×4),
``labels`` (int64 N, indices into the dataset's classes) and ``file_id`` (string).
"""

from collections.abc import Iterator
from typing import Any

import numpy as np

from annolog.images import decode_image
from annolog.pinned import PinnedReader

_CHUNK = 32


def _elements(reader: PinnedReader) -> Iterator[dict[str, Any]]:
    for start in range(0, len(reader.ids), _CHUNK):
        entries = reader.entries(list(range(start, min(start + _CHUNK, len(reader.ids)))))
        for entry, data in zip(entries, reader.fetch(entries)):
            yield {
                "image": decode_image(data, entry.name),
                "boxes": np.asarray(entry.boxes, dtype=np.float32).reshape(-1, 4),
                "labels": np.asarray(entry.box_labels, dtype=np.int64),
                "file_id": str(entry.file_id),
            }


def to_tensorflow(reader: PinnedReader) -> Any:
    """The pinned files in id order, read ahead by ``tf.data`` (``.shuffle``/``.batch`` as usual)."""
    import tensorflow as tf  # optional and heavy: imported only when asked for

    signature = {
        "image": tf.TensorSpec(shape=(None, None, 3), dtype=tf.uint8),
        "boxes": tf.TensorSpec(shape=(None, 4), dtype=tf.float32),
        "labels": tf.TensorSpec(shape=(None,), dtype=tf.int64),
        "file_id": tf.TensorSpec(shape=(), dtype=tf.string),
    }
    return tf.data.Dataset.from_generator(lambda: _elements(reader), output_signature=signature).prefetch(
        tf.data.AUTOTUNE
    )
