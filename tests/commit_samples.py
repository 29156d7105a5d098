"""Writes the frozen commit records of the newest schema: ``python -m tests.commit_samples v6``.

Run it when a schema version is new, and again when branches that each extended the
same unreleased version are merged (their records were written by schemas that no longer
exist): it re-encodes every record in ``tests/data/commits/<version>/`` from its ``.json``
with today's schema, then writes one record, ``NN-<EventType>.avro`` beside the commit it
must decode to (``.json``), of each event listed for the version in ``SAMPLES`` that has
none yet. Never run it for a released version: its records must stay as that version
wrote them (see that directory's README).
"""

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from annolog.core import Commit, project_id_for
from annolog.core.events import (
    Event,
    InstanceAdded,
    InstanceChanged,
    LabelAttributesDeclared,
    LabelMerged,
    LabelRenamed,
    LabelRetired,
)
from annolog.core.geometry import InstanceKind
from annolog.core.labels import AttributeSpecs
from annolog.core.mask import Mask
from annolog.eventlog.codec import CommitCodec

DATA = Path(__file__).parent / "data" / "commits"

SAMPLES: dict[str, list[Event]] = {
    "v6": [
        LabelRenamed(name="car", new_name="vehicle"),
        LabelMerged(name="auto", into="vehicle"),
        LabelRetired(name="truck"),
        LabelAttributesDeclared(
            name="vehicle",
            attributes=AttributeSpecs.validate_python(
                {
                    "occluded": "bool",
                    "score": {"type": "float", "min": 0, "max": 1},
                    "color": ["red", "blue"],
                    "wheels": {"type": "int", "min": 0},
                    "note": "str",
                }
            ),
        ),
    ],
    "v8": [
        InstanceAdded(
            instance_id=UUID(int=0x81),
            file_id=UUID(int=0x8),
            label="road",
            kind=InstanceKind.mask,
            mask=Mask(
                size=(3000, 4000),
                counts_sha256="a5" * 32,
                counts_size=70_001,
                area=5_000_000,
                bbox=(0, 1000, 4000, 2000),
            ),
        ),
        InstanceChanged(
            instance_id=UUID(int=0x81),
            expected_revision=1,
            label="road",
            kind=InstanceKind.mask,
            mask=Mask(
                size=(3000, 4000),
                counts_sha256="5a" * 32,
                counts_size=90_210,
                area=4_999_000,
                bbox=(0, 1001, 4000, 1999),
            ),
            attributes={"source": "model"},
        ),
    ],
}
"""The events each schema version's samples record, one commit each."""


def write_samples(version: str, *, out: Path = DATA) -> list[Path]:
    """Re-encode ``version``'s records and add the missing samples (commit ids ``version
    number * 1000 + 100 + n``); return every .avro path, in order."""
    folder = out / version
    folder.mkdir(parents=True, exist_ok=True)
    codec = CommitCodec.default()
    for existing in sorted(folder.glob("*.json")):
        commit = Commit.model_validate(json.loads(existing.read_text()))
        existing.with_suffix(".avro").write_bytes(codec.encode(commit))
    sampled = {path.stem.split("-", 1)[1] for path in folder.glob("*.avro")}
    for event in SAMPLES.get(version, []):
        if event.type not in sampled:
            _write(folder, codec, int(version.removeprefix("v")), event)
    return sorted(folder.glob("*.avro"))


def _write(folder: Path, codec: CommitCodec, number: int, event: Event) -> None:
    n = len(list(folder.glob("*.avro")))
    commit = Commit(
        commit_id=UUID(int=number * 1000 + 100 + n),
        project_id=project_id_for("samples"),
        actor="sampler",
        time=datetime(2026, 12, 1, 8, 0, n, 654321, tzinfo=UTC),
        command=f"Sample{event.type}",
        events=(event,),
    )
    path = folder / f"{n:02d}-{event.type}.avro"
    path.write_bytes(codec.encode(commit))
    text = json.dumps(commit.model_dump(mode="json"), indent=1, sort_keys=True)
    path.with_suffix(".json").write_text(text + "\n")


if __name__ == "__main__":
    for path in write_samples(sys.argv[1]):
        print(path)
