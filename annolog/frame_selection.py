"""Which frames of a slice's videos are training items: its query evaluated frame by frame.

The slice's files are those its query selects (``projections.slices``); a frame of one of
them is an item when the query holds on that frame (``core.query.frames`` says how ``not``
and ``or`` mix file and frame predicates). Frame predicates are evaluated here, in Python,
over the instances the pinned manifest already carries for the frame list: nothing more
is read per file, and an embedded reader and one over HTTP see the same manifest. The
parts of the query that read no frame are asked of the backend as slices of their own
(one query each, not one per file), except the conjuncts of the whole query, which every
selected file satisfies already.
"""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from annolog.core.query import (
    And,
    Expr,
    Frame,
    file_parts,
    frame_label_names,
    holds_on_frame,
    parse,
    query_text,
    reads_frames,
)
from annolog.projections.readmodels import FileView

if TYPE_CHECKING:
    from annolog.dataset import Slice


class FrameSelection:
    """The frames of a slice's files on which its query holds.

    ``on_file`` is, for each part of the query that reads no frame, the keys of the files it
    holds on (None: every file of the slice); ``names`` maps each label ``frame.labels.<l>``
    names to the name its instances carry in the manifest (absent: not defined yet, 0).
    """

    def __init__(self, expr: Expr, on_file: dict[Expr, frozenset[str] | None], names: dict[str, str]) -> None:
        self.expr, self.on_file = expr, on_file
        self._counted_as: dict[str, list[str]] = defaultdict(list)  # manifest name -> query names
        for query_name, manifest_name in names.items():
            self._counted_as[manifest_name].append(query_name)

    def frames(self, key: str, view: FileView, chosen: Iterable[int]) -> list[int]:
        """The frames among ``chosen`` of the file ``view`` (its key ``key``) the query holds on."""
        counts = self._counts(view)
        video = view.frames is not None  # a single picture's one item has no frame index

        def on_file(part: Expr) -> bool:
            keys = self.on_file[part]
            return keys is None or key in keys

        return [k for k in chosen if holds_on_frame(self.expr, Frame(k if video else None, counts.get(k, {})), on_file)]

    def _counts(self, view: FileView) -> dict[int, Counter[str]]:
        """Per frame, its instances counted by each query name their label answers to."""
        counts: dict[int, Counter[str]] = defaultdict(Counter)
        for instance in view.instances:
            if instance.frame is not None:
                counts[instance.frame].update(self._counted_as.get(instance.label, ()))
        return counts


def frame_selection(chosen: "Slice") -> FrameSelection | None:
    """The frame selection of ``chosen``'s query; None when it reads no frame (every frame is in)."""
    expr = parse(chosen.query)
    if not reads_frames(expr):
        return None
    backend, scope = chosen.project.backend, chosen.scope
    everywhere = {part for part in _conjuncts(expr) if not reads_frames(part)}
    on_file: dict[Expr, frozenset[str] | None] = {
        part: None
        if part in everywhere
        else frozenset(backend.file_keys(scope.model_copy(update={"query": query_text(part)})))
        for part in file_parts(expr)
    }

    def latest() -> list[str]:
        return backend.classes(scope.project, backend.resolve(scope.project, None))

    return FrameSelection(expr, on_file, _manifest_names(frame_label_names(expr), chosen.classes, latest))


def _conjuncts(expr: Expr) -> list[Expr]:
    """The parts ``expr`` requires all of (nested ``and`` flattened), itself when it is no ``and``."""
    return [c for e in expr.operands for c in _conjuncts(e)] if isinstance(expr, And) else [expr]


def _manifest_names(wanted: set[str], classes: list[str], latest: Callable[[], list[str]]) -> dict[str, str]:
    """The name each label in ``wanted`` has in the manifest, whose names are those of its
    version (``classes``). As the slice's own query does (``projections.labelmap``), a name a
    label has only today reads as that label's name then; one defined since counts 0, and is
    left out. Class indices never move, so a label's index is its slot in both lists."""
    names = {name: name for name in wanted if name in classes}
    today = latest() if wanted - names.keys() else []
    for name in wanted - names.keys():
        if name in today and today.index(name) < len(classes):
            names[name] = classes[today.index(name)]
    return names
