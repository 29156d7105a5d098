"""HTTP API overhead: requests/s and p50/p99 latency through `annolog serve` against the same calls in process.

    python -m bench.api [--files 200] [--per-file 10] [--clients 1 8 32] [--seconds 5] [--workers 1]

On Kafka + PostgreSQL + S3, with `annolog projector` and `annolog serve` (uvicorn) each in
a process of its own, two operations are timed at each number of concurrent clients (a
thread each, with its own connection):

- read: one file with its instances, ``GET /projects/{p}/files/{id}?version=&directory=``
  against ``Session.files`` in this process;
- add-instance: one ``AddInstance`` per commit, ``POST /projects/{p}/commits`` against
  ``Session.execute`` in this process; both wait until the same projector has judged it.

Both sides end with the same validated ``FileView`` or ``Outcome``, so the ratio HTTP /
in-process is what the HTTP hop and the API process cost. The data is a directory of
small JPEGs (Pillow) with boxes, imported with ``annolog.ingest.import_coco``. The Kafka
topic, PostgreSQL schema and S3 bucket are new for the run and removed at its end.
"""

import argparse
import random
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from uuid import UUID, uuid4

import httpx

import annolog
from annolog.api.bootstrap import build_service
from annolog.api.service import Service
from annolog.api.session import Session
from annolog.api.settings import Settings
from annolog.api.tokens import Tokens
from annolog.api.wire import CommandEnvelope, CommitRequest
from annolog.core.commands import AddInstance
from annolog.ingest import import_coco
from annolog.projections.readmodels import FileView, Outcome, Scope
from bench.common import Scratch, annolog_process, run_in_scratch, server_settings, service_arguments, timed
from tests.cocofiles import CATEGORIES, synthetic_coco

T = TypeVar("T")

ACTOR = "bench"
READY_TIMEOUT_S = 60.0

Call = Callable[[int], object]
"""One request of one client; its argument is the client's request number."""


# -- the processes ------------------------------------------------------------------------------


def _free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tail(output: Path, lines: int = 30) -> str:
    return "\n".join(output.read_text(errors="replace").splitlines()[-lines:])


def _await_ready(url: str, process: subprocess.Popen[bytes], output: Path) -> None:
    """Return once GET /ready answers 200; fail with the server's output if it dies or never does."""
    deadline, answer = time.monotonic() + READY_TIMEOUT_S, "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"`annolog serve` exited with {process.returncode}:\n{_tail(output)}")
        try:
            response = httpx.get(f"{url}/ready", timeout=5.0)
        except httpx.TransportError as exc:
            answer = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code == 200:
                return
            answer = f"{response.status_code}: {response.text[:300]}"
        time.sleep(0.2)
    raise RuntimeError(f"`annolog serve` at {url} was not ready after {READY_TIMEOUT_S:g} s ({answer})")


@contextmanager
def serving(settings: Settings, workers: int, logs: Path) -> Iterator[str]:
    """`annolog serve` on a free port, ready; its base URL."""
    port, output = _free_port(), logs / "serve.log"
    command = ["serve", "--port", str(port), "--workers", str(workers)]
    with annolog_process(command, settings, output, stop_timeout_s=30) as process:
        url = f"http://127.0.0.1:{port}"
        _await_ready(url, process, output)
        yield url


# -- the data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """The imported directory, at the version every read asks for."""

    scope: Scope
    file_ids: list[UUID]


def prepare(service: Service, root: Path, files: int, per_file: int) -> Dataset:
    """A project with one directory of ``files`` JPEGs, ``per_file`` boxes each, owned by ``ACTOR``."""
    annotations, images = synthetic_coco(root, files, per_file, size=(160, 120))
    client = annolog.Client(service, actor=ACTOR)
    project = client.create_project(f"bench-{uuid4().hex[:8]}")
    summary = import_coco(project.directory.new("images"), annotations, images, batch_files=50)
    if summary.problems:
        raise RuntimeError(f"the benchmark's own data was refused: {summary.problems[0]}")
    directory = client.project(project.name).directory.get("images")
    scope = Scope(project=project.name, version=directory.version, directory_id=directory.directory_id)
    return Dataset(scope, Session(service, ACTOR).file_page(scope))


# -- the calls -----------------------------------------------------------------------------------


def _instance_on(file_id: UUID, rng: random.Random) -> AddInstance:
    x, y = rng.uniform(0, 120), rng.uniform(0, 80)
    return AddInstance(
        file_id=file_id,
        label=rng.choice(CATEGORIES)["name"],
        kind="box",
        points=((x, y), (x + rng.uniform(2, 40), y + rng.uniform(2, 40))),
    )


def ok(response: httpx.Response) -> bytes:
    """The body of a 2xx response; anything else fails with the status and the problem it carries."""
    if not response.is_success:
        request = response.request
        raise RuntimeError(f"{response.status_code} from {request.method} {request.url.path}: {response.text[:300]}")
    return response.content


class InProcess:
    """The calls made on a ``Session`` of a service in this process: the peer."""

    def __init__(self, session: Session, data: Dataset) -> None:
        self.session, self.data = session, data

    def read(self, client: int) -> Call:
        ids = self.data.file_ids
        return lambda i: self.session.files(self.data.scope, [ids[(client * 37 + i) % len(ids)]])[0]

    def add(self, client: int) -> Call:
        ids, rng = self.data.file_ids, random.Random(client)
        project = self.data.scope.project
        return lambda i: self.session.execute(project, [_instance_on(ids[(client * 37 + i) % len(ids)], rng)])


class OverHttp:
    """The same calls to `annolog serve`, each client with its own connection."""

    def __init__(self, url: str, token: str, data: Dataset, stack: ExitStack) -> None:
        self.url, self.token, self.data, self.stack = url, token, data, stack

    def _connection(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.stack.enter_context(httpx.Client(base_url=self.url, headers=headers, timeout=60.0))

    def read(self, client: int) -> Call:
        http, ids, scope = self._connection(), self.data.file_ids, self.data.scope
        params: dict[str, str | int] = {"version": scope.version, "directory": str(scope.directory_id)}

        def call(i: int) -> FileView:
            path = f"/projects/{scope.project}/files/{ids[(client * 37 + i) % len(ids)]}"
            return FileView.model_validate_json(ok(http.get(path, params=params)))

        return call

    def add(self, client: int) -> Call:
        http, ids, rng = self._connection(), self.data.file_ids, random.Random(client)
        path = f"/projects/{self.data.scope.project}/commits"

        def call(i: int) -> Outcome:
            command = _instance_on(ids[(client * 37 + i) % len(ids)], rng)
            body = CommitRequest(commands=[CommandEnvelope.of(command)]).model_dump(mode="json")
            return Outcome.model_validate_json(ok(http.post(path, json=body)))

        return call


def check_same_reads(local: InProcess, remote: OverHttp) -> None:
    """Both sides must return the very same file, or the ratio compares different work."""
    ours, theirs = local.read(0)(0), remote.read(0)(0)
    if ours != theirs:
        raise RuntimeError(f"GET /files/{{id}} differs from Session.files:\n  http: {theirs}\n  here: {ours}")


# -- measuring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """What the clients of one run did: seconds of each successful request, every error, and
    how many requests each client got done (a starved client shows there, not in the rate)."""

    seconds: float
    latencies: list[float]
    errors: list[str]
    per_client: list[int]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]


@dataclass
class _Client:
    """One client's requests: when it began and ended, each success's seconds, each failure."""

    started: float
    finished: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _drive(call: Call, start: threading.Barrier, seconds: float) -> _Client:
    """One client: one request to warm it (connection, pools), then requests back to back for ``seconds``."""
    call(-1)
    start.wait()
    client = _Client(started=time.perf_counter())
    stop, i = client.started + seconds, 0
    while time.perf_counter() < stop:
        began = time.perf_counter()
        try:
            call(i)
        except Exception as exc:  # noqa: BLE001 - counted and shown: a benchmark must not hide failures
            client.errors.append(f"{type(exc).__name__}: {exc}")
        else:
            client.latencies.append(time.perf_counter() - began)
        i += 1
    client.finished = time.perf_counter()
    return client


def measure(make: Callable[[int], Call], clients: int, seconds: float) -> Run:
    """``clients`` threads, each with the call ``make(client)`` gives it, started together."""
    calls = [make(client) for client in range(clients)]
    start = threading.Barrier(clients)
    with ThreadPoolExecutor(max_workers=clients) as pool:
        done = list(pool.map(lambda call: _drive(call, start, seconds), calls))
    elapsed = max(c.finished for c in done) - min(c.started for c in done)
    return Run(
        elapsed,
        [t for c in done for t in c.latencies],
        [e for c in done for e in c.errors],
        [len(c.latencies) for c in done],
    )


# -- the run -------------------------------------------------------------------------------------

HEADER = (
    f"  {'operation':<13} {'clients':>7} | {'HTTP req/s':>10} {'p50 ms':>8} {'p99 ms':>8} | "
    f"{'in-proc req/s':>13} {'p50 ms':>8} {'p99 ms':>8} | {'HTTP/in-proc':>12} {'errors':>6}"
)


def _row(operation: str, clients: int, http: Run, local: Run) -> str:
    def ms(run: Run, p: int) -> str:
        return f"{run.percentile(p) * 1e3:>8.1f}"

    errors = len(http.errors) + len(local.errors)
    return (
        f"  {operation:<13} {clients:>7} | {http.rate:>10,.1f} {ms(http, 50)} {ms(http, 99)} | "
        f"{local.rate:>13,.1f} {ms(local, 50)} {ms(local, 99)} | {http.rate / local.rate:>12.2f} {errors:>6}"
    )


def _report_trouble(label: str, run: Run) -> None:
    """Failures, and clients served far less than the others, under the row they distort."""
    if run.errors:
        print(f"    {label}: {len(run.errors)} failed, e.g. {run.errors[0]}")
    busiest = max(run.per_client)
    starved = [n for n in run.per_client if n < busiest / 4]
    if starved:
        print(
            f"    {label}: {len(starved)} of {len(run.per_client)} clients got under a quarter of the busiest "
            f"one's {busiest} requests done (fewest {min(starved)}); the slowest request took "
            f"{max(run.latencies, default=float('nan')) * 1e3:,.0f} ms"
        )


def bench(local: InProcess, remote: OverHttp, clients: Sequence[int], seconds: float) -> None:
    print(HEADER)
    operations = {"read": (remote.read, local.read), "add-instance": (remote.add, local.add)}
    for operation, (over_http, in_process) in operations.items():
        for count in clients:
            http, here = measure(over_http, count, seconds), measure(in_process, count, seconds)
            print(_row(operation, count, http, here), flush=True)
            _report_trouble("HTTP", http)
            _report_trouble("in process", here)


def run(args: argparse.Namespace, scratch: Scratch, root: Path) -> None:
    with ExitStack() as stack:
        settings = stack.enter_context(server_settings(scratch, args.s3_endpoint, root / "data"))
        service = build_service(settings, project_in_process=False)
        stack.callback(service.close)
        stack.enter_context(annolog_process(["projector"], settings, root / "projector.log", stop_timeout_s=30))
        data, preparing = timed(lambda: prepare(service, root / "coco", args.files, args.per_file))
        url = stack.enter_context(serving(settings, args.workers, root))
        token = Tokens(service.engine).create(ACTOR, created_by="bench/api.py")
        local, remote = InProcess(Session(service, ACTOR), data), OverHttp(url, token, data, stack)
        check_same_reads(local, remote)
        print(
            f"{len(data.file_ids)} files x {args.per_file} boxes imported in {preparing:.1f} s; reads at "
            f"v{data.scope.version}. `annolog serve --workers {args.workers}` at {url}, `annolog projector` "
            f"beside it; {args.seconds:g} s per run, one thread per client"
        )
        bench(local, remote, args.clients, args.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    service_arguments(parser, s3=True)
    parser.add_argument("--files", type=int, default=200, help="JPEGs in the directory")
    parser.add_argument("--per-file", type=int, default=10, help="boxes per file")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32], help="concurrent clients per run")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each run")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of `annolog serve`")
    args = parser.parse_args()
    run_in_scratch(args, "annolog-bench-api-", run)


if __name__ == "__main__":
    main()
