"""Streaming into a PyTorch DataLoader: annolog against local disk and litdata on the same JPEGs, in one run.

    python -m bench.stream [--files 3000] [--size 320x240] [--workers 2] [--batch-size 32]
                           [--rounds 2] [--big-files 100000] [--repeats 3] [--s3-endpoint URL]

Needs the `train` extra and litdata (`pip install litdata`), and an S3 API for (c): the
moto server of `scripts/services.sh` (ANNOLOG_TEST_S3_ENDPOINT; any credentials do).

1. Throughput. ``--files`` photo-like JPEGs (smooth gradients, a few filled shapes with
   their boxes, mild noise; quality 90) are generated once into a temp dir. Each reader
   then turns every one into a uint8 C×H×W tensor (Pillow -> numpy -> torch, as annolog
   decodes) with its boxes and class indices, through a DataLoader with ``--workers``
   workers (fork), batches of ``--batch-size`` and a list collate:
   (a) a plain map-style Dataset reading the files with open().read() — the limit here;
   (b) annolog on the embedded default, pinned by a tag: map-style, and streaming with a shuffle;
   (c) annolog with its blobs in S3, streaming: a cold cache (fresh cache_dir), then the next
       epoch on the warm cache; and map-style on the warm cache. moto serves S3 from this
       machine's own CPUs: cold-cache rates here are a floor, not what AWS S3 would give;
   (d) litdata: the same images optimized into its chunks, StreamingDataset + StreamingDataLoader.
   Map-style loaders shuffle too. Per pass: time to the first batch, and samples/s over the
   rest of the full pass after the first 2 x workers batches (each worker's start-up).
   ``--rounds`` rounds of every reader, interleaved; medians, and each rate as a ratio to (a).
   Target: (c) on a warm cache >= 0.9 of (a).
2. Time to first batch of a ``--big-files`` pinned directory (target: under one second),
   built with big AddFile commits whose files reuse the generated blobs: opening it, making
   the PyTorch dataset and getting one batch from scratch, streaming without a shuffle and
   map-style, on local blobs and on S3 (cold and warm cache); median of ``--repeats``. Then
   where the time goes: each step of a first batch alone.

Temp dirs and the S3 bucket are new for the run and removed at its end.
"""

import argparse
import copy
import io
import os
import pickle
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import DataLoader, Dataset

import annolog
from annolog.api.bootstrap import build_service
from annolog.api.settings import load_settings
from annolog.core.commands import AddFile, AddInstance, Command
from annolog.core.geometry import InstanceKind
from annolog.pytorch import collate, to_item
from bench.common import chunks, fresh_bucket, s3_arguments, timed

T = TypeVar("T")
Box = tuple[float, float, float, float]
Item = tuple[torch.Tensor, dict[str, torch.Tensor]]

CLASSES = ("disc", "block")  # class index 0 is drawn as an ellipse, 1 as a rectangle
TAG = "bench"
FILES_PER_COMMIT = 500  # the SDK's add_file is one commit per file and one per box: minutes for thousands
BIG_FILES_PER_COMMIT = 10_000
BLOB_UPLOADS_IN_FLIGHT = 16
WARM_RATIO_TARGET = 0.9
WARM_S3 = "(c) annolog S3, streaming, warm cache"  # the reader the 0.9 target is for
FIRST_BATCH_TARGET_S = 1.0


# -- the images, on local disk -------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One generated photo on local disk, with its boxes (x_min, y_min, x_max, y_max) and class indices."""

    path: Path
    width: int
    height: int
    boxes: tuple[Box, ...]
    labels: tuple[int, ...]


def _gradient(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    y, x = np.ogrid[0:height, 0:width]
    t = (x / width * rng.uniform(0.2, 1) + y / height * rng.uniform(0.2, 1)) / 2
    start, end = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    return Image.fromarray((start + (end - start) * t[..., None]).astype(np.uint8))


def _draw_shapes(image: Image.Image, rng: np.random.Generator) -> tuple[tuple[Box, ...], tuple[int, ...]]:
    draw, (width, height) = ImageDraw.Draw(image), image.size
    boxes, labels = [], []
    for _ in range(int(rng.integers(1, 6))):
        x0, y0 = rng.uniform(0, width * 0.8), rng.uniform(0, height * 0.8)
        x1, y1 = min(x0 + rng.uniform(16, width / 3), width - 1), min(y0 + rng.uniform(16, height / 3), height - 1)
        box = (x0, y0, x1, y1)
        label = int(rng.integers(0, len(CLASSES)))
        (draw.ellipse if label == 0 else draw.rectangle)(box, fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        boxes.append(box)
        labels.append(label)
    return tuple(boxes), tuple(labels)


def _photo(seed: int, width: int, height: int, noise: np.ndarray) -> tuple[bytes, tuple[Box, ...], tuple[int, ...]]:
    """A JPEG (quality 90) that compresses like a small photo, with the boxes of what it shows."""
    rng = np.random.default_rng(seed)
    image = _gradient(rng, width, height)
    boxes, labels = _draw_shapes(image, rng)
    dy, dx = rng.integers(0, height), rng.integers(0, width)  # a window of a shared noise field: cheap, never equal
    noisy = np.asarray(image, dtype=np.int16) + noise[dy : dy + height, dx : dx + width]
    out = io.BytesIO()
    Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue(), boxes, labels


def generate(root: Path, count: int, width: int, height: int) -> list[Sample]:
    noise = np.random.default_rng(0).normal(0, 6, (2 * height, 2 * width, 3)).astype(np.int16)
    samples = []
    for i in range(count):
        data, boxes, labels = _photo(i, width, height, noise)
        path = root / f"{i:06d}.jpg"
        path.write_bytes(data)
        samples.append(Sample(path, width, height, boxes, labels))
    return samples


# -- (a) and (d): the same decode, without annolog -------------------------------------------------


def decode(data: bytes | memoryview) -> torch.Tensor:
    """Pillow -> numpy -> torch uint8 C×H×W, the steps annolog takes."""
    with Image.open(io.BytesIO(data)) as image:
        pixels = np.array(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


def _target(boxes: Any, labels: Any) -> dict[str, torch.Tensor]:
    return {
        "boxes": torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.as_tensor(labels, dtype=torch.int64),
    }


class LocalFiles(Dataset[Item]):
    """(a) The files on local disk, their annotations in memory: a plain map-style Dataset."""

    def __init__(self, samples: Sequence[Sample]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Item:
        sample = self.samples[index]
        with open(sample.path, "rb") as file:
            data = file.read()
        return decode(data), _target(sample.boxes, sample.labels)


def _litdata_record(sample: Sample) -> dict[str, Any]:
    return {
        "image": sample.path.read_bytes(),
        "boxes": np.asarray(sample.boxes, dtype=np.float32).reshape(-1, 4),
        "labels": np.asarray(sample.labels, dtype=np.int64),
    }


def _litdata_item(record: dict[str, Any]) -> Item:
    return decode(record["image"]), _target(record["boxes"], record["labels"])


def litdata_dataset(samples: Sequence[Sample], root: Path) -> Any:
    """(d) The samples optimized into litdata's chunks, streamed back with a shuffle."""
    import litdata  # type: ignore[import-untyped]

    # litdata switches the whole process to spawn unless told otherwise; fork is what every loader here uses.
    litdata.optimize(
        fn=_litdata_record,
        inputs=list(samples),
        output_dir=str(root),
        chunk_bytes="64MB",
        num_workers=1,
        start_method="fork",
        verbose=False,
    )
    return litdata.StreamingDataset(str(root), shuffle=True, transform=_litdata_item)


# -- (b) and (c): the samples in annolog ----------------------------------------------------------------


def _file_commands(directory_id: UUID, sample: Sample, sha256: str, *, name: str, boxes: bool) -> list[Command]:
    add = AddFile(
        directory_id=directory_id,
        sha256=sha256,
        name=name,
        media_type="image/jpeg",
        size=sample.path.stat().st_size,
        width=sample.width,
        height=sample.height,
    )
    if not boxes:
        return [add]
    return [
        add,
        *(
            AddInstance(file_id=add.file_id, label=CLASSES[label], kind=InstanceKind.box, points=((x0, y0), (x1, y1)))
            for (x0, y0, x1, y1), label in zip(sample.boxes, sample.labels)
        ),
    ]


def upload(project: annolog.Project, samples: Sequence[Sample]) -> list[str]:
    """The samples' bytes uploaded to the project (its files may name only those), in parallel;
    their sha256 in order."""

    def one(sample: Sample) -> str:
        return project.store_blob(sample.path.read_bytes(), name=sample.path.name).sha256

    with ThreadPoolExecutor(BLOB_UPLOADS_IN_FLIGHT) as pool:
        return list(pool.map(one, samples))


def ingest(project: annolog.Project, samples: Sequence[Sample], directory: str) -> annolog.Directory:
    """The samples with their boxes as ``directory``, pinned by ``TAG``."""
    directory_id = project.directory.new(directory).id
    for chunk in chunks(list(zip(samples, upload(project, samples))), FILES_PER_COMMIT):
        project.execute(
            [
                c
                for sample, sha256 in chunk
                for c in _file_commands(directory_id, sample, sha256, name=sample.path.name, boxes=True)
            ]
        )
    project.tag(TAG)
    return project.directory.get(directory, version=TAG)


# -- one pass through a DataLoader --------------------------------------------------------------------


@dataclass(frozen=True)
class Pass:
    """One full pass: time to the first batch and the steady rate after the warm-up batches."""

    label: str
    first_batch_s: float
    per_second: float


def measure(label: str, loader: Iterable[Any], *, expected: int, warmup_batches: int) -> Pass:
    """One full pass of ``loader``, checked to yield ``expected`` samples."""
    started = time.perf_counter()
    stamps = [(time.perf_counter(), len(images)) for images, _ in loader]
    seen = sum(n for _, n in stamps)
    if seen != expected:
        raise RuntimeError(f"{label}: one pass gave {seen} samples, expected {expected}")
    steady = sum(n for _, n in stamps[warmup_batches:])
    return Pass(label, stamps[0][0] - started, steady / (stamps[-1][0] - stamps[warmup_batches - 1][0]))


@dataclass(frozen=True)
class Loading:
    """How every loader of the run reads: the same workers, batch size and (list) collate."""

    workers: int
    batch_size: int

    def loader(self, dataset: Any, *, shuffle: bool = False) -> DataLoader[Any]:
        generator = torch.Generator().manual_seed(0) if shuffle else None
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            num_workers=self.workers,
            collate_fn=collate,
            shuffle=shuffle,
            generator=generator,
        )

    def pass_of(self, label: str, dataset: Any, *, shuffle: bool = False) -> Pass:
        return measure(
            label, self.loader(dataset, shuffle=shuffle), expected=len(dataset), warmup_batches=2 * self.workers
        )


def _annotations(target: dict[str, torch.Tensor], *, first_label: int = 0) -> list[tuple[Any, ...]]:
    labels = [label - first_label for label in target["labels"].tolist()]
    return sorted((*box, label) for box, label in zip(target["boxes"].tolist(), labels))


def check_same_item(directory: annolog.Directory, samples: Sequence[Sample]) -> None:
    """annolog's first item is the same tensor, boxes and classes as (a) reads for that file: a fair race.

    Boxes are compared as sets: instances come back in id order, which within one millisecond
    is not the order they were drawn in.
    """
    name = directory[0].name
    image, target = directory.to_pytorch(dtype=torch.uint8)[0]
    local_image, local_target = LocalFiles([s for s in samples if s.path.name == name])[0]
    # annolog's labels start at 1 (0 is torchvision's background); the local reader's at 0.
    if not torch.equal(image, local_image) or _annotations(target, first_label=1) != _annotations(local_target):
        raise RuntimeError(f"annolog's item for {name!r} differs from the local file's: not the same data")


@dataclass(frozen=True)
class Readers:
    """What every round reads: the same samples, in annolog twice and in litdata's chunks."""

    samples: Sequence[Sample]
    embedded: annolog.Directory
    on_s3: annolog.Directory
    litdata: Any
    scratch: Path


def prepare(client: annolog.Client, s3_client: annolog.Client, samples: Sequence[Sample], scratch: Path) -> Readers:
    """Each reader's copy of the samples: in annolog embedded and on S3, and in litdata's chunks."""
    embedded = ingest(client.create_project("embedded", labels=list(CLASSES)), samples, "photos")
    check_same_item(embedded, samples)
    on_s3 = ingest(s3_client.create_project("s3", labels=list(CLASSES)), samples, "photos")
    return Readers(samples, embedded, on_s3, litdata_dataset(samples, scratch / "litdata"), scratch)


def embedded_passes(directory: annolog.Directory, loading: Loading, epoch: int) -> list[Pass]:
    stream = directory.to_pytorch(streaming=True, shuffle=True, batch_size=loading.batch_size, dtype=torch.uint8)
    stream.set_epoch(epoch)
    return [
        loading.pass_of("(b) annolog embedded, map-style", directory.to_pytorch(dtype=torch.uint8), shuffle=True),
        loading.pass_of("(b) annolog embedded, streaming + shuffle", stream),
    ]


def s3_passes(directory: annolog.Directory, loading: Loading, epoch: int, cache_dir: Path) -> list[Pass]:
    """A cold cache (``cache_dir`` new), then the next epoch on it warm, then map-style on it."""
    stream = directory.to_pytorch(
        streaming=True, shuffle=True, batch_size=loading.batch_size, cache_dir=cache_dir, dtype=torch.uint8
    )
    stream.set_epoch(2 * epoch)
    cold = loading.pass_of("(c) annolog S3, streaming, cold cache", stream)
    stream.set_epoch(2 * epoch + 1)
    warm = loading.pass_of(WARM_S3, stream)
    mapped = directory.to_pytorch(cache_dir=cache_dir, dtype=torch.uint8)
    return [cold, warm, loading.pass_of("(c) annolog S3, map-style, warm cache", mapped, shuffle=True)]


def litdata_pass(dataset: Any, loading: Loading) -> Pass:
    from litdata import StreamingDataLoader

    loader = StreamingDataLoader(
        dataset, batch_size=loading.batch_size, num_workers=loading.workers, collate_fn=collate
    )
    return measure(
        "(d) litdata, streaming + shuffle", loader, expected=len(dataset), warmup_batches=2 * loading.workers
    )


def one_round(readers: Readers, loading: Loading, epoch: int) -> list[Pass]:
    """Every reader once, (a) first; rounds interleave them so a busy spell hits all alike."""
    return [
        loading.pass_of("(a) local disk, plain Dataset", LocalFiles(readers.samples), shuffle=True),
        *embedded_passes(readers.embedded, loading, epoch),
        *s3_passes(readers.on_s3, loading, epoch, readers.scratch / f"cache-{epoch}"),
        litdata_pass(readers.litdata, loading),
    ]


def print_rounds(rounds: Sequence[Sequence[Pass]]) -> None:
    """Per reader, the median over the rounds, the range of its rate, and its ratio to (a)."""
    by_reader = list(zip(*rounds))
    limit = statistics.median(p.per_second for p in by_reader[0])
    print(
        f"  {'reader (median of ' + str(len(rounds)) + ' rounds)':<46} {'first batch':>11} {'samples/s':>10} "
        f"{'(min-max)':>12} {'vs (a)':>7}"
    )
    for passes in by_reader:
        rates = [p.per_second for p in passes]
        rate = statistics.median(rates)
        spread = f"({min(rates):,.0f}-{max(rates):,.0f})"
        print(
            f"  {passes[0].label:<46} {statistics.median(p.first_batch_s for p in passes):>9.2f} s "
            f"{rate:>10,.0f} {spread:>12} {rate / limit:>7.2f}"
        )
    warm = statistics.median(p.per_second for p in next(ps for ps in by_reader if ps[0].label == WARM_S3)) / limit
    print(
        f"  target: S3 warm cache >= {WARM_RATIO_TARGET:.2f} of local disk: {warm:.2f} "
        f"({'met' if warm >= WARM_RATIO_TARGET else 'MISSED'})"
    )


# -- time to the first batch of a big pinned directory ------------------------------------------------


def build_big_directory(client: annolog.Client, samples: Sequence[Sample], files: int) -> None:
    """Project "big", directory "big", tagged ``TAG``: ``files`` files reusing the samples' blobs
    (content addressing lets files share bytes), the first ``len(samples)`` with their boxes."""
    project = client.create_project("big", labels=list(CLASSES))
    directory_id = project.directory.new("big").id
    hashes = upload(project, samples)  # already stored: probed and recorded for this project
    for chunk in chunks(range(files), BIG_FILES_PER_COMMIT):
        project.execute(
            [
                c
                for i in chunk
                for c in _file_commands(
                    directory_id,
                    samples[i % len(samples)],
                    hashes[i % len(samples)],
                    name=f"{i:07d}.jpg",
                    boxes=i < len(samples),
                )
            ]
        )
    project.tag(TAG)


def _median_s(run: Callable[[], object], repeats: int) -> float:
    return statistics.median(timed(run)[1] for _ in range(repeats))


def _first_batch(loader: DataLoader[Any]) -> Iterator[Any]:
    """The loader's iterator after its first batch; kept alive so its workers stop after the timing."""
    batches = iter(loader)
    next(batches)
    return batches


def first_batch_s(client: annolog.Client, loading: Loading, *, streaming: bool, cache_dir: Path | None = None) -> float:
    """Open the pinned directory, make the PyTorch dataset and get its first batch, from scratch."""
    started = time.perf_counter()
    directory = client.project("big").directory.get("big", version=TAG)
    dataset = directory.to_pytorch(
        streaming=streaming, shuffle=False, batch_size=loading.batch_size, cache_dir=cache_dir, dtype=torch.uint8
    )
    batches = _first_batch(loading.loader(dataset))
    seconds = time.perf_counter() - started
    del batches
    return seconds


class _Trivial(Dataset[torch.Tensor]):
    """Costs nothing per item: what is left of a first batch is the DataLoader starting its workers."""

    def __len__(self) -> int:
        return 1_000_000

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.zeros(1)


def _stages(
    client: annolog.Client, s3_client: annolog.Client, loading: Loading, cache_dir: Path
) -> dict[str, Callable[[], object]]:
    """Each step of a first batch on its own, in the order a first batch takes them."""
    project = client.project("big")
    directory = project.directory.get("big", version=TAG)
    reader = directory.pinned_reader()
    s3_reader = s3_client.project("big").directory.get("big", version=TAG).pinned_reader(cache_dir=cache_dir)
    page = list(range(loading.batch_size))
    worker = copy.copy(reader)  # what a forked worker starts with: nothing opened yet
    entries = worker.entries(page)
    blobs = worker.fetch(entries)
    copy.copy(s3_reader).fetch(entries)  # fills the cache
    return {
        "open the pinned directory": lambda: project.directory.get("big", version=TAG),
        "manifest id listing (the backend's file_keys)": lambda: project.backend.file_keys(directory.scope),
        "class list": lambda: directory.classes,
        "pickle the reader (spawn, forkserver; not fork)": lambda: pickle.dumps(reader),
        "worker: open the database, first page": lambda: copy.copy(reader).entries(page),
        "worker: blobs of the first page, local": lambda: worker.fetch(entries),
        "worker: open S3 + cache, blobs, warm cache": lambda: copy.copy(s3_reader).fetch(entries),
        "worker: decode + targets of the first page": lambda: [
            to_item(e, b, torch.uint8) for e, b in zip(entries, blobs)
        ],
        f"DataLoader start, {loading.workers} workers, no work": lambda: _first_batch(loading.loader(_Trivial())),
    }


def bench_first_batch(
    client: annolog.Client, s3_client: annolog.Client, loading: Loading, repeats: int, files: int, scratch: Path
) -> None:
    def cold() -> float:
        return first_batch_s(s3_client, loading, streaming=True, cache_dir=scratch / f"cold-{uuid4().hex[:8]}")

    runs: dict[str, Callable[[], float]] = {
        "streaming, no shuffle": lambda: first_batch_s(client, loading, streaming=True),
        "map-style": lambda: first_batch_s(client, loading, streaming=False),
        "streaming, S3 blobs, cold cache": cold,
        "streaming, S3 blobs, warm cache": lambda: first_batch_s(
            s3_client, loading, streaming=True, cache_dir=scratch / "warm"
        ),
    }
    first_batch_s(s3_client, loading, streaming=True, cache_dir=scratch / "warm")  # warms it
    print(
        f"Time to first batch, {files:,}-file pinned directory, from opening it "
        f"(median of {repeats}; target < {FIRST_BATCH_TARGET_S:.1f} s):"
    )
    for label, run in runs.items():
        seconds = [run() for _ in range(repeats)]
        median = statistics.median(seconds)
        print(
            f"  {label:<46} {median:>6.2f} s  {'met   ' if median < FIRST_BATCH_TARGET_S else 'MISSED'}"
            f"  ({', '.join(f'{s:.2f}' for s in seconds)})"
        )
    print("  where it goes (each step alone, median):")
    for stage, step in _stages(client, s3_client, loading, scratch / "stages").items():
        print(f"    {stage:<50} {_median_s(step, repeats) * 1000:>7.1f} ms")


# -- the run ---------------------------------------------------------------------------------------


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--size", type=_size, default=(320, 240), help="WIDTHxHEIGHT of the generated JPEGs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--big-files", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2, help="passes of every reader, interleaved")
    parser.add_argument("--repeats", type=int, default=3, help="first batches of the big directory")
    s3_arguments(parser)
    args = parser.parse_args()
    least = (2 * args.workers + 2) * args.batch_size
    if args.files < least:
        parser.error(
            f"--files {args.files} is too few: a pass needs batches beyond the 2 x --workers warm-up "
            f"ones; with --batch-size {args.batch_size}, at least {least}"
        )
    return args


def main() -> None:
    args = _arguments()
    loading = Loading(args.workers, args.batch_size)
    # As in a DataLoader worker; this process decodes only in the first-batch stages, and torch's
    # intra-op threads make its C×H×W copy stall for milliseconds on a busy machine.
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="annolog-bench-stream-") as tmp, fresh_bucket(args.s3_endpoint) as bucket:
        scratch = Path(tmp)
        (scratch / "images").mkdir()
        samples, seconds = timed(lambda: generate(scratch / "images", args.files, *args.size))
        size = sum(s.path.stat().st_size for s in samples) / len(samples)
        print(
            f"{args.files} JPEGs of {args.size[0]}x{args.size[1]}, {size / 1024:.1f} KiB each, made in "
            f"{seconds:.1f} s; DataLoader num_workers={args.workers}, batch_size={args.batch_size}, "
            f"{os.cpu_count()} CPUs"
        )
        s3_settings = dict(blob_url=f"s3://{bucket}", s3_endpoint_url=args.s3_endpoint)
        with (
            annolog.Client(scratch / "embedded", actor="bench") as client,
            annolog.Client(
                build_service(load_settings(data_dir=scratch / "s3", **s3_settings)), actor="bench"
            ) as s3_client,
        ):
            readers = prepare(client, s3_client, samples, scratch)
            print_rounds([one_round(readers, loading, epoch) for epoch in range(args.rounds)])
            _, seconds = timed(lambda: build_big_directory(client, samples, args.big_files))
            print(
                f"Built the {args.big_files:,}-file directory in {seconds:.0f} s "
                f"({BIG_FILES_PER_COMMIT:,} AddFile per commit)"
            )
            # The same views with the blobs read from S3: the server stack's first batch.
            with annolog.Client(
                build_service(load_settings(data_dir=scratch / "embedded", **s3_settings)), actor="bench"
            ) as big_on_s3:
                bench_first_batch(client, big_on_s3, loading, args.repeats, args.big_files, scratch)


if __name__ == "__main__":
    main()
