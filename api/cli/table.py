"""Rows for people: a table with a header, fitted to the terminal; piped, one line per row."""

import io
import shutil
import sys
from collections.abc import Sequence

UNBOUNDED = 1_000_000
"""The width of a table that is not printed to a terminal: no row is wrapped, so grep sees it whole."""


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, empty: str, wrap: Sequence[str] = ()) -> str:
    """``rows`` under ``headers`` as text, or ``empty`` when there are none.

    On a terminal the ``wrap`` columns fold to fit its width; the others never wrap. Cells
    are plain text: a name like ``[bold]`` prints as it is, never as rich markup.

    >>> print(table(["name", "version"], [["cars", "3"]], empty="no projects"))
    name  version
    cars  3
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    if not rows:
        return empty
    grid = Table(box=None, pad_edge=False, highlight=False)
    for header in headers:
        grid.add_column(header, no_wrap=header not in wrap, overflow="fold")
    for row in rows:
        grid.add_row(*(Text(cell) for cell in row))
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else UNBOUNDED
    out = io.StringIO()
    Console(file=out, width=width, highlight=False).print(grid)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())
