"""Label statistics of a scope at a version: instances and files per label, counted in SQL.

The counts come from ``label_counts`` (a file's instances of each label, kept by the
projector for slices), so a statistic over 100,000 files groups one row per file and label
rather than every instance.
"""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Select, case, distinct, func, select

from annolog.core.query import Expr
from annolog.projections.labelmap import LabelMap, label_map
from annolog.projections.queries import read_scope
from annolog.projections.readmodels import LabelCount, ProjectView
from annolog.projections.tables import RowsAt, label_counts


def label_stats(
    db: Connection,
    project: ProjectView,
    version: int,
    *,
    directory_ids: Sequence[UUID] | None,
    expr: Expr | None,
) -> tuple[int, list[LabelCount]]:
    """How many files the scope holds at ``version`` (in ``directory_ids``, None: in any
    directory; matching ``expr`` when given), and each label's instances and files among them.

    >>> files, counts = label_stats(db, project, 7, directory_ids=None, expr=None)  # doctest: +SKIP
    """

    named = label_map(db, project.project_id, version, project_name=project.name)

    def read(ids: Select[Any], rows: RowsAt) -> tuple[int, list[LabelCount]]:
        total = db.execute(select(func.count()).select_from(ids.subquery())).scalar_one()
        return int(total), _per_label(db, project.project_id, named, ids, rows)

    return read_scope(db, project, version, directory_ids, expr, read, named=named)


def _per_label(db: Connection, project_id: UUID, named: LabelMap, ids: Select[Any], rows: RowsAt) -> list[LabelCount]:
    """Every label defined at the version ``named`` was read at, by class index, with its counts
    among ``ids``: a label no file has still shows, with zeros; a merged label's instances count
    as its target's (a file with both counts once), and its own slot shows zeros."""
    counted_as = named.counted_as()
    found: dict[int, tuple[int, int]] = {}
    if counted_as:
        index = case(counted_as, value=label_counts.c.label)
        query = (
            select(index, func.sum(label_counts.c["count"]), func.count(distinct(label_counts.c.file_id)))
            .where(
                label_counts.c.project_id == project_id,
                rows.of(label_counts),
                label_counts.c["count"] > 0,
                label_counts.c.file_id.in_(ids.subquery().select()),
            )
            .group_by(index)
        )
        found = {i: (int(instances), int(files)) for i, instances, files in db.execute(query)}
    return [
        LabelCount(label=name, class_index=i, instances=found.get(i, (0, 0))[0], files=found.get(i, (0, 0))[1])
        for i, name in enumerate(named.classes())
    ]
