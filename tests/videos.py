"""Small test videos made on the spot with PyAV: frame k is a flat grey of level ``8 * k``,
so a test can tell which frame was decoded from its pixels alone."""

import io

import av
import numpy as np

WIDTH, HEIGHT = 64, 48
STEP = 8
"""Grey levels between consecutive frames: wide enough that lossy coding never blurs two together."""


def make_video(*, frames: int = 30, fps: int = 30, keyframe_every: int = 10) -> bytes:
    """An MP4 (H.264 with B-frames where the wheel's FFmpeg has libx264, else MPEG-4 part 2)
    whose keyframes are ``keyframe_every`` frames apart, so that reading a frame needs a seek."""
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.gop_size = keyframe_every
        for k in range(frames):
            pixels = np.full((HEIGHT, WIDTH, 3), (STEP * k) % 256, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    return out.getvalue()


def frame_number(pixels: "np.ndarray[object, np.dtype[np.uint8]]") -> int:
    """Which frame of ``make_video`` an H×W×3 (or C×H×W) picture is."""
    return round(float(pixels.mean()) / STEP)
