"""A private PostgreSQL cluster with durability on (fsync, synchronous_commit, full_page_writes), for one run.

The test server (scripts/postgres.sh) starts with ``-c fsync=off -c synchronous_commit=off
-c full_page_writes=off`` on its command line. Settings given there outrank
postgresql.auto.conf, so ``ALTER SYSTEM SET fsync = on; SELECT pg_reload_conf()`` leaves
them off (pg_settings shows their source as "command line"), and only a restart could
change them: a shared server the benches must not restart. So the durable figures come
from a cluster of the same PostgreSQL binaries with their default, durable settings,
made in a temp dir for the run and removed at its end; the figures and their COPY peer
are both measured there.
"""

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine

OWNER = "postgres"  # initdb and the server refuse to run as root; scripts/postgres.sh makes this user
START_TIMEOUT_S = 60


def _binaries() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError(
            "no PostgreSQL server binaries under /usr/lib/postgresql (scripts/postgres.sh installs them)"
        )
    return found[-1].parent


def _as_owner(command: Sequence[str]) -> list[str]:
    return ["runuser", "-u", OWNER, "--", *command] if os.geteuid() == 0 else list(command)


def _run(command: Sequence[str], log: Path) -> None:
    with log.open("ab") as sink:
        done = subprocess.run(_as_owner(command), stdout=sink, stderr=subprocess.STDOUT, cwd="/", check=False)
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{command[0]} exited with {done.returncode}:\n{tail}")


def _free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def durable_postgres() -> Iterator[Engine]:
    """An engine on a fresh, durable cluster (superuser ``postgres``, trust on 127.0.0.1), removed at the end."""
    binaries, port = _binaries(), _free_port()
    root = Path(tempfile.mkdtemp(prefix="annolog-bench-pg-"))
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, OWNER, OWNER)
    try:
        _run([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"], log)
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
            "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
        )
        start = [str(binaries / "pg_ctl"), "start", "-D", str(data), "-w", "-t", str(START_TIMEOUT_S), "-o", options]
        _run(start, log)  # no -l: the server inherits the log opened here, which its user may not open
        engine = create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres")
        try:
            yield engine
        finally:
            engine.dispose()
            _run([str(binaries / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"], log)
    finally:
        shutil.rmtree(root, ignore_errors=True)
