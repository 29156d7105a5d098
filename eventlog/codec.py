"""Commits to bytes and back: Avro single-object encoding with every schema version kept.

Each record is ``C3 01`` + the writer schema's 8-byte CRC-64-AVRO fingerprint + the Avro
body (the Avro specification's "single object encoding"). The fingerprint says which
``schemas/commit-v*.avsc`` wrote the record; decoding resolves it against the newest
schema, so a record written years ago by v1 still decodes after fields are added (with
defaults) in v2. Never edit a released schema: add the next version beside it.
"""

import io
import json
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from annolog.core.commit import Commit
from annolog.core.errors import UndecodableRecord
from annolog.core.events import Event

_MAGIC = b"\xc3\x01"
_HEADER_SIZE = len(_MAGIC) + 8
_NAMESPACE = "annolog."
_JSON_FIELDS = ("metadata", "attributes")  # free-form JSON, stored as text in Avro


def _fingerprint(schema: Any) -> bytes:
    # fastavro already returns the bytes in the order the single-object header uses.
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


def _event_to_avro(event: Event) -> tuple[str, dict[str, Any]]:
    """The event in fastavro's ``(branch, value)`` tuple notation for the events union.

    Naming the branch by a ``-type`` key instead makes fastavro validate the whole event
    against each branch before writing it: 4x the cost of the write (29 against 7 us per
    event). With tuple notation on, a tuple reaching any other union (an array's
    ``expected_shape``) would be read as a branch and a value, so tuples become lists.
    """
    fields = event.model_dump(exclude={"type"})
    for name, value in fields.items():
        if name in _JSON_FIELDS:
            fields[name] = json.dumps(value, separators=(",", ":"))
        elif name == "points":
            fields[name] = [{"x": x, "y": y} for x, y in value]
        else:
            fields[name] = _listed(value)
    return _NAMESPACE + event.type, fields


def _listed(value: Any) -> Any:
    """A field's tuples as lists, in it and in the records it holds (a mask's size, the fields of
    an array write's chunks). The items of an array that are not records are left alone: no
    array's items are a union (``test_codec`` holds the schema to that)."""
    if type(value) is tuple:
        return list(value)
    if type(value) is dict:
        return {key: _listed(item) for key, item in value.items()}
    if type(value) is list and value and type(value[0]) is dict:
        return [_listed(item) for item in value]
    return value


def _event_from_avro(branch: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    name, fields = branch
    for key in _JSON_FIELDS:
        if key in fields:
            fields[key] = json.loads(fields[key])
    if "points" in fields:
        fields["points"] = [(p["x"], p["y"]) for p in fields["points"]]
    return {"type": name.removeprefix(_NAMESPACE), **fields}


class CommitCodec:
    """Encodes with the newest schema; decodes records of any known schema version.

    >>> codec = CommitCodec.default()
    >>> from annolog.core import CreateProject, project_id_for
    >>> commit = CreateProject(name="cars").commit(project_id=project_id_for("cars"), actor="ana")
    >>> codec.decode(codec.encode(commit)) == commit
    True
    """

    def __init__(self, schemas: Sequence[dict[str, Any]]) -> None:
        if not schemas:
            raise ValueError("CommitCodec needs at least one schema")
        parsed = [fastavro.parse_schema(schema) for schema in schemas]
        self.schema = parsed[-1]
        """The newest schema: what ``encode`` writes and what every record is read as."""
        self.fingerprint = _fingerprint(self.schema)
        self._writers = {_fingerprint(schema): schema for schema in parsed}

    @classmethod
    def default(cls) -> "CommitCodec":
        """The codec over every ``eventlog/schemas/commit-v<N>.avsc``, newest last."""
        files = [f for f in resources.files("annolog.eventlog.schemas").iterdir() if f.name.endswith(".avsc")]
        files.sort(key=lambda f: int(re.findall(r"\d+", f.name)[0]))
        return cls([json.loads(f.read_text()) for f in files])

    def encode(self, commit: Commit) -> bytes:
        record = {
            **commit.model_dump(exclude={"events"}),
            "events": [_event_to_avro(event) for event in commit.events],
        }
        out = io.BytesIO()
        out.write(_MAGIC + self.fingerprint)
        fastavro.schemaless_writer(out, self.schema, record)
        return out.getvalue()

    def decode(self, data: bytes) -> Commit:
        """The commit in ``data``; ``UndecodableRecord`` says why when it cannot be read.

        Whatever the bytes are, nothing else is raised: the log is written by anyone who
        can reach the broker, and one hostile record must not take its reader down.
        """
        if data[: len(_MAGIC)] != _MAGIC or len(data) < _HEADER_SIZE:
            why = (
                f"it starts with {data[:2].hex() or 'nothing'}, expected c301"
                if data[: len(_MAGIC)] != _MAGIC
                else f"it is shorter than the {_HEADER_SIZE}-byte header"
            )
            raise UndecodableRecord(f"record of {len(data)} bytes is not an Avro single-object record ({why})")
        writer = self._writers.get(data[len(_MAGIC) : _HEADER_SIZE])
        if writer is None:
            raise UndecodableRecord(
                f"record was written with schema fingerprint {data[2:_HEADER_SIZE].hex()}, "
                f"which is none of the {len(self._writers)} known commit schemas "
                f"({', '.join(fp.hex() for fp in self._writers)}); "
                "was it written by a newer annolog?"
            )
        return _commit_of(self._read_body(data, writer))

    def _read_body(self, data: bytes, writer: Any) -> dict[str, Any]:
        try:
            record: dict[str, Any] = fastavro.schemaless_reader(  # type: ignore[assignment]
                io.BytesIO(data[_HEADER_SIZE:]),
                writer,
                None if writer is self.schema else self.schema,
                return_record_name=True,
                # The events union names its branch; a union of null and one record (an
                # instance's mask) gives the record itself.
                return_record_name_override=True,
            )
        # Broad on purpose: on hostile bytes fastavro raises EOFError, IndexError,
        # OverflowError, UnicodeDecodeError, MemoryError… depending on where it trips.
        except Exception as exc:
            raise UndecodableRecord(f"record body does not decode as a commit: {type(exc).__name__}: {exc}") from exc
        return record


def _commit_of(record: dict[str, Any]) -> Commit:
    """The commit an Avro record describes, checked by the same rules as one built in code."""
    try:
        record["events"] = [_event_from_avro(branch) for branch in record["events"]]
        return Commit(**record)
    # Broad on purpose: the Avro was valid but its contents are not (JSON text that does
    # not parse, a field the model refuses, names with NUL); all of it is "not a commit".
    except Exception as exc:
        raise UndecodableRecord(f"record decodes but is not a valid commit: {exc}") from exc
