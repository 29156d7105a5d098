"""Thumbnails: upright as EXIF says, their longest side the size asked, PNG only with
transparency, and undecodable bytes refused naming the file."""

import io

import pytest
from PIL import Image

from annolog.blobs.media import probe
from annolog.blobs.thumbnails import THUMBNAIL_SIZES, make_thumbnail
from annolog.core import InvalidInputError

ORIENTATION = 0x0112
RED, BLUE = (255, 0, 0), (0, 0, 255)


def _upright_portrait() -> Image.Image:
    """200x400, red above blue: which way up a thumbnail came out is plain to see."""
    image = Image.new("RGB", (200, 400), RED)
    image.paste(BLUE, (0, 200, 200, 400))
    return image


def _stored_sideways(upright: Image.Image) -> bytes:
    """How a phone held upright stores it: the pixels turned a quarter, EXIF orientation 6
    ("turn 90° clockwise to show")."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    out = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()


def _thumbnail(data: bytes, size: int = 128, media_type: str = "image/jpeg") -> Image.Image:
    made = make_thumbnail(data, sha256="0" * 64, name="photo.jpg", media_type=media_type, size=size)
    return Image.open(io.BytesIO(made.data))


def _near(pixel: tuple[int, ...], color: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel, color, strict=False))


def test_a_sideways_stored_jpeg_comes_out_upright_and_without_its_orientation_tag() -> None:
    thumbnail = _thumbnail(_stored_sideways(_upright_portrait()))

    assert thumbnail.size == (64, 128)
    assert _near(thumbnail.getpixel((32, 10)), RED) and _near(thumbnail.getpixel((32, 118)), BLUE)
    assert ORIENTATION not in thumbnail.getexif()  # or a viewer would turn it a second time


def test_probe_reports_the_size_of_the_upright_image_the_boxes_are_drawn_on() -> None:
    media = probe(_stored_sideways(_upright_portrait()), name="photo.jpg")

    assert (media.width, media.height) == (200, 400)


@pytest.mark.parametrize("size", THUMBNAIL_SIZES)
def test_the_longest_side_is_the_size_asked_and_the_shape_is_kept(size: int) -> None:
    out = io.BytesIO()
    Image.new("RGB", (1200, 900), "green").save(out, "JPEG")

    thumbnail = _thumbnail(out.getvalue(), size)

    assert thumbnail.format == "JPEG"
    assert thumbnail.size == (size, size * 3 // 4)


def test_an_image_smaller_than_the_size_is_not_enlarged() -> None:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(out, "JPEG")

    assert _thumbnail(out.getvalue(), 512).size == (64, 48)


def test_an_image_with_transparency_becomes_a_png_that_keeps_it() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (300, 200), (0, 255, 0, 0)).save(out, "PNG")

    made = make_thumbnail(out.getvalue(), sha256="0" * 64, name="logo.png", media_type="image/png", size=128)
    thumbnail = Image.open(io.BytesIO(made.data))

    assert made.media_type == "image/png" and thumbnail.format == "PNG"
    assert thumbnail.mode == "RGBA" and thumbnail.getpixel((5, 5))[3] == 0


def test_an_opaque_png_becomes_a_jpeg() -> None:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), "green").save(out, "PNG")

    assert _thumbnail(out.getvalue(), 128, "image/png").format == "JPEG"


def test_corrupt_bytes_are_refused_naming_the_file() -> None:
    with pytest.raises(InvalidInputError, match="'photo.jpg' declared as image/jpeg is not a decodable image"):
        _thumbnail(b"\xff\xd8\xff\xe0 this is no JPEG")


def test_a_truncated_jpeg_is_refused_naming_the_file() -> None:
    out = io.BytesIO()
    Image.effect_noise((400, 300), 50).convert("RGB").save(out, "JPEG")

    with pytest.raises(InvalidInputError, match="'photo.jpg' .*not a decodable image: .*truncated"):
        _thumbnail(out.getvalue()[: len(out.getvalue()) // 2])


def test_an_image_over_the_decompression_bomb_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.BytesIO()
    Image.new("RGB", (100, 100), "green").save(out, "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)

    with pytest.raises(InvalidInputError, match="'photo.jpg' .*decompression bomb"):
        _thumbnail(out.getvalue(), media_type="image/png")


def test_a_size_not_offered_is_refused_naming_the_sizes_that_are() -> None:
    with pytest.raises(InvalidInputError, match="thumbnail size 300 is not offered; size must be one of 128, 256, 512"):
        _thumbnail(b"", 300)


def test_a_file_that_is_no_image_has_no_thumbnail() -> None:
    with pytest.raises(InvalidInputError, match="file 'photo.jpg' is text/plain, not an image"):
        _thumbnail(b"words", 128, "text/plain")


def test_a_16_bit_scan_is_stretched_to_grey_levels_not_clipped_to_white() -> None:
    ramp = Image.new("I;16", (256, 64))
    ramp.putdata([x * 256 for _ in range(64) for x in range(256)])  # 0 .. 65280, left to right
    out = io.BytesIO()
    ramp.save(out, "PNG")

    thumbnail = _thumbnail(out.getvalue(), 128, "image/png").convert("L")

    left, middle, right = (thumbnail.getpixel((x, 16)) for x in (0, 64, 127))
    assert isinstance(left, int) and isinstance(middle, int) and isinstance(right, int)
    assert left < 5 and 100 < middle < 155 and right > 250


def test_a_cmyk_jpeg_becomes_rgb_without_its_cmyk_colour_profile() -> None:
    out = io.BytesIO()
    Image.new("CMYK", (300, 200), (0, 255, 255, 0)).save(out, "JPEG", icc_profile=b"not an RGB profile")

    thumbnail = _thumbnail(out.getvalue(), 128)

    assert thumbnail.mode == "RGB" and "icc_profile" not in thumbnail.info
