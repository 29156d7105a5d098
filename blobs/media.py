"""Probing a file's bytes: its media type and, for images, its size, refusing bytes that lie."""

import io
import mimetypes
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from annolog.blobs.video import probe_video
from annolog.core.errors import InvalidInputError

if TYPE_CHECKING:
    from PIL.Image import Image

# The image types whose size annolog records, and the Pillow formats their bytes may be in;
# the first is the plugin that opens them. Pillow's JPEG plugin reports a JPEG that carries
# several pictures (phone cameras write them) as MPO.
_PILLOW_FORMATS: dict[str, tuple[str, ...]] = {
    "image/jpeg": ("JPEG", "MPO"),
    "image/png": ("PNG",),
    "image/webp": ("WEBP",),
    "image/gif": ("GIF",),
    "image/bmp": ("BMP",),
    "image/tiff": ("TIFF",),
}
IMAGE_MEDIA_TYPES = frozenset(_PILLOW_FORMATS)
"""The media types annolog decodes as images (and so records sizes of, and makes thumbnails of)."""
_MEDIA_TYPE_OF_FORMAT = {fmt: kind for kind, formats in _PILLOW_FORMATS.items() for fmt in formats}
# Only these plugins are tried: Pillow's others (EPS runs Ghostscript) never see untrusted bytes.
_PLUGINS = [formats[0] for formats in _PILLOW_FORMATS.values()]
_ORIENTATION = 0x0112
"""The EXIF tag of how the stored pixels are turned; 5 to 8 swap width and height."""
_TRANSPOSING = frozenset({5, 6, 7, 8})


@dataclass(frozen=True)
class Media:
    """What a file is: its media type; for an image or a video, its width and height in pixels;
    for a video, its frame count and rate."""

    media_type: str
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    fps: float | None = None


def probe(data: bytes, *, name: str, media_type: str | None = None) -> Media:
    """The media type of ``data`` and, for an image, its size, checked by decoding it.

    Without a declared ``media_type`` it is guessed from ``name``, then from the bytes.
    Images are decoded in full so that a truncated or mislabelled upload is refused
    with ``InvalidInputError`` now, not found by a training job months later; every
    ``video/*`` type is read by FFmpeg (``blobs.video``).

    >>> probe(b"hello", name="notes.txt")
    Media(media_type='text/plain', width=None, height=None, frames=None, fps=None)
    """
    kind = (media_type or _guessed_media_type(data, name=name)).lower()
    if kind.startswith("video/"):
        video = probe_video(data, name=name, media_type=kind)
        return Media(kind, video.width, video.height, video.frames, video.fps)
    if kind not in _PILLOW_FORMATS:
        return Media(kind)
    width, height = _decoded_size(data, name=name, media_type=kind)
    return Media(kind, width, height)


def _guessed_media_type(data: bytes, *, name: str) -> str:
    """The media type ``name``'s extension says, else the image format Pillow finds in ``data``."""
    from_name, _ = mimetypes.guess_type(name)
    return from_name or _media_type_from_bytes(data) or "application/octet-stream"


def _media_type_from_bytes(data: bytes) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=_PLUGINS) as image:
            return _MEDIA_TYPE_OF_FORMAT.get(image.format or "")
    except (UnidentifiedImageError, Image.DecompressionBombError):
        # Guessing only names a type; a bomb is refused when probe decodes it.
        return None


def _decoded_size(data: bytes, *, name: str, media_type: str) -> tuple[int, int]:
    with opened_image(data, name=name, media_type=media_type) as image:
        _check_format(image, name=name, media_type=media_type)
        with refused_as_invalid(name, media_type):
            image.load()
        return oriented_size(image)


def oriented_size(image: "Image") -> tuple[int, int]:
    """Width and height as the image is shown: turned as its EXIF orientation says.

    Browsers and viewers turn a phone's sideways-stored JPEG upright, so that is the frame
    people draw boxes in, the web pages scale them from, and thumbnails are made in.
    """
    width, height = image.size
    return (height, width) if image.getexif().get(_ORIENTATION) in _TRANSPOSING else (width, height)


@contextmanager
def opened_image(data: bytes, *, name: str, media_type: str) -> "Iterator[Image]":
    """``data`` opened by one of the image plugins annolog trusts (not decoded yet), under the
    pixel limit; anything Pillow refuses becomes ``InvalidInputError`` naming ``name``."""
    from PIL import Image

    with refused_as_invalid(name, media_type):
        image = Image.open(io.BytesIO(data), formats=_PLUGINS)
    with image:
        _check_pixels(image, name=name, media_type=media_type)
        yield image


def _check_format(image: "Image", *, name: str, media_type: str) -> None:
    if image.format not in _PILLOW_FORMATS[media_type]:
        found = _MEDIA_TYPE_OF_FORMAT.get(image.format or "", image.format)
        raise InvalidInputError(
            f"file {name!r} is declared as {media_type} but its bytes are {found} "
            f"({image.format} image); declare the type it really is"
        )


def _check_pixels(image: "Image", *, name: str, media_type: str) -> None:
    """Refuse what Pillow would only warn about: every pixel over its limit costs memory."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    width, height = image.size
    if limit is not None and width * height > limit:
        raise InvalidInputError(
            f"file {name!r} ({media_type}) is {width}x{height} = {width * height:,} pixels, "
            f"over the decompression bomb limit of {limit:,} pixels"
        )


@contextmanager
def refused_as_invalid(name: str, media_type: str) -> Iterator[None]:
    """Whatever Pillow raises on bytes it cannot decode becomes ``InvalidInputError``."""
    from PIL import Image, UnidentifiedImageError

    try:
        yield
    except UnidentifiedImageError as exc:
        raise _undecodable(name, media_type, "Pillow recognises no image format in it") from exc
    except Image.DecompressionBombError as exc:
        raise _undecodable(name, media_type, str(exc)) from exc
    # What Pillow's decoders raise on damaged bytes ("image file is truncated", bad headers).
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise _undecodable(name, media_type, str(exc) or type(exc).__name__) from exc


def _undecodable(name: str, media_type: str, reason: str) -> InvalidInputError:
    return InvalidInputError(f"file {name!r} declared as {media_type} is not a decodable image: {reason}")
