"""The web pages in a real browser (headless Chromium) against a real `annolog serve`: signing
in and out through the form, boxes drawn where they are, slices, diffs, statistics, a box drawn
by another client appearing live, and the pages a reader without the role gets instead of data.
Each main page is saved as a screenshot under test-output/screenshots/."""

import io
from typing import Any
from uuid import uuid4

import pytest
from PIL import Image
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import create_engine

import annolog
from annolog.api.settings import Settings
from annolog.api.tokens import Tokens
from tests.browser.conftest import Screenshot
from tests.e2e.conftest import jpeg

pytestmark = [pytest.mark.browser, pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]

WIDTH, HEIGHT = 640, 480
BOX = (100.0, 120.0, 300.0, 360.0)
"""The first box, in the image's pixels: left, top, right, bottom."""
LIVE_WAIT_S = 20


def _photo(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (WIDTH, HEIGHT), color).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def world(running_stack: tuple[Settings, str]) -> dict[str, Any]:
    """A project with an open directory (a photo with a box and a polygon, tagged ``first``, then
    a second file), a restricted directory, an owner, a viewer and a stranger with no role."""
    settings, url = running_stack
    tokens = Tokens(create_engine(settings.database_url or ""))
    who = {role: f"{role}-{uuid4().hex[:4]}" for role in ("owner", "viewer", "stranger")}
    token = {role: tokens.create(name, created_by="test") for role, name in who.items()}
    name = f"browse-{uuid4().hex[:6]}"
    project = annolog.Client(url, token=token["owner"]).create_project(name, labels=["car", "person"])
    train, secret = project.directory.new("train"), project.directory.new("secret", access_type="restricted")
    photo = train.add_file(_photo("navy"), name="street.jpg")
    box = photo.add_instance("car", box=BOX)
    photo.add_instance("person", kind="polygon", points=[(400, 100), (600, 150), (500, 400)])
    secret.add_file(jpeg("blue"), name="classified.jpg")
    project.tag("first")
    tagged = project.version
    late = train.add_file(_photo("olive"), name="late.jpg")
    late.add_instance("person", box=(10, 10, 200, 300))
    project.grant(who["viewer"], "viewer")
    return {
        "url": url,
        "project": name,
        "token": token,
        "train": train,
        "photo": photo,
        "box": box,
        "late": late,
        "tagged": tagged,
    }


def _sign_in(page: webdriver.Chrome, world: dict[str, Any], role: str, path: str = "/ui/") -> None:
    page.get(f"{world['url']}/ui/signin?next={path}")
    page.find_element(By.ID, "token").send_keys(world["token"][role])
    page.find_element(By.CSS_SELECTOR, ".signin button[type=submit]").click()
    WebDriverWait(page, 10).until(lambda p: "/ui/signin" not in p.current_url)


def _at(world: dict[str, Any], path: str) -> str:
    return f"{world['url']}/ui/p/{world['project']}/{path}"


def _heading(page: webdriver.Chrome) -> str:
    return page.find_element(By.TAG_NAME, "h1").text


def _box(element: WebElement) -> tuple[float, float, float, float]:
    found = element.parent.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom];", element
    )
    return tuple(found)


def _expected_on_screen(svg: WebElement, box: tuple[float, float, float, float]) -> tuple[float, ...]:
    """Where ``box`` (image pixels) must be on screen: the SVG keeps the image's aspect, centred
    in its element (xMidYMid meet), so it is scaled by the smaller ratio and letterboxed."""
    left, top, right, bottom = _box(svg)
    scale = min((right - left) / WIDTH, (bottom - top) / HEIGHT)
    x0 = left + ((right - left) - WIDTH * scale) / 2
    y0 = top + ((bottom - top) - HEIGHT * scale) / 2
    return (x0 + box[0] * scale, y0 + box[1] * scale, x0 + box[2] * scale, y0 + box[3] * scale)


def _tile(page: webdriver.Chrome, file_id: object) -> WebElement:
    return page.find_element(By.CSS_SELECTOR, f'li.tile[data-file="{file_id}"]')


def test_signing_in_through_the_form_shows_the_projects_and_signing_out_asks_again(
    page: webdriver.Chrome, world: dict[str, Any], screenshot: Screenshot
) -> None:
    page.get(f"{world['url']}/ui/")
    assert _heading(page) == "Sign in"
    screenshot("signin")
    _sign_in(page, world, "viewer")
    assert _heading(page) == "Projects"
    row = page.find_element(By.XPATH, f"//tr[td/a[text()='{world['project']}']]")
    assert row.find_element(By.CSS_SELECTOR, "a.tag").text == "first"
    screenshot("projects")
    page.find_element(By.CSS_SELECTOR, ".signout button").click()
    WebDriverWait(page, 10).until(lambda p: p.current_url.endswith("/ui/signin"))
    page.get(f"{world['url']}/ui/")
    assert _heading(page) == "Sign in" and world["project"] not in page.page_source


def test_a_directory_at_latest_draws_each_box_over_its_thumbnail_where_it_is(
    page: webdriver.Chrome, world: dict[str, Any], screenshot: Screenshot
) -> None:
    _sign_in(page, world, "viewer", f"/ui/p/{world['project']}/v/latest/d/train")
    tile = _tile(page, world["photo"].id)
    svg = tile.find_element(By.CSS_SELECTOR, "svg.thumb")
    rect = svg.find_element(By.CSS_SELECTOR, f'rect[data-instance="{world["box"].id}"]')
    assert _box(rect) == pytest.approx(_expected_on_screen(svg, BOX), abs=1.0)
    image = svg.find_element(By.TAG_NAME, "image")
    assert "/thumbnail?size=256" in image.get_attribute("href")
    loaded = "return fetch(arguments[0]).then(r => [r.status, r.headers.get('content-type')])"
    assert page.execute_script(loaded, image.get_attribute("href")) == [200, "image/jpeg"]
    assert _tile(page, world["late"].id).is_displayed()
    assert page.find_element(By.ID, "file-count").text == "2 files"
    screenshot("directory-latest")


def test_a_directory_at_a_tag_shows_it_as_it_was_and_the_file_page_draws_at_full_size(
    page: webdriver.Chrome, world: dict[str, Any], screenshot: Screenshot
) -> None:
    _sign_in(page, world, "viewer", f"/ui/p/{world['project']}/v/first/d/train")
    assert f"at v{world['tagged']}" in _heading(page)
    assert [t.get_attribute("data-file") for t in page.find_elements(By.CSS_SELECTOR, "li.tile")] == [
        str(world["photo"].id)
    ]
    assert page.find_element(By.ID, "version").get_attribute("value") == "first"
    screenshot("directory-at-tag")
    _tile(page, world["photo"].id).find_element(By.TAG_NAME, "a").click()
    svg = page.find_element(By.CSS_SELECTOR, "svg.full-image")
    rect = svg.find_element(By.CSS_SELECTOR, f'rect[data-instance="{world["box"].id}"]')
    assert _box(rect) == pytest.approx(_expected_on_screen(svg, BOX), abs=1.0)
    screenshot("file")


def test_a_slice_shows_its_files_and_a_bad_one_shows_the_caret(
    page: webdriver.Chrome, world: dict[str, Any], screenshot: Screenshot
) -> None:
    _sign_in(page, world, "viewer", f"/ui/p/{world['project']}/v/latest/d/train")
    query = page.find_element(By.ID, "query")
    query.send_keys("labels.car > 0")
    query.submit()
    WebDriverWait(page, 10).until(lambda p: "query=" in p.current_url)
    tiles = page.find_elements(By.CSS_SELECTOR, "li.tile")
    assert [t.get_attribute("data-file") for t in tiles] == [str(world["photo"].id)]
    screenshot("slice")
    query = page.find_element(By.ID, "query")
    query.clear()
    query.send_keys("labels.car >")
    query.submit()
    error = WebDriverWait(page, 10).until(lambda p: p.find_element(By.ID, "query-error"))
    assert error.text.splitlines()[-1].strip() == "^" and "column 13" in error.text
    assert not page.find_elements(By.CSS_SELECTOR, "li.tile")
    screenshot("bad-slice")


def test_the_diff_of_two_versions_and_the_label_statistics_since_the_tag(
    page: webdriver.Chrome, world: dict[str, Any], screenshot: Screenshot
) -> None:
    _sign_in(page, world, "viewer", f"/ui/p/{world['project']}/v/latest/d/train")
    page.find_element(By.CSS_SELECTOR, ".related").find_element(By.LINK_TEXT, "first").click()
    WebDriverWait(page, 10).until(lambda p: "/diff?" in p.current_url)
    changes = {
        li.get_attribute("data-file"): li.get_attribute("data-change")
        for li in page.find_elements(By.CSS_SELECTOR, "li.file-change")
    }
    assert changes == {str(world["late"].id): "added"}
    added = page.find_element(By.CSS_SELECTOR, "li.file-change figure.after svg")
    assert added.find_elements(By.CSS_SELECTOR, "rect[data-instance]:not(.unchanged)")  # its box, drawn plainly
    screenshot("diff")
    page.get(_at(world, "v/latest/stats?since=first&d=train"))
    person = page.find_element(By.CSS_SELECTOR, 'tr[data-label="person"]')
    assert person.find_element(By.CSS_SELECTOR, ".instances-delta").text == "+1"
    screenshot("stats")


def test_a_box_drawn_by_another_client_and_a_new_file_appear_live_without_a_reload(
    page: webdriver.Chrome, world: dict[str, Any], screenshot: Screenshot
) -> None:
    _sign_in(page, world, "viewer", f"/ui/p/{world['project']}/v/latest/d/train")
    WebDriverWait(page, LIVE_WAIT_S).until(
        lambda p: p.execute_script("return document.documentElement.dataset.live") == "open"
    )
    page.execute_script("window.notReloaded = true")
    untouched = f'li[data-file="{world["late"].id}"]'  # its tile must stay the same element, image and all
    page.execute_script(f"document.querySelector('{untouched}').kept = true")  # a property: not in its HTML
    # The owner's SDK client, not the browser: the page learns of it only through the stream.
    drawn = world["photo"].add_instance("car", box=(350, 300, 600, 460))
    arrived = world["train"].add_file(_photo("maroon"), name="arrived.jpg")

    selector = f'rect[data-instance="{drawn.id}"]'
    rect = WebDriverWait(page, LIVE_WAIT_S).until(lambda p: p.find_element(By.CSS_SELECTOR, selector))
    WebDriverWait(page, LIVE_WAIT_S).until(lambda p: p.find_elements(By.CSS_SELECTOR, f'li[data-file="{arrived.id}"]'))
    svg = _tile(page, world["photo"].id).find_element(By.CSS_SELECTOR, "svg.thumb")
    assert _box(rect) == pytest.approx(_expected_on_screen(svg, (350, 300, 600, 460)), abs=1.0)
    assert page.execute_script("return window.notReloaded") is True
    assert page.execute_script(f"return document.querySelector('{untouched}').kept") is True
    latest = world["train"].project.version  # the heading names the version the grid shows now
    WebDriverWait(page, LIVE_WAIT_S).until(lambda p: _heading(p) == f"train at v{latest}")
    screenshot("live")


def test_a_reader_without_the_role_gets_not_allowed_and_not_found_pages_not_data(
    page: webdriver.Chrome, world: dict[str, Any], screenshot: Screenshot
) -> None:
    _sign_in(page, world, "stranger", f"/ui/p/{world['project']}/v/latest/d/train")
    assert _heading(page) == "Not allowed (403)"
    assert "street.jpg" not in page.page_source and "<image" not in page.page_source
    screenshot("forbidden")
    page.execute_cdp_cmd("Network.clearBrowserCookies", {})
    _sign_in(page, world, "viewer", f"/ui/p/{world['project']}/v/latest/d/secret")
    assert _heading(page) == "Not allowed (403)" and "classified.jpg" not in page.page_source
    page.get(_at(world, f"v/latest/f/{uuid4()}"))
    assert _heading(page) == "Not found (404)"
    screenshot("not-found")
