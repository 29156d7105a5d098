"""Decoding chosen frames of a video's bytes for training: seek to the nearest keyframe, decode forward.

A video is indexed once when opened: its packets are read (not decoded) for their
presentation timestamps and keyframes, so frame k is the k-th timestamp in presentation
order (what ``blobs.video`` counted when the file was added). Frames asked for in order
are decoded in one pass while no keyframe lies between them; otherwise the reader seeks.
Nothing decodes a whole video to hand out one frame.
"""

import bisect
import io
from collections.abc import Iterable, Iterator
from typing import Any, Literal, get_args

import av
import numpy as np

from annolog.core.errors import CorruptBlob, InvalidInputError
from annolog.projections.readmodels import FileView

FrameChoice = Literal["annotated", "all"]
"""Which frames of a video are training items: those with an instance drawn on them, or every one."""
PICTURE = -1
"""The "frame" of a single picture among the items of a frame dataset: the whole file."""


class VideoFrames:
    """One video's frames by index, as H×W×3 uint8 RGB pixels.

    >>> video = VideoFrames(data, "clip.mp4")  # doctest: +SKIP
    >>> dict(video.read([0, 12]))[12].shape  # doctest: +SKIP
    (48, 64, 3)
    """

    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        try:
            self._container = av.open(io.BytesIO(data), mode="r")
            self._stream = self._container.streams.video[0]
            packets = [p for p in self._container.demux(self._stream) if p.size]
        except (av.FFmpegError, IndexError) as exc:
            raise CorruptBlob(f"file {name!r} does not open as a video: {exc}") from exc
        if any(p.pts is None for p in packets):
            raise CorruptBlob(f"file {name!r} has video packets without timestamps: its frames cannot be found")
        self._pts = sorted(p.pts for p in packets if p.pts is not None)
        self._keyframes = sorted(p.pts for p in packets if p.is_keyframe and p.pts is not None)
        self._decoded: Iterator[av.VideoFrame] | None = None  # the decoder's pass, if one is under way
        self._last = -1  # the pts the pass last produced

    def __len__(self) -> int:
        return len(self._pts)

    def read(self, frames: Iterable[int]) -> Iterator[tuple[int, Any]]:
        """``(k, pixels)`` of each frame asked for, in increasing order, each decoded once."""
        for k in sorted(set(frames)):
            if not 0 <= k < len(self._pts):
                raise CorruptBlob(f"file {self.name!r} has {len(self._pts)} frames; no frame {k}")
            yield k, self._frame(self._pts[k]).to_ndarray(format="rgb24")

    def _frame(self, pts: int) -> av.VideoFrame:
        if self._decoded is None or pts <= self._last or self._keyframe_before(pts) > self._last:
            self._seek(pts)
        assert self._decoded is not None
        try:
            for frame in self._decoded:
                self._last = -1 if frame.pts is None else frame.pts
                if frame.pts == pts:
                    return frame
        except av.FFmpegError as exc:
            raise CorruptBlob(f"file {self.name!r} does not decode at pts {pts}: {exc}") from exc
        raise CorruptBlob(f"file {self.name!r} ends before the frame at pts {pts}")

    def _keyframe_before(self, pts: int) -> int:
        at = bisect.bisect_right(self._keyframes, pts)
        return self._keyframes[at - 1] if at else self._pts[0]

    def _seek(self, pts: int) -> None:
        """Start a pass at the keyframe at or before ``pts`` (the decoder is flushed by the seek)."""
        self._container.seek(pts, stream=self._stream, backward=True, any_frame=False)
        self._decoded, self._last = self._container.decode(self._stream), -1


def chosen_frames(view: FileView, choice: FrameChoice) -> list[int]:
    """The frames of ``view`` that are items: with ``"annotated"``, those an instance is drawn
    on; with ``"all"``, every one. A single picture is one item (``PICTURE``) with ``"all"``,
    and with ``"annotated"`` when it has an instance."""
    if choice not in get_args(FrameChoice):
        raise InvalidInputError(f"frames must be 'annotated' or 'all' (or None for pictures only), got {choice!r}")
    if view.frames is None:
        return [PICTURE] if choice == "all" or view.instances else []
    if choice == "all":
        return list(range(view.frames))
    return sorted({i.frame for i in view.instances if i.frame is not None})


def frame_list(files: Iterable[tuple[int, list[int]]]) -> "np.ndarray[Any, np.dtype[np.int64]]":
    """An N×2 array of (file position, frame) items from each file's frames, in that order: a
    compact list (two integers an item) that DataLoader workers receive with the dataset."""
    rows = [(position, k) for position, frames in files for k in frames]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)
