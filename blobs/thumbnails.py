"""Thumbnails of stored images: small, upright, and the same bytes every time for one blob and size."""

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from annolog.blobs.media import IMAGE_MEDIA_TYPES, opened_image, refused_as_invalid
from annolog.core.errors import InvalidInputError

if TYPE_CHECKING:
    from PIL.Image import Image

THUMBNAIL_SIZES = (128, 256, 512)
"""The longest sides thumbnails are made at: a few sizes, so a cache of them stays small and hit."""
JPEG_QUALITY = 85
"""Past 85, JPEG files grow fast for detail no one sees at thumbnail size."""


@dataclass(frozen=True)
class Thumbnail:
    """A thumbnail of the blob ``sha256``: ``size`` is the longest side it may have (an image
    smaller than that is not enlarged), ``data`` its encoded bytes of ``media_type``."""

    sha256: str
    size: int
    media_type: str
    data: bytes


def check_request(*, name: str, media_type: str, size: int) -> None:
    """Refuse a thumbnail that cannot be made: a size not offered, or a file that is no image."""
    if size not in THUMBNAIL_SIZES:
        offered = ", ".join(map(str, THUMBNAIL_SIZES))
        raise InvalidInputError(f"thumbnail size {size} is not offered; size must be one of {offered}")
    if media_type not in IMAGE_MEDIA_TYPES:
        raise InvalidInputError(
            f"file {name!r} is {media_type}, not an image: thumbnails are made of "
            f"{', '.join(sorted(IMAGE_MEDIA_TYPES))} files only"
        )


def make_thumbnail(data: bytes, *, sha256: str, name: str, media_type: str, size: int) -> Thumbnail:
    """The thumbnail of ``data`` (the blob ``sha256`` of file ``name``) with its longest side ``size``.

    Turned upright as its EXIF orientation says (the frame instances are drawn in), JPEG,
    or PNG when the image has transparency. Bytes that are no decodable image, or an image
    over Pillow's decompression bomb limit, are ``InvalidInputError`` naming the file.

    >>> make_thumbnail(jpeg, sha256=digest, name="a.jpg", media_type="image/jpeg", size=128)  # doctest: +SKIP
    Thumbnail(sha256='…', size=128, media_type='image/jpeg', data=b'\\xff\\xd8…')
    """
    from PIL import ImageOps

    check_request(name=name, media_type=media_type, size=size)
    with opened_image(data, name=name, media_type=media_type) as image, refused_as_invalid(name, media_type):
        # Before turning: thumbnail() decodes a big JPEG at 1/2 to 1/8 of its size (draft
        # mode), many times faster than decoding it whole; the box is square, so turning
        # afterwards gives the same result.
        image.thumbnail((size, size))
        encoded_type, encoded = _encoded(ImageOps.exif_transpose(image))
    return Thumbnail(sha256=sha256, size=size, media_type=encoded_type, data=encoded)


_WIDE_MODES = frozenset({"I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
"""Pillow's 16- and 32-bit single-channel modes: converting them to 8 bits clips every value
past 255 (a 16-bit scan comes out white), so they are stretched to 0-255 first."""


def _encoded(image: "Image") -> tuple[str, bytes]:
    """PNG when the image has transparency (JPEG has none), JPEG otherwise. Its colour profile
    is kept only while its pixels keep their mode (a CMYK profile on RGB pixels would be
    wrong), and its EXIF is dropped, so no viewer turns the upright pixels again."""
    out, profile = io.BytesIO(), image.info.get("icc_profile")
    if image.mode in _WIDE_MODES:
        image, profile = _stretched(image), None
    if image.has_transparency_data:
        if image.mode != "RGBA":
            image, profile = image.convert("RGBA"), None
        image.save(out, "PNG", icc_profile=profile)
        return "image/png", out.getvalue()
    if image.mode not in ("RGB", "L"):
        image, profile = image.convert("RGB"), None
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, icc_profile=profile)
    return "image/jpeg", out.getvalue()


def _stretched(image: "Image") -> "Image":
    """A wide single-channel image as 8-bit grey, its darkest value black and its brightest white."""
    wide = image.convert("F")
    low, high = cast(tuple[float, float], wide.getextrema())  # one band: its two numbers
    scale = 255 / (high - low) if high > low else 0.0
    return wide.point(lambda value: (value - low) * scale).convert("L")
