"""Tamper evidence that covers what people read: `annolog verify --deep` against rows edited in
SQL (a commit's actor, a history row, a view row), and heads kept outside the database that a
rewritten or shortened chain no longer reaches. On the embedded default and on PostgreSQL."""

import io
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from PIL import Image
from sqlalchemy import Engine, delete, select, update

import annolog
from annolog.api.bootstrap import build_service
from annolog.api.settings import Settings
from annolog.eventlog.codec import CommitCodec
from annolog.eventlog.sql import log_records, open_sqlite
from annolog.projections.chain import link
from annolog.projections.tables import commits, history, instances, labels
from tests.stack import environment


@dataclass
class Site:
    """A stack with one small project on it, the environment the CLI needs to reach it, and an
    engine on its views to tamper with."""

    env: dict[str, str]
    engine: Engine
    project: annolog.Project


def _build(client: annolog.Client) -> annolog.Project:
    project = client.create_project("audited", labels=["car", "dog"])
    photo = project.directory.new("all").add_file(_png(), name="a.png")
    photo.add_instance("car", box=(1, 1, 5, 5)).update(label="car", box=(2, 2, 6, 6))
    return project


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Site]:
    client = annolog.Client(tmp_path, actor="ana")
    engine = open_sqlite(tmp_path / "annolog.db")
    yield Site({"ANNOLOG_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}, engine, _build(client))
    engine.dispose()


@pytest.fixture
def postgres(server_settings: Settings) -> Iterator[Site]:
    service = build_service(server_settings, project_in_process=True)
    yield Site(environment(server_settings), service.engine, _build(annolog.Client(service, actor="ana")))
    service.close()


@pytest.fixture(
    params=["embedded", pytest.param("postgres", marks=[pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3])]
)
def site(request: pytest.FixtureRequest) -> Site:
    found: Site = request.getfixturevalue(request.param)
    return found


def _verify(site: Site, *args: str) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "annolog", "verify", "--json", *args],
        capture_output=True,
        text=True,
        env=site.env,
        timeout=180,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


Tamper = Callable[[Engine, UUID], None]


def _forge_an_accepted_commits_actor(engine: Engine, project_id: UUID) -> None:
    with engine.begin() as db:
        db.execute(
            update(commits).where(commits.c.project_id == project_id, commits.c.version == 2).values(actor="mallory")
        )


def _forge_a_history_row(engine: Engine, project_id: UUID) -> None:
    with engine.begin() as db:
        db.execute(
            update(history)
            .where(history.c.project_id == project_id, history.c.event == "InstanceChanged")
            .values(after={"label": "dog"})
        )


def _forge_a_view_row(engine: Engine, project_id: UUID) -> None:
    with engine.begin() as db:
        db.execute(
            update(instances)
            .where(instances.c.project_id == project_id, instances.c.valid_to.is_(None))
            .values(label="dog")
        )


@pytest.mark.parametrize(
    ("tamper", "table", "column", "forged"),
    [
        (_forge_an_accepted_commits_actor, "commits", "actor", "mallory"),
        (_forge_a_history_row, "history", "after", {"label": "dog"}),
        (_forge_a_view_row, "instances", "label", "dog"),
    ],
    ids=["commit-actor", "history-row", "view-row"],
)
def test_deep_verify_names_the_first_row_edited_in_sql_with_both_values(
    site: Site, tamper: Tamper, table: str, column: str, forged: Any
) -> None:
    code, clean = _verify(site, "--deep")
    assert (code, clean["intact"], clean["first_difference"]) == (0, True, None)

    tamper(site.engine, site.project.id)

    code, report = _verify(site, "--deep")
    assert code == 1 and report["intact"] is False
    assert report["first_break"] is None, "the hash chain alone does not cover this row"
    found = report["first_difference"]
    assert (found["table"], found["columns"]) == (table, [column])
    assert found["live"][column] == forged and found["replayed"][column] != forged
    assert all(found["live"][k] == v for k, v in found["key"].items())


def test_labels_projected_before_they_could_be_renamed_equal_a_rebuild(embedded: Site) -> None:
    with embedded.engine.begin() as db:  # as ALTER TABLE ... ADD COLUMN leaves an upgraded install
        db.execute(update(labels).values(stored_as=None, state=None))

    code, report = _verify(embedded, "--deep")

    assert (code, report["first_difference"]) == (0, None)


def test_the_deep_check_says_in_words_which_row_differs(embedded: Site) -> None:
    _forge_an_accepted_commits_actor(embedded.engine, embedded.project.id)

    result = subprocess.run(
        [sys.executable, "-m", "annolog", "verify", "--deep"], capture_output=True, text=True, env=embedded.env
    )

    assert result.returncode == 1
    assert "deep check: views DIFFER: table commits, row {'commit_id': " in result.stdout
    assert "actor: live 'mallory', replayed 'ana'" in result.stdout


def test_verify_prints_each_head_and_a_kept_head_passes_until_the_chain_stops_reaching_it(site: Site) -> None:
    _, report = _verify(site)
    (head,) = report["heads"]
    assert (head["project"], head["version"]) == ("audited", site.project.version)
    kept = f"audited={head['version']}:{head['chain']}"
    assert _verify(site, "--head", kept)[0] == 0
    wrong = f"audited={head['version']}:{'0' * 64}"
    code, refused = _verify(site, "--head", wrong)
    assert code == 1 and "the anchored head is 0000" in refused["first_break"]["reason"]

    with site.engine.begin() as db:  # someone hides the latest commit from the views
        db.execute(delete(commits).where(commits.c.project_id == site.project.id, commits.c.version == head["version"]))

    assert _verify(site)[0] == 0, "the shortened chain is consistent with itself"
    code, refused = _verify(site, "--head", kept)
    assert code == 1 and refused["first_break"]["version"] == head["version"]
    assert f"the log's chain of 'audited' ends at version {head['version'] - 1}" in refused["first_break"]["reason"]


def test_a_log_and_chain_rewritten_consistently_pass_alone_but_not_against_the_heads_kept_earlier(
    embedded: Site, tmp_path: Path
) -> None:
    code, report = _verify(embedded)
    kept = tmp_path / "heads.json"
    kept.write_text(json.dumps(report))
    assert _verify(embedded, "--heads", str(kept))[0] == 0

    _rewrite_the_last_commit_and_its_chain(embedded.engine, embedded.project.id)

    assert _verify(embedded)[0] == 0, "a forger who rewrites log and hashes together passes the plain check"
    code, refused = _verify(embedded, "--heads", str(kept))
    assert code == 1 and refused["first_break"]["version"] == embedded.project.version
    assert "the anchored head is" in refused["first_break"]["reason"]


def _rewrite_the_last_commit_and_its_chain(engine: Engine, project_id: UUID) -> None:
    """Forge the last box edit in the log and store the chain hash the forged record makes."""
    codec = CommitCodec.default()
    with engine.begin() as db:
        position, payload = db.execute(select(log_records.c.position, log_records.c.payload)).all()[-1]
        commit = codec.decode(payload)
        (event,) = commit.events
        forged = codec.encode(
            commit.model_copy(update={"events": (event.model_copy(update={"points": ((9, 9), (12, 12))}),)})
        )
        db.execute(update(log_records).where(log_records.c.position == position).values(payload=forged))
        last = db.execute(select(commits).where(commits.c.commit_id == commit.commit_id)).one()
        previous = db.execute(
            select(commits.c.chain).where(commits.c.project_id == project_id, commits.c.version == last.version - 1)
        ).scalar_one()
        db.execute(
            update(commits)
            .where(commits.c.commit_id == commit.commit_id)
            .values(chain=link(previous, last.version, forged))
        )


def test_a_head_that_is_not_project_version_hash_is_refused_naming_the_option(embedded: Site) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "annolog", "verify", "--head", "audited:3"],
        capture_output=True,
        text=True,
        env={**embedded.env, "COLUMNS": "400"},  # the usage error in one line
    )
    assert result.returncode == 2 and "--head" in result.stderr and "<project>=<version>:<chain hash>" in result.stderr


def test_a_heads_file_that_verify_did_not_write_is_refused(embedded: Site, tmp_path: Path) -> None:
    (tmp_path / "heads.json").write_text("cars=1:abc")
    result = subprocess.run(
        [sys.executable, "-m", "annolog", "verify", "--heads", str(tmp_path / "heads.json")],
        capture_output=True,
        text=True,
        env=embedded.env,
    )
    assert result.returncode == 2 and "--heads" in result.stderr
