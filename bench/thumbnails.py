"""Warm thumbnails: requests/s of GET .../thumbnail against the same files' bytes from GET .../blob.

    python -m bench.thumbnails [--files 50] [--image 1920x1080] [--sizes 128 256 512] [--clients 1 8] [--seconds 5]

One `annolog serve` (uvicorn) and one `annolog projector` over Kafka + PostgreSQL, with the
blobs in the server's data directory: then both routes are answered by the API process
itself (on S3 the blob route is a redirect, and the peer would be the S3 server, not annolog).
Each file's thumbnails are made once (the cold pass, timed), then both routes are driven
by the same clients (a thread each, its own connection) for the same time: the ratio
thumbnail/blob is what a page of thumbnails gets over a page of the originals. Both go
through the same read check (``Session.files``); the thumbnail then costs one lookup in the
disk cache, the blob a read of the original off disk.
"""

import argparse
import io
import secrets
import statistics
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import httpx
from PIL import Image

import annolog
from annolog.api.bootstrap import build_service
from annolog.api.settings import Settings, load_settings
from annolog.api.tokens import Tokens
from bench.api import Call, Run, measure, ok, serving
from bench.common import Scratch, annolog_process, run_in_scratch, service_arguments, timed, url_of

ACTOR = "bench"


def settings_over(scratch: Scratch, data_dir: Path) -> Settings:
    """Kafka and PostgreSQL fresh for the run; blobs (and the thumbnail cache) under ``data_dir``."""
    return load_settings(
        data_dir=data_dir,
        log_url=f"kafka://{scratch.bootstrap}",
        kafka_topic=scratch.topic(),
        kafka_partitions=1,
        log_signing_keys=f"bench:{secrets.token_hex(16)}",
        database_url=url_of(scratch.database()),
    )


def photo(width: int, height: int, seed: int) -> bytes:
    """A JPEG with a photograph's detail (a Mandelbrot zoom, gradients, grain), not flat colour."""
    detail = Image.effect_mandelbrot((width, height), (-2.0 + seed * 0.01, -1.2, 1.0, 1.2), 60)
    across = Image.linear_gradient("L").resize((width, height)).rotate(seed % 360)
    image = Image.merge("RGB", (detail, across, Image.effect_noise((width, height), 40)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


@dataclass(frozen=True)
class Files:
    """The directory's files at the version both routes read, and a token that may read them."""

    project: str
    version: int
    directory: str
    ids: list[str]
    token: str
    original_bytes: float

    def path(self, client: int, i: int, route: str) -> str:
        return f"/projects/{self.project}/files/{self.ids[(client * 37 + i) % len(self.ids)]}/{route}"

    def params(self, **more: int) -> dict[str, str | int]:
        return {"version": self.version, "directory": self.directory, **more}


def prepare(settings: Settings, count: int, size: tuple[int, int]) -> Files:
    """A project with one directory of ``count`` photos, added through the SDK on the service."""
    service = build_service(settings, project_in_process=False)
    try:
        project = annolog.Client(service, actor=ACTOR).create_project(f"bench-thumbs-{uuid4().hex[:8]}")
        directory = project.directory.new("photos")
        data = [photo(*size, seed) for seed in range(count)]
        ids = [str(directory.add_file(jpeg, name=f"{seed}.jpg").id) for seed, jpeg in enumerate(data)]
        token = Tokens(service.engine).create(ACTOR, created_by="bench/thumbnails.py")
        mean = statistics.fmean(map(len, data))
        return Files(project.name, project.version, str(directory.id), ids, token, mean)
    finally:
        service.close()


MakeCall = Callable[[int], Call]


def route(url: str, files: Files, stack: ExitStack, name: str, **params: int) -> MakeCall:
    """Each client's call of ``name`` (thumbnail or blob) on its own connection."""

    def make(client: int) -> Call:
        headers = {"Authorization": f"Bearer {files.token}"}
        http = stack.enter_context(httpx.Client(base_url=url, headers=headers, timeout=60.0))
        return lambda i: ok(http.get(files.path(client, i, name), params=files.params(**params)))

    return make


def cold_pass(url: str, files: Files, sizes: Sequence[int]) -> tuple[float, dict[int, float]]:
    """Every thumbnail made once (seconds per thumbnail), and the mean bytes of each size."""
    made: dict[int, list[int]] = {size: [] for size in sizes}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {files.token}"}, timeout=60.0) as http:

        def make_all() -> None:
            for i in range(len(files.ids)):
                for size in sizes:
                    made[size].append(len(ok(http.get(files.path(0, i, "thumbnail"), params=files.params(size=size)))))

        _, seconds = timed(make_all)
    return seconds / (len(files.ids) * len(sizes)), {size: statistics.fmean(lengths) for size, lengths in made.items()}


def _cells(run: Run, mean_bytes: float) -> str:
    mb_s = run.rate * mean_bytes / 1e6
    return f"{run.rate:>9,.0f} {run.percentile(50) * 1e3:>7.1f} {mb_s:>7.1f}"


def bench(url: str, files: Files, args: argparse.Namespace, stack: ExitStack) -> None:
    per_thumbnail, sizes = cold_pass(url, files, args.sizes)
    print(f"  cold: {per_thumbnail * 1e3:.1f} ms a thumbnail (fetch, decode, resize, encode, store), through HTTP")
    print(
        f"  {'size':>4} {'clients':>7} | {'thumb/s':>9} {'p50 ms':>7} {'MB/s':>7} | {'blob/s':>9} {'p50 ms':>7} "
        f"{'MB/s':>7} | {'thumb/blob':>10} {'errors':>6}"
    )
    for size in args.sizes:
        for clients in args.clients:
            thumbs = measure(route(url, files, stack, "thumbnail", size=size), clients, args.seconds)
            raw = measure(route(url, files, stack, "blob"), clients, args.seconds)
            print(
                f"  {size:>4} {clients:>7} | {_cells(thumbs, sizes[size])} | {_cells(raw, files.original_bytes)} | "
                f"{thumbs.rate / raw.rate:>10.2f} {len(thumbs.errors) + len(raw.errors):>6}",
                flush=True,
            )
            for errors in (thumbs.errors, raw.errors):
                if errors:
                    print(f"    {len(errors)} failed, e.g. {errors[0]}")


def run(args: argparse.Namespace, scratch: Scratch, root: Path) -> None:
    with ExitStack() as stack:
        settings = settings_over(scratch, root / "data")
        stack.enter_context(annolog_process(["projector"], settings, root / "projector.log", stop_timeout_s=30))
        width, height = args.image
        files, preparing = timed(lambda: prepare(settings, args.files, (width, height)))
        url = stack.enter_context(serving(settings, args.workers, root))
        print(
            f"{len(files.ids)} JPEGs of {width}x{height} ({files.original_bytes / 1e3:,.0f} KB on average) added in "
            f"{preparing:.1f} s. `annolog serve --workers {args.workers}` at {url}, blobs and thumbnails on its "
            f"disk; {args.seconds:g} s per run, one thread per client"
        )
        bench(url, files, args, stack)


def _image_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    service_arguments(parser)
    parser.add_argument("--files", type=int, default=50, help="photos in the directory")
    parser.add_argument("--image", type=_image_size, default=(1920, 1080), help="WIDTHxHEIGHT of each photo")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256], help="thumbnail sizes to time")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8], help="concurrent clients per run")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each run")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of `annolog serve`")
    args = parser.parse_args()
    run_in_scratch(args, "annolog-bench-thumbnails-", run)


if __name__ == "__main__":
    main()
