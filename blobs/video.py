"""Probing a video's bytes with PyAV (FFmpeg): its size, frame count and frame rate, refusing bytes that lie.

PyAV is the ``video`` extra's: it is imported here, when a video arrives, never at start-up.
"""

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from annolog.core.errors import InvalidInputError, MissingExtra

if TYPE_CHECKING:
    from av.container import InputContainer


@dataclass(frozen=True)
class VideoSize:
    """What annolog records of a video: its picture's size, its frame count and rate."""

    width: int
    height: int
    frames: int
    fps: float | None


def probe_video(data: bytes, *, name: str, media_type: str) -> VideoSize:
    """The size, frame count and frame rate of the first video stream in ``data``.

    Frames are counted by reading every packet, not from the container's header (WebM and
    Matroska carry none, and a truncated upload still claims its full length), and the first
    frame is decoded, so that bytes FFmpeg cannot read are refused now with
    ``InvalidInputError`` naming ``name``. Decoding every frame would cost minutes of CPU
    per upload; a damaged frame past the first is found when it is read for training.
    """
    with _opened(data, name=name, media_type=media_type) as container:
        if not container.streams.video:
            raise _undecodable(name, media_type, "FFmpeg finds no video stream in it")
        stream = container.streams.video[0]
        frames = sum(1 for packet in container.demux(stream) if packet.size)
        if not frames:
            raise _undecodable(name, media_type, "its video stream has no frames")
        container.seek(0, stream=stream)
        next(container.decode(stream))
        rate = stream.average_rate or stream.guessed_rate
        return VideoSize(stream.codec_context.width, stream.codec_context.height, frames, float(rate) if rate else None)


@contextmanager
def _opened(data: bytes, *, name: str, media_type: str) -> "Iterator[InputContainer]":
    try:
        import av
    except ModuleNotFoundError as exc:
        raise MissingExtra(
            f"file {name!r} is a video ({media_type}): reading videos needs the 'video' extra, which is not "
            "installed (no module 'av'): pip install 'annolog[video]'"
        ) from exc
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            yield container
    # What FFmpeg reports on bytes it cannot read (av.error.InvalidDataError and its kin), and
    # a stream that ends before its first frame.
    except (av.FFmpegError, StopIteration) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or "the stream ends before its first frame"
        raise _undecodable(name, media_type, reason) from exc


def _undecodable(name: str, media_type: str, reason: str) -> InvalidInputError:
    return InvalidInputError(f"file {name!r} declared as {media_type} is not a decodable video: {reason}")
