"""The event log at work on the embedded default: commands in, Avro records out, read back.

Run with `make demo`. It needs no services: the log is a table in a SQLite file in a
fresh temporary directory (set ANNOLOG_DATA_DIR to keep it somewhere).
"""

import hashlib
import os
import tempfile
from pathlib import Path

from api.bootstrap import build_log
from api.settings import load_settings
from core import (
    AddFile,
    AddInstance,
    AnnologError,
    ChangeInstance,
    Command,
    Commit,
    CreateDirectory,
    CreateProject,
    DefineLabel,
    MirrorFile,
    TagVersion,
    uuid7,
)
from eventlog.codec import CommitCodec
from eventlog.log import EventLog, LogRecord


def _story(actor_of: dict[str, str]) -> list[tuple[str, Command]]:
    """A labelling session: (who, what) in order."""
    everything = CreateDirectory(name="all")
    night = CreateDirectory(name="night", access_type="restricted")
    photo = AddFile(
        directory_id=everything.directory_id,
        sha256=hashlib.sha256(b"street at night").hexdigest(),
        name="street-0042.jpg",
        media_type="image/jpeg",
        size=183_344,
        width=1280,
        height=720,
        metadata={"weather": "rain", "camera": "dashcam-3"},
    )
    box = AddInstance(file_id=photo.file_id, label="car", kind="box", points=((412, 300), (640, 455)))
    return [
        (actor_of["owner"], CreateProject(name="streets")),
        (actor_of["owner"], DefineLabel(name="car")),
        (actor_of["owner"], DefineLabel(name="pedestrian")),
        (actor_of["owner"], everything),
        (actor_of["owner"], night),
        (actor_of["annotator"], photo),
        (actor_of["annotator"], box),
        (actor_of["annotator"], MirrorFile(file_id=photo.file_id, directory_id=night.directory_id)),
        (actor_of["owner"], TagVersion(tag="v1")),
        (
            actor_of["reviewer"],
            ChangeInstance(
                instance_id=box.instance_id,
                expected_revision=1,
                label="car",
                kind="box",
                points=((410, 298), (642, 455)),
                attributes={"reviewed": True},
            ),
        ),
    ]


def _summary(record: LogRecord) -> str:
    commit = record.commit
    what = ", ".join(event.type for event in commit.events)
    return (
        f"  {record.position.offset:>4}  {commit.time:%H:%M:%S}  {commit.actor:<6}  "
        f"{commit.command:<16} -> {what}"
    )


def _append_story(log: EventLog) -> list[Commit]:
    project = CreateProject(name="streets").project_id
    actors = {"owner": "ana", "annotator": "ben", "reviewer": "chloe"}
    commits = [command.commit(project_id=project, actor=actor) for actor, command in _story(actors)]
    for commit in commits:
        log.append(commit)
    return commits


def _show_bad_input_is_refused() -> None:
    print("\nBad input never reaches the log; the error says what was wrong:")
    try:
        AddInstance(file_id=uuid7(), label="car", kind="box", points=((640, 300), (412, 455)))
    except AnnologError as error:
        print(f"  {type(error).__name__}: {error}")


def main() -> None:
    data_dir = Path(os.environ.get("ANNOLOG_DATA_DIR") or tempfile.mkdtemp(prefix="annolog-demo-"))
    log = build_log(load_settings(data_dir=data_dir))
    appended = _append_story(log)

    codec = CommitCodec.default()
    records = list(log.read(0, 0))
    print(f"annolog demo: the event log in {data_dir / 'annolog.db'}\n")
    print(f"{len(records)} commits, each one Avro record (schema fingerprint {codec.fingerprint.hex()}):")
    print("  offset  time      actor   command             events")
    for record in records:
        print(_summary(record))
    size = sum(len(codec.encode(r.commit)) for r in records)
    same = [r.commit for r in records] == appended
    print(f"\n{size:,} bytes of log in all; read back equal to what was appended: {same}")
    _show_bad_input_is_refused()
    log.close()


if __name__ == "__main__":
    main()
