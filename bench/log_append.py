"""Append throughput of KafkaLog against raw kafka-python sending the same bytes, in one run.

    python -m bench.log_append [--bootstrap 127.0.0.1:59092] [--commits 2000] [--instances 10]

Prints commits/s and MB/s for (a) one acknowledged append at a time and (b) pipelined
batches, each as a ratio to a bare KafkaProducer with the same durability settings
(acks=all, idempotent) sending the already-encoded records; then the Avro codec's encode
and decode rates, as a ratio to fastavro alone on the same record. `make bench` runs it.
"""

import argparse
import io
import os
import time
from collections.abc import Callable
from uuid import uuid4

import fastavro
from kafka import KafkaAdminClient, KafkaProducer

from annolog.eventlog.codec import CommitCodec
from annolog.eventlog.kafka import KafkaLog
from tests.factories import file_commit


def _rate(label: str, count: int, nbytes: int, run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    per_second = count / seconds
    print(f"  {label:<44} {per_second:>10,.0f} commits/s  {nbytes / seconds / 1e6:>8.1f} MB/s")
    return per_second


def _raw_producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0, max_request_size=17 * 1024 * 1024
    )


def bench_kafka(bootstrap: str, commits: int, instances: int) -> None:
    topic = f"annolog-bench-{uuid4().hex[:8]}"
    log = KafkaLog(bootstrap, topic=topic, partitions=1)
    batch = [file_commit(uuid4(), instances=instances) for _ in range(commits)]
    payloads = [CommitCodec.default().encode(c) for c in batch]
    nbytes = sum(map(len, payloads))
    raw = _raw_producer(bootstrap)
    print(f"Kafka at {bootstrap}: {commits} commits of {instances} instances, {nbytes / commits:,.0f} bytes each")
    try:
        # Warm both clients (connections, topic metadata) so neither run pays for it.
        log.append_many(batch[:20])
        [raw.send(topic, value=p, partition=0).get(10) for p in payloads[:20]]
        n = commits // 4  # one-at-a-time runs are round-trip bound; a quarter is plenty
        ours = _rate("KafkaLog.append, one at a time", n, nbytes // 4, lambda: [log.append(c) for c in batch[:n]])
        theirs = _rate(
            "raw send().get(), one at a time",
            n,
            nbytes // 4,
            lambda: [
                raw.send(topic, key=c.project_id.bytes, value=p, partition=0).get(10)
                for c, p in zip(batch[:n], payloads[:n])
            ],
        )
        print(f"  ratio KafkaLog / raw (sequential): {ours / theirs:.2f}")
        ours = _rate("KafkaLog.append_many (encode included)", commits, nbytes, lambda: log.append_many(batch))
        theirs = _rate(
            "raw send() all + flush (pre-encoded)",
            commits,
            nbytes,
            lambda: (
                [raw.send(topic, key=c.project_id.bytes, value=p, partition=0) for c, p in zip(batch, payloads)],
                raw.flush(),
            ),
        )
        print(f"  ratio KafkaLog / raw (pipelined):  {ours / theirs:.2f}")
    finally:
        raw.close()
        log.close()
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        admin.delete_topics([topic])
        admin.close()


def bench_codec(commits: int, instances: int) -> None:
    codec = CommitCodec.default()
    batch = [file_commit(uuid4(), instances=instances) for _ in range(commits)]
    payloads = [codec.encode(c) for c in batch]
    nbytes = sum(map(len, payloads))
    writer = codec.schema  # fastavro alone, on the same records, is the peer
    records = [fastavro.schemaless_reader(io.BytesIO(p[10:]), writer, None, return_record_name=True) for p in payloads]
    print(f"Avro codec: {commits} commits of {instances} instances")
    ours = _rate("CommitCodec.encode (pydantic -> Avro)", commits, nbytes, lambda: [codec.encode(c) for c in batch])
    theirs = _rate(
        "fastavro.schemaless_writer alone",
        commits,
        nbytes,
        lambda: [fastavro.schemaless_writer(io.BytesIO(), writer, r) for r in records],
    )
    print(f"  ratio encode / fastavro: {ours / theirs:.2f}")
    ours = _rate("CommitCodec.decode (Avro -> validated)", commits, nbytes, lambda: [codec.decode(p) for p in payloads])
    theirs = _rate(
        "fastavro.schemaless_reader alone",
        commits,
        nbytes,
        lambda: [fastavro.schemaless_reader(io.BytesIO(p[10:]), writer, None) for p in payloads],
    )
    print(f"  ratio decode / fastavro: {ours / theirs:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("ANNOLOG_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:59092"))
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--instances", type=int, default=10)
    args = parser.parse_args()
    bench_codec(args.commits, args.instances)
    bench_kafka(args.bootstrap, args.commits, args.instances)


if __name__ == "__main__":
    main()
