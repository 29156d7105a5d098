"""Schemathesis against the live OpenAPI of a real `annolog serve` on Kafka + PostgreSQL + S3.

Every operation gets generated requests, NUL and any unicode allowed in strings, as a
server admin who owns a populated project; path, query and body values are often swapped
for that project's real names and ids, so requests get past 401 and 404 into the rules.
A 5xx, or a response its schema does not describe (status, media type, body), fails.

Why the real stack rather than the app in process over the embedded default: PostgreSQL
refuses what SQLite stores (NUL in text and in JSON), blobs come from S3 by redirect, and
commits wait on the projector through Kafka; a 5xx there is one users of the server would
meet. It costs a few seconds to start, and `running_stack` is shared with test_http.py's
way of starting it.
"""

import io
import time
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine

import annolog
from annolog.api.settings import Settings
from annolog.api.tokens import Tokens
from annolog.core.commands import CreateArray, WriteArrayChunks
from annolog.core.events import ChunkWrite

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]

EXAMPLES = 25
"""Generated requests per operation, half valid and half not: about 15 s for the whole API
(34 operations) on two cores, after a few seconds to start the stack."""
SECONDS_PER_REQUEST = 30.0
"""Any slower answer fails the run: a request the fuzzer made slow is a way to take a server down."""
STREAMS = ("/projects/{project}/changes",)
"""Server-Sent Events never end; test_http.py reads them, test_inputs.py sends them bad cursors."""
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), "red").save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def world(running_stack: tuple[Settings, str]) -> dict[str, Any]:
    """A server admin's project: a directory with a boxed file, a restricted one, a tag and a saved slice."""
    settings, url = running_stack
    token = Tokens(create_engine(settings.database_url or "")).create("fuzzer", created_by="test", admin=True)
    project = annolog.Client(url, token=token).create_project(f"fuzz-{time.monotonic_ns()}", labels=["car"])
    folder = project.directory.new("open")
    project.directory.new("secret", access_type="restricted")
    photo = folder.add_file(_jpeg(), name="a.jpg")
    box = photo.add_instance("car", box=(1, 1, 9, 9))
    project.tag("v1")
    project.save_slice("cars", "labels.car > 0", directory=folder)
    chunk = _array(project)
    real = {
        "project": project.name,
        "file_id": str(photo.id),
        "file": str(photo.id),
        "instance": str(box.id),
        "directory": str(folder.id),
        "directory_id": str(folder.id),
        "version": project.version,
        "ids": [str(photo.id)],
        "principal": "fuzzer",
        "actor": "fuzzer",
        "sha256": chunk,
        "chunks": ["0.0"],
    }
    return {"url": url, "token": token, "real": real}


def _array(project: annolog.Project) -> str:
    """An array 'mri' of ``project`` with one chunk written: that chunk's sha256."""
    backend = project.backend
    (sha256,) = backend.store_chunks(project.name, [b"chunk"])
    write = ChunkWrite(chunk="0.0", sha256=sha256, size=5, expected_revision=0)
    create = CreateArray(name="mri", shape=(4, 4), dtype="uint8", chunks=(2, 2))
    backend.execute(project.name, [create, WriteArrayChunks(array="mri", chunks=[write])])
    return sha256


def _swapping(real: Callable[[str, str], Any]) -> Callable[[schemathesis.HookContext, Any], Any]:
    """A ``before_generate_*`` hook: each generated value, the real one ``real(path, name)`` gives,
    or a generated string with a NUL in it, which hypothesis rarely draws and PostgreSQL never stores."""

    def hook(context: schemathesis.HookContext, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        path = context.operation.path if context.operation else ""

        def choose(generated: Any) -> st.SearchStrategy[Any]:
            if not isinstance(generated, dict):
                return st.just(generated)
            return st.fixed_dictionaries({key: _variants(value, real(path, key)) for key, value in generated.items()})

        return strategy.flatmap(choose)

    return hook


def _variants(generated: Any, real: Any) -> st.SearchStrategy[Any]:
    poisoned = [f"{generated[:1]}\x00{generated[1:]}"] if isinstance(generated, str) else []
    return st.sampled_from([generated, *([real] if real is not None else []), *poisoned])


@pytest.fixture(scope="module")
def api(world: dict[str, Any]) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{world['url']}/openapi.json")
    schema.config.generation.update(allow_x00=True, codec="utf-8", max_examples=EXAMPLES)
    schema.config.update(headers={"Authorization": f"Bearer {world['token']}"}, request_timeout=SECONDS_PER_REQUEST)
    real = world["real"]

    def in_path(path: str, name: str) -> Any:
        named = {"version": "v1", "name": "cars" if "/slices/" in path else "mri" if "/arrays/" in path else "open"}
        return named.get(name, real.get(name))

    schema.hook("before_generate_path_parameters")(_swapping(in_path))
    schema.hook("before_generate_query")(_swapping(lambda _, name: real.get(name)))
    schema.hook("before_generate_body")(_swapping(lambda _, name: real.get(name)))
    return schema.exclude(path=list(STREAMS))


def _fuzz(operation: schemathesis.APIOperation) -> None:
    """``EXAMPLES`` requests to ``operation``, valid and invalid ones, each checked by ``CHECKS``."""
    modes = [operation.as_strategy(generation_mode=mode) for mode in schemathesis.GenerationMode]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the report has the request to replay
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(modes))
    def requests(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS)

    requests()


def test_no_generated_request_gets_a_server_error_or_an_undocumented_answer(api: schemathesis.BaseSchema) -> None:
    failures = []
    for found in api.get_all_operations():
        operation = found.ok()
        try:
            _fuzz(operation)
        except (Exception, BaseExceptionGroup) as failure:  # fuzz every operation, then report every failure
            failures.append(f"{operation.label}: {failure}")
    assert not failures, "\n\n".join(failures)
