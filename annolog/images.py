"""Decoding a file's bytes into pixels, for the training adapters (numpy and Pillow, loaded here only)."""

import io
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from annolog.core.errors import CorruptBlob


def decode_image(data: bytes, name: str) -> "np.ndarray[Any, np.dtype[np.uint8]]":
    """H×W×3 uint8 pixels, upright as the image's EXIF orientation says: the frame its boxes
    are drawn in and its recorded width and height describe. A blob that is not a decodable
    image is reported by file name."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            upright = ImageOps.exif_transpose(image)
            return np.array(upright.convert("RGB"), dtype=np.uint8)  # a writable copy for torch
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise CorruptBlob(f"file {name!r} does not decode as an image: {exc}") from exc
