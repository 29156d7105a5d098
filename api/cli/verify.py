"""`annolog verify`: recompute the tamper-evidence chain from the log, on the stack itself."""

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from annolog.api.cli.app import app, database, emit, stack_settings

if TYPE_CHECKING:
    from annolog.projections.chain import Anchor, Verification
    from annolog.projections.deep import Difference


@app.command()
def verify(
    as_json: Annotated[
        bool, typer.Option("--json", help="print JSON for scripts; keep it to anchor later runs")
    ] = False,
    deep: Annotated[
        bool, typer.Option("--deep", help="also replay the log into scratch tables and compare every row")
    ] = False,
    head: Annotated[
        list[str], typer.Option("--head", help="PROJECT=VERSION:HASH, a head the chain must still pass through")
    ] = [],
    heads: Annotated[
        Path | None, typer.Option("--heads", help="a file `annolog verify --json` wrote: its heads, as --head")
    ] = None,
) -> None:
    """Recompute every project's tamper-evidence chain from the log; report the first break.

    Prints each project's head (PROJECT=VERSION:HASH): keep heads outside the database and
    pass them back with --head or --heads, and a log rewritten wholesale no longer reaches
    them. --deep replays the log and names the first view row (a commit's actor, a history
    row, any view) that differs from what the log makes. Exits 1 on any of these; log
    records that are not commits are listed, and the check goes on past them.
    """
    from tqdm import tqdm

    from annolog.api.bootstrap import build_log
    from annolog.projections.chain import verify as verify_chain
    from annolog.projections.deep import deep_verify

    anchors = [_anchor(text) for text in head] + (_anchors_in(heads) if heads is not None else [])
    settings = stack_settings("verify")
    engine, log = database(settings), build_log(settings)
    with tqdm(desc="verifying", unit=" records", disable=as_json, leave=False) as bar:
        outcome = verify_chain(engine, log, anchors=anchors, on_record=lambda: bar.update())
    difference = deep_verify(engine, log) if deep else None
    intact = outcome.first_break is None and difference is None
    result: dict[str, Any] = {"intact": intact, **asdict(outcome)}
    if deep:
        result["first_difference"] = difference and asdict(difference)
    emit(result, as_json, lambda _: _verdict(outcome, deep, difference))
    if not intact:
        raise typer.Exit(code=1)


def _anchor(text: str) -> "Anchor":
    from annolog.core.errors import InvalidInputError
    from annolog.projections.chain import Anchor

    try:
        return Anchor.parse(text)
    except InvalidInputError as exc:
        raise typer.BadParameter(str(exc), param_hint="--head") from exc


def _anchors_in(path: Path) -> "list[Anchor]":
    from annolog.projections.chain import Anchor

    try:
        report = json.loads(path.read_text())
        return [Anchor(h["project"], int(h["version"]), h["chain"]) for h in report["heads"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise typer.BadParameter(
            f"{path} is not a report `annolog verify --json` wrote ({type(exc).__name__}: {exc})", param_hint="--heads"
        ) from exc


def _verdict(outcome: "Verification", deep: bool, difference: "Difference | None") -> str:
    found = outcome.first_break
    if found is None:
        lines = [f"chain intact: {outcome.checked} accepted commits match the log"]
    else:
        lines = [
            f"chain BROKEN after {outcome.checked} matching commits: project {found.project_id}, "
            f"version {found.version} (commit {found.commit_id}): {found.reason}"
        ]
    lines += ["heads (keep them elsewhere; check them later with --head):"] + [f"  {h}" for h in outcome.heads]
    if outcome.bad_records:
        lines.append(f"{len(outcome.bad_records)} log record(s) are not commits (rejected where they stand):")
        lines += [f"  partition {r.partition}, offset {r.offset}: {r.reason}" for r in outcome.bad_records]
    if deep:
        lines.append(_difference_text(difference))
    return "\n".join(lines)


def _difference_text(difference: "Difference | None") -> str:
    if difference is None:
        return "deep check: every view row equals what a replay of the log makes"
    if difference.live is None or difference.replayed is None:
        where = "the replay" if difference.live is None else "the live views"
        return f"deep check: views DIFFER: table {difference.table}, row {difference.key} exists only in {where}"
    changes = ", ".join(
        f"{c}: live {difference.live[c]!r}, replayed {difference.replayed[c]!r}" for c in difference.columns
    )
    return f"deep check: views DIFFER: table {difference.table}, row {difference.key}: {changes}"
