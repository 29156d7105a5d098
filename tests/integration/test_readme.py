"""The README runs as written: its code blocks run in order in one fresh folder, or say why they cannot.

Python blocks share one namespace, as a reader pasting them into one session would; shell
blocks of ``annolog`` commands run with the command line in the same folder, so both act on
the tour's ``./annolog-data``. Any other block is marked right before its fence with
``<!-- readme-test: skip (why) -->``; an unmarked block this test cannot run fails it.
"""

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from tests.cocofiles import write_images

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = re.compile(r"<!-- readme-test: skip \((?P<why>[^()]+)\) -->")
SHELLS = {"sh", "bash", "shell"}


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    language: str
    source: str
    skip: str | None  # why it cannot run here, from the marker right before it

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.language or 'no language'})"


def readme_blocks() -> list[Block]:
    tokens = MarkdownIt("commonmark").parse(README.read_text())
    blocks = []
    for before, token in zip([None, *tokens], tokens):
        if token.type == "fence" and token.map is not None:
            marker = MARKER.fullmatch(before.content.strip()) if before and before.type == "html_block" else None
            skip = marker["why"] if marker else None
            blocks.append(Block(token.map[0] + 1, token.info.strip(), token.content, skip))
    return blocks


def markers_out_of_place() -> list[str]:
    """Markers that mark nothing: misspelt, or not right before a fence."""
    tokens = MarkdownIt("commonmark").parse(README.read_text())
    return [
        f"README.md:{token.map[0] + 1 if token.map else '?'}: {token.content.strip()}"
        for token, after in zip(tokens, [*tokens[1:], None])
        if token.type == "html_block" and "readme-test" in token.content
        if not (MARKER.fullmatch(token.content.strip()) and after is not None and after.type == "fence")
    ]


def commands(source: str) -> list[list[str]]:
    """The block's commands as words: continuation lines joined, comments and blank lines dropped."""
    lines = re.sub(r"\\\n", " ", source).splitlines()
    return [words for words in (shlex.split(line, comments=True) for line in lines) if words]


Runner = Callable[[Block, dict[str, Any]], None]
"""Runs a block in the current folder; Python blocks share the namespace."""


def run_python(block: Block, namespace: dict[str, Any]) -> None:
    # Padded to its place in the file, so a traceback names the README's own line.
    code = compile("\n" * block.line + block.source, str(README), "exec")
    exec(code, namespace)


def run_shell(block: Block, namespace: dict[str, Any]) -> None:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # with the annolog script
    script = ["bash", "-euo", "pipefail", "-c", block.source]
    done = subprocess.run(script, env={**os.environ, "PATH": path}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{block} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"


def runner(block: Block) -> Runner | None:
    """How this test runs the block, or None when it cannot."""
    if block.language == "python":
        return run_python
    if block.language in SHELLS and all(words[0] == "annolog" for words in commands(block.source)):
        return run_shell
    return None


def write_street_scenes(folder: Path) -> None:
    """What the tour's import reads: ``images/`` with ``annotations.json`` (COCO, one mistake
    in it) and ``predictions.json``, a model's scored boxes on the same images."""
    images = write_images(folder / "images", 6, size=(320, 240))
    categories = [{"id": 1, "name": "car"}, {"id": 2, "name": "pedestrian"}, {"id": 3, "name": "traffic light"}]
    boxes, guesses = [], []
    for image in images:
        image["weather"] = "rain" if image["id"] % 2 else "sun"  # kept as file.meta.weather
        for car in range(image["id"]):  # image i has i cars, then a pedestrian or a traffic light in turn
            boxes.append({"image_id": image["id"], "category_id": 1, "bbox": [10 + 40 * car, 20, 30, 20]})
        boxes.append({"image_id": image["id"], "category_id": 2 + image["id"] % 2, "bbox": [5, 100, 20, 60]})
        guesses.append({**boxes[-1], "score": round(0.5 + image["id"] / 12, 2)})
    boxes.append({"image_id": 1, "category_id": 99, "bbox": [0, 0, 10, 10]})  # a category that is not there
    for number, box in enumerate(boxes, start=1):
        box["id"] = number
    for name, annotations in [("annotations.json", boxes), ("predictions.json", guesses)]:
        document = {"images": images, "annotations": annotations, "categories": categories}
        (folder / name).write_text(json.dumps(document))


def test_every_block_is_python_annolog_commands_or_marked_with_why_it_cannot_run() -> None:
    blocks = readme_blocks()
    assert any(block.language == "python" and not block.skip for block in blocks)
    unrunnable = [str(block) for block in blocks if block.skip is None and runner(block) is None]
    assert not unrunnable, (
        "these README blocks are neither Python nor only annolog commands; make them runnable here "
        f"or mark each with '<!-- readme-test: skip (why) -->' right before its fence: {unrunnable}"
    )


def test_every_marker_marks_the_block_right_after_it() -> None:
    assert not markers_out_of_place()


def test_the_readme_runs_in_order_in_a_fresh_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("ANNOLOG_")]:
        monkeypatch.delenv(name)  # settings read from the environment would point the tour elsewhere
    monkeypatch.chdir(tmp_path)
    write_street_scenes(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    for block in readme_blocks():
        run = None if block.skip else runner(block)
        if run is not None:
            run(block, namespace)
