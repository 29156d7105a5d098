"""The views of one project during a batch: what the database held, plus the batch's changes, in memory.

The batch projector judges many commits before it writes anything. ``Overlay`` is the
``ViewState`` they are judged against: it answers from rows loaded from a ``Base`` (the
database as it was when the batch began, read in sets up front by ``prefetch`` and
one question at a time for anything the prefetch did not foresee) overlaid with every
change the batch made so far. Each change is logged with its inverse, so a rejected
commit is dropped in memory (``drop``) with no savepoint; ``keep`` makes an accepted one
permanent. At the end, ``writes`` hands the rows to insert and the database rows to
close, to be written in bulk.

Every index is loaded for a scope (a file's memberships, a principal's grants, a
directory's names) before any change touches that scope, so each is complete where it is
known, and what the batch created itself (a new file, a new directory) is known empty
without asking the database. No SQL here: the base is the only way out.
"""

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from annolog.core.events import (
    ArrayChunksWritten,
    ArrayResized,
    Event,
    FileAdded,
    FileCopied,
    FileMetadataChanged,
    FileMirrored,
    FileRemovedFromDirectory,
    InstanceAdded,
    InstanceChanged,
    InstanceDeleted,
    Role,
)
from annolog.core.permissions import RANK
from annolog.core.rules import KEYS, Add, Key, Row, RowChange, copied_instance_id, key_of, stored_name

Pair = tuple[UUID, str]
"""A directory and a file name in it."""


class Base(Protocol):
    """One project's views as they were before the batch, read in sets."""

    def rows(self, table: str, keys: Collection[Key]) -> dict[Key, Row]:
        """The current rows with these keys (keys without one are left out)."""

    def existing(self, table: str, keys: Collection[Key]) -> set[Key]:
        """The keys that ever had a row."""

    def labels(self) -> dict[str, Row]:
        """Every current label row, by name."""

    def directories(self) -> list[Row]:
        """Every directory (directories are never closed)."""

    def names(self, pairs: Collection[Pair]) -> dict[Pair, set[UUID]]:
        """For each (directory, name), the files of that name in the directory now."""

    def holders(self, file_ids: Collection[UUID]) -> dict[UUID, dict[UUID, int | None]]:
        """For each file, every directory that ever held it and the end of its latest membership."""

    def grants(self, principals: Collection[str]) -> dict[str, dict[UUID, int]]:
        """Each principal's rank per scope."""

    def instances_of(self, file_id: UUID) -> list[Row]:
        """The file's current instances."""

    def label_counts(self, file_ids: Collection[UUID]) -> dict[Key, Row]:
        """The current label-count rows of these files, by key."""


class EmptyBase:
    """The base of a project the batch itself creates: nothing was there before."""

    def rows(self, table: str, keys: Collection[Key]) -> dict[Key, Row]:
        return {}

    def existing(self, table: str, keys: Collection[Key]) -> set[Key]:
        return set()

    def labels(self) -> dict[str, Row]:
        return {}

    def directories(self) -> list[Row]:
        return []

    def names(self, pairs: Collection[Pair]) -> dict[Pair, set[UUID]]:
        return {}

    def holders(self, file_ids: Collection[UUID]) -> dict[UUID, dict[UUID, int | None]]:
        return {}

    def grants(self, principals: Collection[str]) -> dict[str, dict[UUID, int]]:
        return {}

    def instances_of(self, file_id: UUID) -> list[Row]:
        return []

    def label_counts(self, file_ids: Collection[UUID]) -> dict[Key, Row]:
        return {}


_MISSING: Any = object()
_ADDED: Any = object()
_APPENDED: Any = object()
_REMOVED: Any = object()
_IDS = ("files", "instances")
"""Views whose keys are ids that are never reused (directories are answered by their index)."""


@dataclass
class Writes:
    """What a batch leaves to write for one view: new rows (with their version bounds) and
    the keys of rows from before the batch to close, with the version that closed each."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    closes: list[tuple[Key, int]] = field(default_factory=list)


class Overlay:
    """One project's ``State`` for a batch; see the module docstring."""

    def __init__(self, project_id: UUID, base: Base) -> None:
        self.project_id = project_id
        self._base = base
        self._current: dict[str, dict[Key, Row | None]] = {t: {} for t in KEYS}
        # Whether an id was ever used: False, True, or the version at which this batch first used it.
        self._ever: dict[str, dict[Key, bool | int]] = {t: {} for t in _IDS}
        self._new_files: set[UUID] = set()  # never in the views: nothing of theirs to load (kept on a drop)
        self._labels: dict[str, Row] | None = None
        # The labels by stored name and by class index: made from _labels when first asked, kept
        # in step with it, and made again after a dropped commit that changed a label (they keep
        # no undo of their own).
        self._label_lookups: tuple[dict[str, Row], dict[int, Row]] | None = None
        self._labels_changed = False  # by the commit being judged
        self._directories: dict[UUID, Row] | None = None
        self._directory_names: set[str] = set()
        self._new_directories: set[UUID] = set()
        self._names: dict[Pair, set[UUID]] = {}
        self._holders: dict[UUID, dict[UUID, tuple[int | None, ...]]] = {}
        self._grants: dict[str, dict[UUID, int]] = {}
        self._counted_files: set[UUID] = set()
        self._touched_instances: dict[UUID, set[UUID]] = {}  # by file; a superset is harmless (kept on a drop)
        self._stored_instances: dict[UUID, list[Row]] = {}  # by file, as the base holds them (copies read them)
        self._inserts: dict[str, list[dict[str, Any]]] = {t: [] for t in KEYS}  # a dropped row has no valid_from
        self._open_insert: dict[str, dict[Key, dict[str, Any]]] = {t: {} for t in KEYS}  # each key's current new row
        self._closes: dict[str, dict[Key, int]] = {t: {} for t in KEYS}
        self._undo: list[tuple[Any, Any, Any]] = []  # (dict or set, key or item, what to restore)

    # -- commit boundaries -------------------------------------------------------------------

    def keep(self) -> None:
        """The commit judged since the last ``keep``/``drop`` is accepted."""
        self._undo.clear()
        self._labels_changed = False

    def drop(self) -> None:
        """Undo every change since the last ``keep``/``drop``: the commit was rejected."""
        for target, key, old in reversed(self._undo):
            if old is _APPENDED:
                target.pop()
            elif old is _ADDED:
                target.discard(key)
            elif old is _REMOVED:
                target.add(key)
            elif old is _MISSING:
                del target[key]
            else:
                target[key] = old
        self._undo.clear()
        if self._labels_changed:
            self._label_lookups = None
        self._labels_changed = False

    def _set(self, mapping: dict[Any, Any], key: Any, value: Any) -> None:
        self._undo.append((mapping, key, mapping.get(key, _MISSING)))
        mapping[key] = value

    def _pop(self, mapping: dict[Any, Any], key: Any) -> None:
        old = mapping.pop(key, _MISSING)
        if old is not _MISSING:
            self._undo.append((mapping, key, old))

    def _include(self, items: set[Any], item: Any) -> None:
        if item not in items:
            items.add(item)
            self._undo.append((items, item, _ADDED))

    def _exclude(self, items: set[Any], item: Any) -> None:
        if item in items:
            items.discard(item)
            self._undo.append((items, item, _REMOVED))

    # -- loading what the database held --------------------------------------------------------

    def prefetch(self, events: Iterable[Event]) -> None:
        """Load, in a few set queries, what judging ``events`` will ask about."""
        new: dict[str, set[Key]] = {"files": set(), "instances": set()}
        wanted: dict[str, set[Key]] = {"files": set(), "instances": set(), "array_chunks": set()}
        files_of_instances: set[UUID] = set()
        names: set[Pair] = set()
        named: list[tuple[UUID, UUID]] = []  # (directory, file) pairs whose file's name is needed
        for e in events:  # the most frequent first
            if isinstance(e, InstanceAdded):
                new["instances"].add((e.instance_id,))
                wanted["files"].add((e.file_id,))
                files_of_instances.add(e.file_id)
            elif isinstance(e, FileAdded):
                new["files"].add((e.file_id,))
                names.add((e.directory_id, e.name))
            elif isinstance(e, InstanceChanged | InstanceDeleted):
                wanted["instances"].add((e.instance_id,))
            elif isinstance(e, FileCopied):
                new["files"].add((e.file_id,))
                wanted["files"].add((e.source_file_id,))
                named.append((e.directory_id, e.source_file_id))
                if e.with_instances:  # each copy's id is checked unused: ask for all at once
                    copied = self._instances_stored(e.source_file_id)
                    new["instances"].update((copied_instance_id(e.file_id, r["instance_id"]),) for r in copied)
            elif isinstance(e, FileMirrored):
                wanted["files"].add((e.file_id,))
                named.append((e.directory_id, e.file_id))
            elif isinstance(e, FileMetadataChanged | FileRemovedFromDirectory):
                wanted["files"].add((e.file_id,))
            elif isinstance(e, ArrayChunksWritten | ArrayResized):
                wanted["array_chunks"].update((e.array, write.chunk) for write in e.chunks)
        for table, keys in new.items():
            self._load_ever(table, keys)
        self._load_rows("instances", wanted["instances"])
        self._load_rows("array_chunks", wanted["array_chunks"])
        for key in wanted["instances"]:
            if (found := self._current["instances"].get(key)) is not None:
                wanted["files"].add((found["file_id"],))
                files_of_instances.add(found["file_id"])
        wanted["files"] -= new["files"]
        self._load_rows("files", wanted["files"])
        existing = {key[0] for key in wanted["files"] if self._current["files"].get(key) is not None}
        self._load_holders(existing)
        self._load_counts(files_of_instances & existing)
        for directory_id, file_id in named:
            if (file := self._current["files"].get((file_id,))) is not None:
                names.add((directory_id, file["name"]))
        self._load_names(names)

    def _load_rows(self, table: str, keys: Collection[Key]) -> None:
        current = self._current[table]
        missing = [k for k in keys if k not in current]
        if missing:
            found = self._base.rows(table, missing)
            for key in missing:
                current[key] = found.get(key)

    def _load_ever(self, table: str, keys: Collection[Key]) -> None:
        ever = self._ever[table]
        missing = [k for k in keys if k not in ever]
        if missing:
            found = self._base.existing(table, missing)
            for key in missing:
                ever[key] = key in found

    def _load_holders(self, file_ids: Collection[UUID]) -> None:
        missing = [f for f in file_ids if f not in self._holders and f not in self._new_files]
        if missing:
            found = self._base.holders(missing)
            for file_id in missing:
                self._holders[file_id] = {d: (ended,) for d, ended in found.get(file_id, {}).items()}

    def _load_counts(self, file_ids: Collection[UUID]) -> None:
        missing = [f for f in file_ids if f not in self._counted_files and f not in self._new_files]
        if missing:
            found = self._base.label_counts(missing)
            current = self._current["label_counts"]
            for key, row in found.items():
                current.setdefault(key, row)
            self._counted_files.update(missing)

    def _load_names(self, pairs: Collection[Pair]) -> None:
        missing = [p for p in pairs if p not in self._names and p[0] not in self._new_directories]
        if missing:
            found = self._base.names(missing)
            for pair in missing:
                self._names[pair] = set(found.get(pair, ()))

    def _load_grants(self, principal: str) -> dict[UUID, int]:
        if principal not in self._grants:
            self._grants[principal] = dict(self._base.grants([principal]).get(principal, {}))
        return self._grants[principal]

    def _holders_of(self, file_id: UUID) -> dict[UUID, tuple[int | None, ...]]:
        if (known := self._holders.get(file_id)) is not None:
            return known
        if file_id in self._new_files:
            return self._holders.setdefault(file_id, {})
        self._load_holders([file_id])
        return self._holders[file_id]

    def _names_of(self, pair: Pair) -> set[UUID]:
        if (known := self._names.get(pair)) is not None:
            return known
        if pair[0] in self._new_directories:
            return self._names.setdefault(pair, set())
        self._load_names([pair])
        return self._names[pair]

    def _instances_stored(self, file_id: UUID) -> list[Row]:
        if file_id not in self._stored_instances:  # the base does not change during a batch
            self._stored_instances[file_id] = self._base.instances_of(file_id)
        return self._stored_instances[file_id]

    def _directory_rows(self) -> dict[UUID, Row]:
        if self._directories is None:
            self._directories = {row["directory_id"]: row for row in self._base.directories()}
            self._directory_names = {row["name"] for row in self._directories.values()}
        return self._directories

    # -- ViewState -----------------------------------------------------------------------------

    def row(self, table: str, key: Key) -> Row | None:
        if table == "memberships":
            directory_id, file_id = key
            ended = self._holders_of(file_id).get(directory_id)
            return {"directory_id": directory_id, "file_id": file_id} if ended and ended[-1] is None else None
        if table == "labels":
            return self._label_index().get(key[0])
        if table == "directories":
            return self._directory_rows().get(key[0])
        current = self._current[table]
        found: Row | None = current.get(key, _MISSING)
        if found is not _MISSING:
            return found
        if table == "label_counts":
            if key[0] not in self._counted_files and key[0] not in self._new_files:
                self._load_counts([key[0]])
            return current.get(key)
        if table in _IDS and self._ever[table].get(key) is False:
            return None
        self._load_rows(table, [key])
        return current.get(key)

    def existed(self, table: str, key: Key) -> bool:
        if table == "directories":
            return key[0] in self._directory_rows()
        if (known := self._ever[table].get(key)) is None:
            self._load_ever(table, [key])
            known = self._ever[table][key]
        return known is not False

    def labels(self) -> Mapping[str, Row]:
        return self._label_index()

    def _label_index(self) -> dict[str, Row]:
        if self._labels is None:
            self._labels = self._base.labels()
        return self._labels

    def label_stored_as(self, stored: str) -> Row | None:
        return self._lookups()[0].get(stored)

    def label_with_index(self, index: int) -> Row:
        return self._lookups()[1][index]

    def _lookups(self) -> tuple[dict[str, Row], dict[int, Row]]:
        if self._label_lookups is None:
            rows = self._label_index().values()
            self._label_lookups = ({stored_name(r): r for r in rows}, {r["class_index"]: r for r in rows})
        return self._label_lookups

    def directory_named(self, name: str) -> bool:
        self._directory_rows()
        return name in self._directory_names

    def file_named(self, directory_id: UUID, name: str) -> bool:
        return bool(self._names_of((directory_id, name)))

    def holders(self, file_id: UUID) -> Mapping[UUID, int | None]:
        return {d: ended[-1] for d, ended in self._holders_of(file_id).items() if ended}

    def grants(self, principal: str) -> Mapping[UUID, int]:
        return self._load_grants(principal)

    def instances_of(self, file_id: UUID) -> Sequence[Row]:
        touched = self._touched_instances.get(file_id, set())
        base = [] if file_id in self._new_files else self._instances_stored(file_id)
        found = [r for r in base if r["instance_id"] not in touched]
        for instance_id in touched:
            if (row := self._current["instances"].get((instance_id,))) is not None:
                found.append(row)
        return found

    # -- State -----------------------------------------------------------------------------

    def apply(self, change: RowChange, version: int) -> None:
        if isinstance(change, Add):
            self._add(change.table, change.row, version)
        else:
            self._close(change.table, change.key, version)

    def _add(self, table: str, row: dict[str, Any], version: int) -> None:
        key = key_of(table, row)
        if table == "memberships":
            directory_id, file_id = key
            stack = self._holders_of(file_id)
            self._set(stack, directory_id, (*stack.get(directory_id, ()), None))
            file = self.row("files", (file_id,))
            assert file is not None, f"membership of unknown file {file_id}"
            self._include(self._names_of((directory_id, file["name"])), file_id)
        elif table == "labels":
            self._set(self._label_index(), row["name"], row)
            self._labels_changed = True
            if self._label_lookups is not None:
                by_stored, by_index = self._label_lookups
                by_stored[stored_name(row)] = by_index[row["class_index"]] = row
        elif table == "directories":
            self._set(self._directory_rows(), row["directory_id"], row)
            self._include(self._directory_names, row["name"])
            self._include(self._new_directories, row["directory_id"])
        elif table == "roles":
            self._set(self._load_grants(row["principal"]), row["scope_id"], RANK[Role(row["role"])])
        if table in _IDS and self._ever[table].get(key) is False:  # the rules checked: known, and new
            self._set(self._ever[table], key, version)
            if table == "files":
                self._new_files.add(key[0])
        if table == "instances":
            self._touched_instances.setdefault(row["file_id"], set()).add(key[0])
        self._set(self._current[table], key, row)
        inserted = {**row, "valid_from": version, "valid_to": None}
        self._inserts[table].append(inserted)
        self._undo.append((self._inserts[table], None, _APPENDED))
        self._set(self._open_insert[table], key, inserted)

    def _close(self, table: str, key: Key, version: int) -> None:
        before = self.row(table, key)
        assert before is not None, f"closing {table} {key}, which has no current row"
        opened = self._open_insert[table].get(key)
        same_commit = opened is not None and opened["valid_from"] == version
        if table == "memberships":
            directory_id, file_id = key
            stack = self._holders_of(file_id)
            ended = stack[directory_id][:-1] if same_commit else (*stack[directory_id][:-1], version)
            self._set(stack, directory_id, ended)
            file = self.row("files", (file_id,))
            assert file is not None
            self._exclude(self._names_of((directory_id, file["name"])), file_id)
        elif table == "roles":
            self._pop(self._load_grants(key[0]), key[1])
        elif table == "labels":
            self._pop(self._label_index(), key[0])
            self._labels_changed = True
            if self._label_lookups is not None:
                by_stored, by_index = self._label_lookups
                del by_stored[stored_name(before)], by_index[before["class_index"]]
        elif table == "instances":
            self._touched_instances.setdefault(before["file_id"], set()).add(key[0])
        self._set(self._current[table], key, None)
        if opened is None:
            self._set(self._closes[table], key, version)
            return
        self._pop(self._open_insert[table], key)
        if same_commit:  # added and closed by one commit: never visible at any version
            self._set(opened, "valid_from", None)
            first_used = self._ever[table].get(key) if table in _IDS else None
            if first_used is not True and first_used == version:  # and no other row ever had the id
                self._set(self._ever[table], key, False)
        else:
            self._set(opened, "valid_to", version)

    def writes(self) -> dict[str, Writes]:
        """What the batch leaves to write, per view (views it did not change are left out)."""
        found = {}
        for table in KEYS:
            if self._inserts[table] or self._closes[table]:
                inserts = [
                    row | {"project_id": self.project_id}
                    for row in self._inserts[table]
                    if row["valid_from"] is not None
                ]
                found[table] = Writes(inserts, list(self._closes[table].items()))
        return found
