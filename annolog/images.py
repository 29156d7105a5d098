"""Decoding a file's bytes into pixels, for the training adapters (numpy and Pillow, loaded here only)."""

import io
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from annolog.core.errors import CorruptBlob


def decode_image(data: bytes, name: str) -> "np.ndarray[Any, np.dtype[np.uint8]]":
    """H×W×3 uint8 pixels; a blob that is not a decodable image is reported by file name."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.array(image.convert("RGB"), dtype=np.uint8)  # a writable copy for torch
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise CorruptBlob(f"file {name!r} does not decode as an image: {exc}") from exc
