"""PyTorch items of video frames: which frames a dataset holds, and their decoding, grouped by video.

A dataset of frames is a list of (file position, frame) pairs made once, when the dataset
is made, from the pinned manifest. Loading a batch reads the manifest of the files it
touches in one round trip, then decodes each video's frames in order (``VideoFrames``
seeks to the nearest keyframe). Each process keeps its last few videos open: a video's
bytes are fetched and indexed once, not once a frame.
"""

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from annolog.frame_selection import FrameSelection
from annolog.pinned import Entry, PinnedReader, entry_of
from annolog.projections.readmodels import FileView
from annolog.pytorch import ItemFormat, Transform, framed_item, to_item
from annolog.video import PICTURE, FrameChoice, VideoFrames, chosen_frames, frame_list

OPEN_VIDEOS = 4
"""Videos each process keeps open (bytes and index): a DataLoader batch of shuffled frames
touches a few videos, a sequential one touches one."""
_PAGE = 500  # files whose manifest is read per round trip while the frame list is made


def frames_of(
    reader: PinnedReader, choice: FrameChoice, selection: FrameSelection | None
) -> "np.ndarray[Any, np.dtype[np.int64]]":
    """The (file position, frame) items of ``reader``'s files, as ``choice`` picks them, and of
    those the ones ``selection`` (a slice's query with frame predicates) holds on."""
    pages = (list(range(start, min(start + _PAGE, len(reader.ids)))) for start in range(0, len(reader.ids), _PAGE))

    def chosen(position: int, view: FileView) -> list[int]:
        frames = chosen_frames(view, choice)
        return frames if selection is None else selection.frames(reader.ids[position], view, frames)

    return frame_list((p, chosen(p, view)) for page in pages for p, view in zip(page, reader.views(page)))


class FrameFormat(ItemFormat):
    """How the frames of a dataset become items: the pixels of frame k of a video (or of a
    picture) with the instances drawn on that frame, as ``ItemFormat`` makes pictures' items."""

    def __init__(
        self,
        frames: "np.ndarray[Any, np.dtype[np.int64]]",
        *,
        dtype: torch.dtype | None,
        masks: bool = False,
        transform: Transform | None,
    ) -> None:
        super().__init__(dtype=dtype, masks=masks, transform=transform)
        self.frames = frames
        self._opened: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_opened": {}}  # open videos are per process

    def count(self, reader: PinnedReader) -> int:
        return len(self.frames)

    def load(self, reader: PinnedReader, positions: list[int]) -> list[Any]:
        """The items at ``positions``: one manifest round trip, each video's frames decoded in order."""
        wanted = [(int(file), int(frame)) for file, frame in self.frames[positions]]
        files = sorted({file for file, _ in wanted})
        views = dict(zip(files, reader.views(files, masks=self.masks)))
        decoded = dict(self._decoded(reader, views, wanted))
        return self._transformed([decoded[pair] for pair in wanted])

    def _decoded(
        self, reader: PinnedReader, views: dict[int, FileView], wanted: list[tuple[int, int]]
    ) -> Iterator[tuple[tuple[int, int], Any]]:
        index = reader.class_index
        for file, view in views.items():
            frames = [k for f, k in wanted if f == file]
            if view.frames is None:  # a picture among the videos
                entry = entry_of(view, index)
                yield (file, PICTURE), to_item(entry, reader.fetch([entry])[0], self.dtype, masks=self.masks)
                continue
            video = self._video(reader, view)
            for k, pixels in video.read(frames):
                yield (file, k), framed_item(entry_of(view, index, frame=k), pixels, self.dtype, masks=self.masks)

    def _video(self, reader: PinnedReader, view: FileView) -> VideoFrames:
        """``view``'s video, opened once per process while it is among the last ``OPEN_VIDEOS`` used."""
        if "videos" not in self._opened:

            @functools.lru_cache(maxsize=OPEN_VIDEOS)
            def opened(blob: Entry) -> VideoFrames:
                return VideoFrames(reader.fetch([blob])[0], blob.name)

            self._opened["videos"] = opened
        blob = Entry(
            file_id=view.file_id, sha256=view.sha256, name=view.name, boxes=(), box_labels=(), tags=(), shapes=()
        )
        video: VideoFrames = self._opened["videos"](blob)
        return video
