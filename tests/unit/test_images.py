"""Decoding for training: the pixels a model sees are in the frame the boxes were drawn in."""

import io

from PIL import Image

from annolog.images import decode_image

ORIENTATION = 0x0112


def test_a_sideways_stored_jpeg_decodes_upright_as_its_exif_orientation_says() -> None:
    upright = Image.new("RGB", (20, 40), (255, 0, 0))
    upright.paste((0, 0, 255), (0, 20, 20, 40))
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # stored turned a quarter; "turn 90° clockwise to show"
    out = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(out, "JPEG", exif=exif, quality=95)

    pixels = decode_image(out.getvalue(), "photo.jpg")

    assert pixels.shape == (40, 20, 3)
    assert pixels[2, 10, 0] > 200 and pixels[37, 10, 2] > 200  # red above blue
