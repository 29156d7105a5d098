"""The Avro codec: exact round trips, frozen records of every schema version, evolution."""

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from annolog.core import Commit, FileMetadataChanged, LabelDefined, UndecodableRecord, uuid7
from annolog.core.events import ArrayChunksWritten, ChunkWrite
from annolog.core.rules import EVENTS
from annolog.eventlog.codec import CommitCodec
from tests.factories import file_commit

SAMPLES = Path(__file__).parent.parent / "data" / "commits"
SCHEMAS = Path(__file__).parent.parent.parent / "eventlog" / "schemas"


def _schemas() -> list[dict[str, Any]]:
    """Every released schema, oldest first."""
    files = sorted(SCHEMAS.glob("commit-v*.avsc"), key=lambda f: int(f.stem.removeprefix("commit-v")))
    return [json.loads(f.read_text()) for f in files]


def _with_new_event_type(schema: dict[str, Any]) -> dict[str, Any]:
    """A plausible next version: one more event type in the union, nothing else changed."""
    evolved = copy.deepcopy(schema)
    events = next(f for f in evolved["fields"] if f["name"] == "events")
    events["type"]["items"].append(
        {
            "type": "record",
            "name": "LabelRecoloured",
            "fields": [{"name": "name", "type": "string"}, {"name": "colour", "type": "string"}],
        }
    )
    return evolved


def _samples() -> list[Path]:
    return sorted(SAMPLES.glob("v*/*.avro"))


def test_there_are_frozen_samples_of_every_event_type() -> None:
    types = {path.stem.split("-", 1)[1] for path in _samples()}
    assert types == set(EVENTS)


@pytest.mark.parametrize("sample", _samples(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_frozen_record_still_decodes_to_the_commit_it_was_written_from(sample: Path) -> None:
    expected = Commit.model_validate(json.loads(sample.with_suffix(".json").read_text()))
    assert CommitCodec.default().decode(sample.read_bytes()) == expected


@pytest.mark.parametrize("sample", sorted(SAMPLES.glob(f"v{len(_schemas())}/*.avro")), ids=lambda p: p.stem)
def test_the_newest_schema_writes_every_frozen_sample_of_its_version_byte_for_byte(sample: Path) -> None:
    commit = Commit.model_validate(json.loads(sample.with_suffix(".json").read_text()))
    assert CommitCodec.default().encode(commit) == sample.read_bytes()


@pytest.mark.parametrize("sample", _samples(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_commit_of_every_frozen_sample_round_trips_through_the_newest_schema(sample: Path) -> None:
    commit = Commit.model_validate(json.loads(sample.with_suffix(".json").read_text()))
    codec = CommitCodec.default()
    assert codec.decode(codec.encode(commit)) == commit


def _items_of_arrays(schema: Any) -> Iterator[Any]:
    """The item type of every array anywhere in ``schema``."""
    if isinstance(schema, list):
        for branch in schema:
            yield from _items_of_arrays(branch)
    elif isinstance(schema, dict):
        if schema.get("type") == "array":
            yield schema["items"]
        for key in ("type", "items", "values", "fields"):
            yield from _items_of_arrays(schema.get(key))


def test_no_array_but_the_events_holds_a_union_so_tuples_need_listing_only_in_fields() -> None:
    # The codec writes events in fastavro's (branch, value) tuple notation and turns the
    # tuples of fields (not of array items) into lists: an array of unions would break that.
    events = next(f for f in _schemas()[-1]["fields"] if f["name"] == "events")
    unions = [items for items in _items_of_arrays(_schemas()[-1]) if isinstance(items, list)]
    assert unions == [events["type"]["items"]]


def test_a_commit_with_many_event_kinds_round_trips_exactly() -> None:
    codec = CommitCodec.default()
    commit = file_commit(uuid7(), instances=25)
    assert codec.decode(codec.encode(commit)) == commit


NAME_CHARS = st.characters(exclude_categories=("Cc", "Cs"))
"""What core accepts in names: printable text (core/text.py)."""
JSON_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20)
"""What core accepts in JSON strings: anything but NUL and lone surrogates."""


@given(
    name=st.text(NAME_CHARS, min_size=1, max_size=100),
    metadata=st.dictionaries(
        JSON_TEXT,
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers(-(2**53), 2**53)
            | JSON_TEXT
            | st.floats(allow_nan=False, allow_infinity=False),
            lambda children: st.lists(children, max_size=3) | st.dictionaries(JSON_TEXT, children, max_size=3),
            max_leaves=10,
        ),
        max_size=5,
    ),
)
def test_any_name_and_json_metadata_survive_the_round_trip(name: str, metadata: dict[str, Any]) -> None:
    codec = CommitCodec.default()
    commit = Commit(
        project_id=uuid7(),
        actor=name,
        command="ChangeFileMetadata",
        events=(LabelDefined(name=name), FileMetadataChanged(file_id=uuid7(), metadata=metadata)),
    )
    assert codec.decode(codec.encode(commit)) == commit


def test_records_of_an_older_schema_decode_after_the_schema_evolves() -> None:
    released = _schemas()
    commit = file_commit(uuid7(), instances=3)
    written_by_old = CommitCodec(released).encode(commit)

    evolved = CommitCodec([*released, _with_new_event_type(released[-1])])
    assert evolved.fingerprint != CommitCodec(released).fingerprint
    assert evolved.decode(written_by_old) == commit
    for sample in _samples():
        evolved.decode(sample.read_bytes())


def test_a_record_from_a_newer_schema_is_refused_with_its_fingerprint() -> None:
    released = _schemas()
    newer = CommitCodec([*released, _with_new_event_type(released[-1])])
    record = newer.encode(file_commit(uuid7()))
    with pytest.raises(UndecodableRecord, match=f"fingerprint {newer.fingerprint.hex()}.*newer annolog"):
        CommitCodec(released).decode(record)


def test_bytes_that_are_not_a_single_object_record_are_refused() -> None:
    with pytest.raises(UndecodableRecord, match="starts with 7b22, expected c301"):
        CommitCodec.default().decode(b'{"commit": 1}')


def test_a_truncated_record_is_refused() -> None:
    codec = CommitCodec.default()
    record = codec.encode(file_commit(uuid7()))
    with pytest.raises(UndecodableRecord, match="does not decode as a commit"):
        codec.decode(record[:-5])


@given(body=st.binary(max_size=400))
def test_any_bytes_after_a_known_header_decode_to_a_commit_or_are_refused_as_undecodable(body: bytes) -> None:
    codec = CommitCodec.default()
    try:
        codec.decode(b"\xc3\x01" + codec.fingerprint + body)
    except UndecodableRecord:
        pass  # anything else escaping would crash-loop the projector on one hostile record


@given(st.data())
def test_a_record_with_any_byte_changed_decodes_to_a_commit_or_is_refused_as_undecodable(data: st.DataObject) -> None:
    codec = CommitCodec.default()
    record = bytearray(codec.encode(file_commit(uuid7(), instances=2)))
    record[data.draw(st.integers(10, len(record) - 1))] = data.draw(st.integers(0, 255))
    try:
        codec.decode(bytes(record))
    except UndecodableRecord:
        pass


def test_a_two_dimensional_array_shape_is_not_taken_for_an_avro_union_branch() -> None:
    # fastavro reads a 2-tuple given for a union as (branch, value): (3, 10) must stay a shape.
    written = ChunkWrite(chunk="0.0", sha256=None, size=0, expected_revision=None)
    event = ArrayChunksWritten(array="m", chunks=[written], region=[(0, 3), (0, 10)], expected_shape=(3, 10))
    commit = Commit(project_id=uuid7(), actor="ana", command="WriteArrayChunks", events=(event,))
    codec = CommitCodec.default()

    assert codec.decode(codec.encode(commit)) == commit
