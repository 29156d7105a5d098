"""Arrays on S3: reads, writes, deep history and a one-element edit, against the limit and peers.

    python -m bench.arrays [--megabytes 256] [--versions 1000] [--s3-endpoint URL]

Needs the `arrays` extra, and an S3 API: the moto server of `scripts/services.sh`
(ANNOLOG_TEST_S3_ENDPOINT; any credentials do). annolog runs embedded (SQLite views) with
its blobs on that S3 server, so every chunk travels over HTTP as it would from AWS. In one
run, over the same data:

- create a 10^10 x 512 x 512 x 3 array: time, and objects and bytes stored;
- write ``--megabytes`` of float32 data (4 MiB chunks): MB/s of encoded bytes, against raw
  parallel PUTs of the very same encoded chunks (the limit here);
- cold read of a slice of 64 chunks or more: MB/s against raw parallel boto3 GETs of the same
  objects (target >= 0.8) and against zarr-python reading the same data that it wrote to the
  same S3 server through its own store (obstore; target >= 1.0), and the MB/s until the disk
  cache holds the chunks too (written behind the read); warm read (chunks in the reader's
  memory, decoded, and in the disk cache) against numpy reading the same decoded bytes from
  local disk (target >= 0.8), and a new reader's read from the disk cache alone;
- read version 1 after ``--versions`` later versions against a read of the latest
  (target <= 1.5): reads resolve the chunks they touch at one version, never a chain;
- a one-element edit: objects and bytes it adds (one chunk plus the log record), and the
  same edit in deeplake (PyPI) on local disk when it is installed.

moto serves S3 from this machine's own CPUs (2 here): every figure is a ratio to a peer
run on the same server in the same run. Temp dirs and the bucket are removed at the end.
"""

import argparse
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import numpy as np
import zarr

import annolog
from annolog.api.bootstrap import build_service
from annolog.api.settings import load_settings
from annolog.array import Arrays
from annolog.arraystore import ZSTD_LEVEL
from annolog.eventlog.log import EventLog
from bench.common import fresh_bucket, ratio_line, s3_arguments, timed

MB = 1024 * 1024
PARALLEL = 16  # the threads the raw GETs and PUTs use (annolog: 16 fetch threads, zarr asks 10 chunks at a time)
ROWS = 4  # rows of the first axis per chunk: 4 MiB of float32 at the default --side 512
PREFIX = "blobs/"


def bucket_usage(s3: Any, bucket: str, prefix: str = "") -> tuple[int, int]:
    """(objects, bytes) under ``prefix``."""
    objects = size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            objects, size = objects + 1, size + item["Size"]
    return objects, size


def chunks_of(data: Any) -> tuple[int, ...]:
    """The chunks of the data's arrays: ``ROWS`` whole slices."""
    return (ROWS, *data.shape[1:])


def best_of(repeats: int, run: Callable[[], Any]) -> float:
    """The fastest of ``repeats`` runs, in seconds (the least disturbed by the machine)."""
    return min(timed(run)[1] for _ in range(repeats))


def sample_data(megabytes: int, side: int) -> np.ndarray:
    """Smooth float32 volumes (they compress, as real scans do), ``megabytes`` in all."""
    depth = max(ROWS * 64, megabytes * MB // (side * side * 4) // ROWS * ROWS)  # 64 chunks or more
    ramp = np.linspace(0, 1, side, dtype=np.float32)
    noise = np.random.default_rng(0).integers(0, 8, size=(depth, side, side), dtype=np.uint8)
    return ramp[None, :, None] * ramp[None, None, :] + noise.astype(np.float32) / 8


# -- the parts -------------------------------------------------------------------------------------


def create_huge(project: annolog.Project, s3: Any, bucket: str) -> None:
    before = bucket_usage(s3, bucket)
    array, seconds = timed(
        lambda: project.array.new("huge", shape=(10**10, 512, 512, 3), dtype="uint8", chunks=(1, 512, 512, 3))
    )
    after = bucket_usage(s3, bucket)
    print(
        f"created {array.shape} {array.dtype} in {seconds * 1000:.1f} ms: "
        f"{after[0] - before[0]} objects, {after[1] - before[1]} bytes stored in S3 (the layout is one log record)"
    )


def write(project: annolog.Project, data: np.ndarray, s3: Any, bucket: str) -> tuple[annolog.Array, list[str]]:
    array = project.array.new("scans", shape=data.shape, dtype="float32", chunks=chunks_of(data))
    slab = ROWS * 16  # 16 chunks per commit

    def write_all() -> None:
        for start in range(0, data.shape[0], slab):
            array[start : start + slab] = data[start : start + slab]

    before = bucket_usage(s3, bucket)
    _, seconds = timed(write_all)
    objects, stored = (a - b for a, b in zip(bucket_usage(s3, bucket), before))
    keys = _chunk_keys(s3, bucket)
    encoded = [s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys]

    def put_all() -> None:
        with ThreadPoolExecutor(PARALLEL) as pool:
            list(pool.map(lambda kv: s3.put_object(Bucket=bucket, Key=f"raw/{kv[0]}", Body=kv[1]), zip(keys, encoded)))

    raw = best_of(1, put_all)
    print(
        f"wrote {data.nbytes / MB:.0f} MiB ({objects} chunks, {stored / MB:.1f} MiB encoded) in {seconds:.2f} s: "
        f"{stored / MB / seconds:.1f} MB/s encoded; raw parallel PUTs of the same chunks {stored / MB / raw:.1f} MB/s"
    )
    ratio_line("write, annolog / raw PUTs", raw, seconds)
    return array, keys


def _chunk_keys(s3: Any, bucket: str) -> list[str]:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def zarr_peer(data: np.ndarray, endpoint: str, bucket: str) -> Any:
    """The same data written by zarr-python through its own S3 store, same chunks and codecs."""
    from obstore.store import S3Store
    from zarr.storage import ObjectStore

    store = ObjectStore(
        S3Store(
            bucket,
            prefix="zarr-peer",
            endpoint=endpoint,
            access_key_id="test",
            secret_access_key="test",
            region="us-east-1",
            client_options={"allow_http": True},
        )
    )
    peer = zarr.create_array(
        store,
        shape=data.shape,
        chunks=chunks_of(data),
        dtype="float32",
        compressors=zarr.codecs.ZstdCodec(level=ZSTD_LEVEL),
        fill_value=0,
    )
    peer[:] = data
    return peer


def reads(project: annolog.Project, data: np.ndarray, s3: Any, bucket: str, peer: Any, scratch: Path) -> None:
    """Cold and warm reads of the whole array (64 chunks or more)."""
    count = data.shape[0]
    keys = _chunk_keys(s3, bucket)

    def raw_gets() -> None:
        with ThreadPoolExecutor(PARALLEL) as pool:
            list(pool.map(lambda key: s3.get_object(Bucket=bucket, Key=key)["Body"].read(), keys))

    def cold() -> tuple[float, float]:
        """A read with a fresh cache (every chunk comes from S3): seconds until the data is in
        hand, and until its chunks are in the disk cache too (written behind the read; waited
        for here, so that they do not slow the next measurement)."""
        arrays = Arrays(project, cache_dir=Path(tempfile.mkdtemp(dir=scratch)))
        (_, read), (_, written) = timed(lambda: arrays.get("scans")[0:count]), timed(arrays.flush)
        return read, read + written

    ours, cached = (min(times) for times in zip(*(cold() for _ in range(3))))
    raw, theirs = best_of(3, raw_gets), best_of(3, lambda: peer[0:count])
    size = data.nbytes / MB
    print(
        f"cold read of {size:.0f} MiB ({len(keys)} chunks): annolog {size / ours:.1f} MB/s "
        f"({size / cached:.1f} MB/s until the disk cache holds it), raw GETs of the same objects "
        f"{size / raw:.1f} MB/s, zarr-python over obstore {size / theirs:.1f} MB/s"
    )
    ratio_line("cold read, annolog / raw parallel GETs", raw, ours, 0.8)
    ratio_line("cold read, annolog / zarr-python", theirs, ours, 1.0)
    cache_dir = Path(tempfile.mkdtemp(dir=scratch))
    arrays = Arrays(project, cache_dir=cache_dir)
    array = arrays.get("scans")
    array[0:count]  # fills the caches: the disk's (encoded) and the reader's memory (decoded)
    arrays.flush()
    warm = best_of(3, lambda: array[0:count])
    # A new reader (another process, a DataLoader worker) has only the disk cache: it decodes again.
    from_disk = best_of(3, lambda: Arrays(project, cache_dir=cache_dir, memory_bytes=0).get("scans")[0:count])
    path = scratch / "scans.npy"
    np.save(path, data)
    local = best_of(3, lambda: np.load(path)[0:count])
    print(
        f"warm read: annolog {size / warm:.1f} MB/s ({size / from_disk:.1f} MB/s for a new reader, from the "
        f"disk cache alone), numpy from local disk {size / local:.1f} MB/s"
    )
    ratio_line("warm read, annolog / numpy from local disk", local, warm, 0.8)
    ratio_line("warm read by a new reader (disk cache alone) / numpy from local disk", local, from_disk)


def deep_history(project: annolog.Project, versions: int) -> None:
    """Version 1 of an array read after ``versions`` later versions, against its latest."""
    array = project.array.new("history", shape=(64, 256), dtype="int32", chunks=(8, 256))
    array[:] = np.arange(64 * 256, dtype=np.int32).reshape(64, 256)
    project.tag("history-v1")

    def edits() -> None:
        for i in range(versions):
            array[i % 64, 0] = i

    _, seconds = timed(edits)
    # Each read opens its array afresh: nothing looked up by an earlier read is remembered.
    old = best_of(20, lambda: project.array.get("history", version="history-v1")[0:64])
    new = best_of(20, lambda: project.array.get("history")[0:64])
    print(
        f"{versions} later versions written in {seconds:.1f} s; read of all 8 chunks at version 1 "
        f"{old * 1000:.1f} ms, at the latest {new * 1000:.1f} ms"
    )
    print(
        f"  ratio read at version 1 / read at latest: {old / new:.3f}   (target <= 1.5: "
        f"{'met' if old / new <= 1.5 else 'NOT met'})"
    )


def one_element_edit(project: annolog.Project, s3: Any, bucket: str, log: EventLog) -> None:
    array = project.array.get("scans")
    partition = log.partition_of(project.id)
    before, end = bucket_usage(s3, bucket, PREFIX), log.end(partition)
    array[1, 2, 3] = 42.0
    after = bucket_usage(s3, bucket, PREFIX)
    records = [r.payload for r in log.read(partition, end)]
    print(
        f"one-element edit: {after[0] - before[0]} new object(s), {(after[1] - before[1]) / 1024:.0f} KiB "
        f"(one {chunks_of(array)} float32 chunk, zstd) + {len(records)} log record of {sum(map(len, records))} bytes"
    )


def deeplake_edit(data: np.ndarray) -> None:
    """The same one-element edit and cold read in deeplake, on local disk, if it is installed."""
    try:
        import deeplake
    except ImportError:
        print("deeplake: not installed here (pip install deeplake); not measured")
        return
    with tempfile.TemporaryDirectory() as tmp:
        try:
            ds = deeplake.create(f"file://{tmp}/ds")
            ds.add_column("scans", deeplake.types.Array("float32", shape=list(data.shape[1:])))
            ds.append({"scans": data[:64]})
            ds.commit()
            before = _tree_bytes(Path(tmp))
            sample = np.array(ds["scans"][1])  # deeplake writes a sample whole: read it, change one element
            sample[2, 3] = 42.0
            ds["scans"][1] = sample
            ds.commit()
            edited = _tree_bytes(Path(tmp)) - before
            read = best_of(3, lambda: ds["scans"][0:64])
        except Exception as exc:  # a peer's failure is a line of the report, not the end of it
            print(f"deeplake: could not be measured here ({type(exc).__name__}: {exc})")
            return
    print(
        f"deeplake {getattr(deeplake, '__version__', '?')}: one-element edit wrote {edited / 1024:.0f} KiB; "
        f"local read of {(64, *data.shape[1:])} float32 in {read * 1000:.0f} ms"
    )


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=256, help="of float32 data written and read")
    parser.add_argument("--side", type=int, default=512, help="of each 2-D slice of the data")
    parser.add_argument("--versions", type=int, default=1000, help="later versions before version 1 is read")
    s3_arguments(parser)
    args = parser.parse_args()
    s3 = boto3.client("s3", endpoint_url=args.s3_endpoint)
    data = sample_data(args.megabytes, args.side)
    print(f"{os.cpu_count()} CPUs; data {data.shape} float32, {data.nbytes / MB:.0f} MiB, chunks {chunks_of(data)}")
    with tempfile.TemporaryDirectory(prefix="annolog-bench-arrays-") as tmp, fresh_bucket(args.s3_endpoint) as bucket:
        settings = {"blob_url": f"s3://{bucket}/{PREFIX.rstrip('/')}", "s3_endpoint_url": args.s3_endpoint}

        service = build_service(load_settings(data_dir=Path(tmp) / "data", **settings))
        with annolog.Client(service, actor="bench") as client:
            project = client.create_project("bench")
            create_huge(project, s3, bucket)
            write(project, data, s3, bucket)
            peer = zarr_peer(data, args.s3_endpoint, bucket)
            reads(project, data, s3, bucket, peer, Path(tmp))
            deep_history(project, args.versions)
            one_element_edit(project, s3, bucket, service.log)
        deeplake_edit(data)


if __name__ == "__main__":
    main()
