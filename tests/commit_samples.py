"""Writes the frozen commit records of the newest schema: ``python -m tests.commit_samples v4``.

Run it once, when a schema version is new, and commit what it writes to
``tests/data/commits/<version>/``; never for a released version (its records must stay
as that version wrote them, see that directory's README). Each event type the version
adds gets at least one record, ``NN-<EventType>.avro``, beside the commit it must
decode to (``.json``). Add the new version's events to ``SAMPLES`` under its name.
"""

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from annolog.core import Commit, project_id_for
from annolog.core.events import (
    Event,
    LabelAttributesDeclared,
    LabelMerged,
    LabelRenamed,
    LabelRetired,
)
from annolog.core.labels import AttributeSpecs
from annolog.eventlog.codec import CommitCodec

DATA = Path(__file__).parent / "data" / "commits"

SAMPLES: dict[str, list[Event]] = {
    "v4": [
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
}
"""The events each schema version's samples record, one commit each."""


def write_samples(version: str, *, out: Path = DATA) -> list[Path]:
    """Write ``version``'s samples (commit ids ``version number * 1000 + n``); return the .avro paths."""
    number = int(version.removeprefix("v"))
    folder = out / version
    folder.mkdir(parents=True, exist_ok=True)
    codec, written = CommitCodec.default(), []
    for n, event in enumerate(SAMPLES[version]):
        commit = Commit(
            commit_id=UUID(int=number * 1000 + n),
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
        written.append(path)
    return written


if __name__ == "__main__":
    for written in write_samples(sys.argv[1]):
        print(written)
