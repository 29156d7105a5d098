"""Probing uploads: media types guessed or declared, image sizes decoded, lying bytes refused."""

import io
import os

import pytest
from PIL import Image

from annolog.blobs import Media, probe
from annolog.core import InvalidInputError


def _image(format: str, size: tuple[int, int] = (64, 48), *, noisy: bool = False) -> bytes:
    """Image bytes made here, so every test shows exactly what it feeds in."""
    width, height = size
    pixels = os.urandom(width * height * 3) if noisy else bytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(out, format=format)
    return out.getvalue()


@pytest.mark.parametrize(
    ("format", "media_type"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("WEBP", "image/webp"),
        ("GIF", "image/gif"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
    ],
)
def test_an_image_reports_its_width_and_height(format: str, media_type: str) -> None:
    media = probe(_image(format, (64, 48)), name="picture", media_type=media_type)

    assert media == Media(media_type, 64, 48)


def test_a_multi_picture_jpeg_from_a_phone_camera_is_a_jpeg() -> None:
    out = io.BytesIO()
    frames = [Image.new("RGB", (20, 10)), Image.new("RGB", (20, 10))]
    frames[0].save(out, format="MPO", save_all=True, append_images=frames[1:])

    assert probe(out.getvalue(), name="IMG_0001.JPG") == Media("image/jpeg", 20, 10)
    assert probe(out.getvalue(), name="upload-7") == Media("image/jpeg", 20, 10)


def test_the_media_type_is_guessed_from_the_file_name() -> None:
    assert probe(_image("PNG", (10, 20)), name="street.png") == Media("image/png", 10, 20)


def test_the_media_type_is_guessed_from_the_bytes_when_the_name_says_nothing() -> None:
    assert probe(_image("JPEG", (30, 10)), name="upload-7") == Media("image/jpeg", 30, 10)


def test_unknown_bytes_under_an_unknown_name_are_an_octet_stream() -> None:
    assert probe(b"\x00\x01 no format", name="upload-7") == Media("application/octet-stream")


def test_a_declared_media_type_is_matched_regardless_of_case() -> None:
    media = probe(_image("PNG", (3, 4)), name="a", media_type="Image/PNG")

    assert media == Media("image/png", 3, 4)


def test_a_non_image_has_no_size_and_is_not_decoded() -> None:
    jpeg_start = b"\xff\xd8\xff\xe0 and then nothing an image decoder could use"

    assert probe(jpeg_start, name="notes", media_type="text/plain") == Media("text/plain")
    assert probe(jpeg_start, name="notes.txt") == Media("text/plain")


def test_a_truncated_jpeg_is_refused_naming_the_file() -> None:
    whole = _image("JPEG", (256, 256), noisy=True)

    refused = r"'cut\.jpg' declared as image/jpeg is not a decodable image: .*truncated"
    with pytest.raises(InvalidInputError, match=refused):
        probe(whole[: len(whole) // 2], name="cut.jpg")


def test_text_declared_as_a_jpeg_is_refused() -> None:
    with pytest.raises(
        InvalidInputError,
        match="'readme' declared as image/jpeg is not a decodable image: Pillow recognises no",
    ):
        probe(b"just some words", name="readme", media_type="image/jpeg")


def test_a_file_named_as_an_image_but_holding_text_is_refused() -> None:
    refused = "'photo.png' declared as image/png is not a decodable image"
    with pytest.raises(InvalidInputError, match=refused):
        probe(b"just some words", name="photo.png")


def test_jpeg_bytes_declared_as_png_are_refused_naming_both() -> None:
    with pytest.raises(
        InvalidInputError,
        match=r"'photo.png' is declared as image/png but its bytes are image/jpeg \(JPEG image\)",
    ):
        probe(_image("JPEG"), name="photo.png", media_type="image/png")


def test_an_image_over_the_pixel_limit_is_refused_not_only_warned_about(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)

    refused = "'big.png' .* is 40x40 = 1,600 pixels, over the decompression bomb limit of 1,000"
    with pytest.warns(Image.DecompressionBombWarning):
        with pytest.raises(InvalidInputError, match=refused):
            probe(_image("PNG", (40, 40)), name="big.png")


def test_a_decompression_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)

    refused = "'bomb.png' declared as image/png is not a decodable image: .*decompression bomb"
    with pytest.raises(InvalidInputError, match=refused):
        probe(_image("PNG", (100, 100)), name="bomb.png")
