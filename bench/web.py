"""Web pages in a real browser: first paint of a big directory and of a busy file, against the same HTML served static.

    python -m bench.web [--files 100000] [--instances 500] [--repeat 5]

On the embedded default (SQLite, local blobs in a temporary data directory), a project gets
one directory of ``--files`` files (a few distinct small JPEGs named again and again, two
boxes each, committed 1,000 files at a time) and one file with ``--instances`` boxes in a
directory of its own. `annolog serve` then serves its pages at the version the seeding ended
at (a pinned URL), to Debian's headless Chromium signed in through the sign-in form.

The peer, in the same run: each page's HTML as annolog sent it, saved once and served as a
plain file by `python -m http.server` with the same stylesheet. The images the pages draw on
(the grid's tiles, the file's full image) come from `annolog serve` in both: the static copy
names them by their absolute URL on it, so both pages load the same images from the same
server and the ratio is what rendering the page on request costs over reading it from disk.

Times are the browser's Navigation Timing (``responseStart``, ``domContentLoadedEventEnd``,
``loadEventEnd``) and Paint Timing (``first-contentful-paint``), in ms from the start of the
navigation; each is the median of ``--repeat`` loads, annolog and static taking turns. A
first load starts with the browser's cache cleared; a warm load is the next visit, its
stylesheet and images from the browser's cache. Warm thumbnail requests per second are
bench/thumbnails.py's.
"""

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from selenium import webdriver
from selenium.webdriver.common.by import By

import annolog
from annolog.api.bootstrap import build_service
from annolog.api.http.web.auth import COOKIE
from annolog.api.http.web.render import STATIC
from annolog.api.settings import Settings, load_settings
from annolog.api.tokens import Tokens
from annolog.core.commands import AddFile, AddInstance, Command
from annolog.project import Project
from annolog.projections.readmodels import StoredBlob
from bench.api import _free_port, ok, serving
from bench.common import chunks, timed
from tests.browser.chromium import missing, start_chromium

ACTOR = "bench"
LABELS = ("car", "person", "bicycle", "traffic light")
PHOTOS = 8
"""Distinct JPEGs the files name: every file's bytes are stored once, as in a dataset of copies."""
PHOTO_SIZE = (320, 240)
BOXES_PER_FILE = 2
COMMIT_FILES = 1000
TIMEOUT_S = 60.0

TIMINGS = """
const nav = performance.getEntriesByType('navigation')[0];
const fcp = performance.getEntriesByName('first-contentful-paint')[0];
if (!nav || !nav.loadEventEnd || !fcp) return null;
return {response: nav.responseStart, fcp: fcp.startTime, dom: nav.domContentLoadedEventEnd, load: nav.loadEventEnd};
"""
"""Milliseconds from the navigation's start; null until the load event has ended and the page has painted."""

METRICS = ("response", "fcp", "dom", "load")
HEADINGS = {"response": "responseStart", "fcp": "first paint", "dom": "DOMContentLoaded", "load": "loadEventEnd"}


# -- the data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """The two pages at a pinned version, and a token that may read them."""

    directory_page: str
    file_page: str
    token: str


def photo(seed: int) -> bytes:
    image = Image.effect_mandelbrot(PHOTO_SIZE, (-2.0 + seed * 0.05, -1.2, 1.0, 1.2), 40).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _box(i: int, label: str) -> dict[str, Any]:
    """A box somewhere on a ``PHOTO_SIZE`` image, placed by ``i``."""
    width, height = PHOTO_SIZE
    x, y = (i * 37) % (width - 40), (i * 53) % (height - 40)
    return {"label": label, "kind": "box", "points": ((x, y), (x + 10 + i % 30, y + 10 + i % 30))}


def _file(directory_id: Any, blob: StoredBlob, name: str) -> AddFile:
    return AddFile(
        directory_id=directory_id,
        sha256=blob.sha256,
        name=name,
        media_type=blob.media_type,
        size=blob.size,
        width=blob.width,
        height=blob.height,
    )


def _with_boxes(add: AddFile, count: int) -> list[Command]:
    boxes = [AddInstance(file_id=add.file_id, **_box(i, LABELS[i % len(LABELS)])) for i in range(count)]
    return [add, *boxes]


def seed(project: Project, files: int, instances: int) -> tuple[str, str]:
    """The big directory and the busy file, committed; (directory name, busy file id)."""
    blobs = [project.store_blob(photo(seed), name=f"photo-{seed}.jpg") for seed in range(PHOTOS)]
    big, busy = project.directory.new("photos"), project.directory.new("busy")
    for numbers in chunks(range(files), COMMIT_FILES):
        adds = [_file(big.id, blobs[n % PHOTOS], f"{n:07d}.jpg") for n in numbers]
        project.execute([command for add in adds for command in _with_boxes(add, BOXES_PER_FILE)])
    crowded = _file(busy.id, blobs[0], "crowded.jpg")
    project.execute(_with_boxes(crowded, instances))
    return big.name, str(crowded.file_id)


def prepare(settings: Settings, files: int, instances: int) -> Site:
    service = build_service(settings)
    try:
        project = annolog.Client(service, actor=ACTOR).create_project("web-bench", labels=list(LABELS))
        directory, file_id = seed(project, files, instances)
        version = project.version
        token = Tokens(service.engine).create(ACTOR, created_by="bench/web.py")
    finally:
        service.close()
    pinned = f"/ui/p/{project.name}/v/{version}"
    return Site(f"{pinned}/d/{directory}", f"{pinned}/f/{file_id}?d=busy", token)


# -- the peer: the same HTML from disk --------------------------------------------------------------


def static_copy(url: str, site: Site, root: Path) -> dict[str, str]:
    """Each page's HTML saved under ``root`` with the stylesheets beside it; {annolog path: static path}.

    Image URLs are made absolute on ``url``, so the copy loads the very same images from annolog.
    """
    shutil.copytree(STATIC, root / "ui" / "static")
    paths = {}
    with httpx.Client(base_url=url, cookies={COOKIE: site.token}, timeout=TIMEOUT_S) as http:
        for name, path in (("directory", site.directory_page), ("file", site.file_page)):
            html = ok(http.get(path)).decode()
            (root / f"{name}.html").write_text(html.replace('<image href="/', f'<image href="{url}/'))
            paths[path] = f"/{name}.html"
    return paths


@contextmanager
def static_server(root: Path, logs: Path) -> Iterator[str]:
    """`python -m http.server` over ``root`` on a free port; its base URL."""
    port = _free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(root)]
    with (logs / "static.log").open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _await(lambda: httpx.get(f"{url}/ui/static/annolog.css").status_code == 200, "the static server")
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _await(ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} was not ready after {TIMEOUT_S:g} s")


# -- the browser -------------------------------------------------------------------------------------


def sign_in(driver: webdriver.Chrome, url: str, token: str) -> None:
    """Through the sign-in form, as a person does; the cookie is then the browser's own."""
    driver.get(f"{url}/ui/signin")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form[action='/ui/signin'] button").click()
    _await(lambda: any(c["name"] == COOKIE for c in driver.get_cookies()), "the sign-in cookie")


def load(driver: webdriver.Chrome, url: str, *, cold: bool) -> dict[str, float]:
    """Open ``url`` from a blank page (with the browser's cache cleared when ``cold``); its timings in ms."""
    driver.get("about:blank")
    if cold:
        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.get(url)
    if "Sign in" in driver.title or driver.title.startswith(("Not found", "Error")):
        raise RuntimeError(f"{url} showed {driver.title!r}, not the page")
    deadline = time.monotonic() + TIMEOUT_S
    while (timings := driver.execute_script(TIMINGS)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}: no load event or first paint after {TIMEOUT_S:g} s")
        time.sleep(0.05)
    return {metric: float(timings[metric]) for metric in METRICS}


Samples = dict[str, list[dict[str, float]]]


def measure(driver: webdriver.Chrome, urls: dict[str, str], repeat: int) -> dict[str, Samples]:
    """{"first"/"warm": {side: each load's timings}}, the sides taking turns so that noise hits both."""
    samples: dict[str, Samples] = {"first": {side: [] for side in urls}, "warm": {side: [] for side in urls}}
    for _ in range(repeat):
        for side, url in urls.items():
            samples["first"][side].append(load(driver, url, cold=True))
            samples["warm"][side].append(load(driver, url, cold=False))
    return samples


# -- the report --------------------------------------------------------------------------------------


def _median(loads: list[dict[str, float]], metric: str) -> float:
    return statistics.median(timing[metric] for timing in loads)


def report(title: str, samples: dict[str, Samples]) -> None:
    print(f"{title}\n  {'':<22}" + "".join(f"{HEADINGS[m]:>18}" for m in METRICS) + f"{'first paint range':>22}")
    for kind, sides in samples.items():
        for side, loads in sides.items():
            paints = [timing["fcp"] for timing in loads]
            cells = "".join(f"{_median(loads, m):>15.1f} ms" for m in METRICS)
            print(f"  {side + ' ' + kind + ' load':<22}{cells}{min(paints):>11.1f} – {max(paints):.1f} ms")
        ours, theirs = sides["annolog"], sides["static"]
        ratios = "".join(f"{_median(ours, m) / _median(theirs, m):>18.2f}" for m in METRICS)
        print(f"  {'ratio annolog/static':<22}{ratios}")


def run(args: argparse.Namespace, root: Path) -> None:
    settings = load_settings(data_dir=root / "data")
    site, seeding = timed(lambda: prepare(settings, args.files, args.instances))
    print(
        f"{args.files:,} files x {BOXES_PER_FILE} boxes ({PHOTOS} distinct {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEGs) "
        f"and one file of {args.instances:,} boxes seeded in {seeding:.1f} s (embedded default: SQLite, local blobs)"
    )
    with ExitStack() as stack:
        url = stack.enter_context(serving(settings, 1, root))
        paths = static_copy(url, site, root / "static")
        static_url = stack.enter_context(static_server(root / "static", root))
        driver = start_chromium(root / "chromium")
        stack.callback(driver.quit)
        sign_in(driver, url, site.token)
        for title, path in (("directory page", site.directory_page), ("file page", site.file_page)):
            first, _ = timed(lambda: load(driver, url + path, cold=True))
            sizes = (root / "static" / paths[path].lstrip("/")).stat().st_size
            print(
                f"\n{title} {path} ({sizes / 1e3:,.0f} kB of HTML): the server's first answer after start "
                f"(untimed below) {first['response']:.0f} ms to its first byte, first paint at {first['fcp']:.0f} ms"
            )
            urls = {"annolog": url + path, "static": static_url + paths[path]}
            report(f"  median of {args.repeat}, ms from the start of navigation", measure(driver, urls, args.repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, help="files in the directory page's directory")
    parser.add_argument("--instances", type=int, default=500, help="boxes on the file page's file")
    parser.add_argument("--repeat", type=int, default=5, help="loads of each page, each way, to take the median of")
    args = parser.parse_args()
    if absent := missing():
        parser.exit(2, f"{' and '.join(absent)} not installed: run scripts/chromium.sh install\n")
    with tempfile.TemporaryDirectory(prefix="annolog-bench-web-") as root:
        run(args, Path(root))


if __name__ == "__main__":
    main()
