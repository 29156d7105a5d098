"""Frames/s streamed from a pinned video directory, against decoding the same videos with PyAV alone.

    python -m bench.video [--videos 8] [--frames 300] [--size 320x240] [--keyframe-every 30]
                          [--annotate-every 10] [--workers 0] [--rounds 3]

Needs the `train` and `video` extras. ``--videos`` H.264 clips (libx264 in PyAV's wheel,
else MPEG-4) of ``--frames`` frames, a keyframe every ``--keyframe-every``, with noise and a
moving square so that decoding costs what a real clip's does, are added to an embedded
project with a tracked box on every ``--annotate-every``-th frame, and tagged. Then:

(a) PyAV alone — the limit: each video opened from its file and decoded front to back,
    every frame turned into a uint8 C×H×W tensor (as annolog hands them out);
(b) annolog ``to_pytorch(frames="all")`` of the pinned directory through a DataLoader
    (``--workers``, in order): every frame with its instances; ratio (b)/(a), target >= 0.8;
(c) annolog ``frames="annotated"`` (every ``--annotate-every``-th frame), in order: it seeks to
    the nearest keyframe and decodes up to the frame, against (a') PyAV decoding whole videos
    and keeping the same frames — what a reader without seeking does; ratio (c)/(a') > 1 is
    time saved by seeking;
(d) annolog ``frames="annotated"``, shuffled: random access, each frame decoded from its keyframe.

Rates are frames handed out per second; medians of ``--rounds`` interleaved rounds.
"""

import argparse
import io
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from torch.utils.data import DataLoader

import annolog
from annolog.pytorch import collate
from bench.common import ratio_line, timed


def make_clip(frames: int, width: int, height: int, keyframe_every: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = keyframe_every
        background = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        for k in range(frames):
            pixels = np.roll(background, k, axis=1) // 2 + rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
            x = (k * 3) % max(1, width - 20)
            pixels[10:30, x : x + 20] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    return out.getvalue()


def pyav_alone(paths: list[Path], every: int) -> int:
    """Decode each video front to back, keeping every ``every``-th frame as a tensor; frames kept."""
    kept = 0
    for path in paths:
        with av.open(str(path)) as container:
            for k, frame in enumerate(container.decode(video=0)):
                if k % every == 0:
                    torch.from_numpy(np.ascontiguousarray(frame.to_ndarray(format="rgb24").transpose(2, 0, 1)))
                    kept += 1
    return kept


def streamed(ds: Any, *, workers: int, shuffle: bool) -> int:
    loader = DataLoader(ds, batch_size=16, shuffle=shuffle, num_workers=workers, collate_fn=collate)
    return sum(len(images) for images, _ in loader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--keyframe-every", type=int, default=30)
    parser.add_argument("--annotate-every", type=int, default=10)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.split("x"))

    with tempfile.TemporaryDirectory(prefix="annolog-bench-video-") as tmp:
        paths = []
        project = annolog.Client(Path(tmp) / "data", actor="bench").create_project("clips", labels=["square"])
        clips = project.directory.new("clips")
        for v in range(args.videos):
            data = make_clip(args.frames, width, height, args.keyframe_every, seed=v)
            paths.append(Path(tmp) / f"{v}.mp4")
            paths[-1].write_bytes(data)
            clip = clips.add_file(data, name=f"{v}.mp4")
            for k in range(0, args.frames, args.annotate_every):
                x = (k * 3) % max(1, width - 20)
                clip.add_instance("square", box=(x, 10, x + 20, 30), frame=k, track=v)
        project.tag("bench")
        pinned = project.directory.get("clips", version="bench")
        every = pinned.to_pytorch(frames="all", dtype=torch.uint8)
        annotated = pinned.to_pytorch(frames="annotated", dtype=torch.uint8)

        runs: dict[str, Callable[[], int]] = {
            "(a) PyAV alone, every frame": lambda: pyav_alone(paths, 1),
            "(b) annolog frames='all', in order": lambda: streamed(every, workers=args.workers, shuffle=False),
            "(a') PyAV alone, whole videos, annotated frames kept": lambda: pyav_alone(paths, args.annotate_every),
            "(c) annolog frames='annotated', in order": lambda: streamed(
                annotated, workers=args.workers, shuffle=False
            ),
            "(d) annolog frames='annotated', shuffled": lambda: streamed(annotated, workers=args.workers, shuffle=True),
        }
        rates: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                frames, seconds = timed(run)
                rates[name].append(frames / seconds)
        print(
            f"{args.videos} videos x {args.frames} frames {args.size}, keyframe every {args.keyframe_every}, "
            f"annotated every {args.annotate_every}, {args.workers} workers; median of {args.rounds} rounds"
        )
        median = {name: statistics.median(found) for name, found in rates.items()}
        for name, rate in median.items():
            print(f"  {name}: {rate:,.0f} frames/s")
        names = list(median)
        ratio_line("(b)/(a) every frame, annolog vs PyAV alone", median[names[1]], median[names[0]], target=0.8)
        ratio_line("(c)/(a') annotated frames, seeking vs decoding whole videos", median[names[3]], median[names[2]])
        ratio_line("(d)/(a') annotated frames shuffled vs decoding whole videos", median[names[4]], median[names[2]])


if __name__ == "__main__":
    main()
