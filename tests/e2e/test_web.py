"""The web pages over HTTP (FastAPI's TestClient on the embedded default): signing in and out,
what each reader sees and may not see, slices, keyset pages, pinned versions, a file's story
and the audit. The role × page matrix over the real stack is in test_web_access.py."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

import annolog
from annolog.api.bootstrap import build_service
from annolog.api.http import create_app
from annolog.api.http.web import diffs, pages
from annolog.api.settings import load_settings
from annolog.api.tokens import Tokens
from annolog.core import AddInstance
from annolog.core.errors import NotFoundError
from tests.e2e.conftest import jpeg

COOKIE = "annolog_session"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A project with an open directory (a photo mirrored into a restricted directory and copied
    into another open one, and a text file), a restricted one; a tag before the photo's box
    moved, a second box and the last file; a rejected commit."""
    service = build_service(load_settings(data_dir=tmp_path_factory.mktemp("web") / "data"))
    owner = annolog.Client(service, actor="olive")
    project = owner.create_project("cars", labels=["car", "person"])
    train, secret = project.directory.new("train"), project.directory.new("secret", access_type="restricted")
    photo = train.add_file(jpeg(), name="street.jpg")
    box = photo.add_instance("car", box=(4, 6, 30, 20), attributes={"occluded": True})
    photo.add_instance("person", kind="polygon", points=[(2, 2), (20, 5), (10, 30)])
    secret.add(photo)
    hidden = secret.add_file(jpeg("blue"), name="classified.jpg")
    copy = photo.copy(project.directory.new("val"))
    notes = train.add_file(b"not an image", name="notes.txt")
    project.tag("first")
    tagged = project.version
    box.update(box=(5, 6, 31, 21))
    second = photo.add_instance("car", box=(40, 10, 60, 30))
    late = train.add_file(jpeg("green"), name="late.jpg")
    with pytest.raises(NotFoundError):  # judged and rejected: no such file
        project.execute([AddInstance(file_id=hidden.id.hex[::-1], label="car", kind="box", points=((1, 1), (2, 2)))])
    project.grant("vic", "viewer")
    tokens = Tokens(service.engine)
    yield {
        "app": create_app(service),
        "token": {who: tokens.create(who, created_by="test") for who in ("olive", "vic", "stranger")},
        "photo": photo,
        "box": box,
        "second": second,
        "copy": copy,
        "hidden": hidden,
        "late": late,
        "notes": notes,
        "tagged": tagged,
        "version": project.version,
    }
    service.engine.dispose()


def _browser(world: dict[str, Any], who: str | None = None) -> TestClient:
    client = TestClient(world["app"], follow_redirects=False)
    if who is not None:
        assert client.post("/ui/signin", data={"token": world["token"][who]}).status_code == 303
    return client


def test_signing_in_sets_an_httponly_samesite_strict_cookie_and_goes_on_to_the_page_asked_for(
    world: dict[str, Any],
) -> None:
    response = _browser(world).post("/ui/signin", data={"token": world["token"]["vic"], "next": "/ui/p/cars/v/1/"})
    assert (response.status_code, response.headers["location"]) == (303, "/ui/p/cars/v/1/")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={world['token']['vic']};")
    assert {"HttpOnly", "Path=/", "SameSite=strict"} <= {part.strip() for part in cookie.split(";")}
    assert "Secure" not in cookie  # plain http here; https gets Secure


def test_a_wrong_token_gets_the_form_again_with_401_and_no_cookie(world: dict[str, Any]) -> None:
    response = _browser(world).post("/ui/signin", data={"token": "al_not-a-token"})
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert "not known here" in response.text


def test_signing_out_clears_the_cookie_and_the_pages_ask_to_sign_in_again(world: dict[str, Any]) -> None:
    browser = _browser(world, "vic")
    assert browser.get("/ui/").status_code == 200
    response = browser.post("/ui/signout")
    assert (response.status_code, response.headers["location"]) == (303, "/ui/signin")
    assert re.match(rf'{COOKIE}=""; .*Max-Age=0', response.headers["set-cookie"])
    assert browser.get("/ui/").status_code == 401


def test_a_page_without_a_session_is_the_sign_in_form_with_401_and_comes_back_after(world: dict[str, Any]) -> None:
    response = _browser(world).get("/ui/p/cars/v/latest/d/train?query=labels.car+%3E+0")
    assert response.status_code == 401
    assert 'name="next" value="/ui/p/cars/v/latest/d/train?query=labels.car+%3E+0"' in response.text
    assert "street.jpg" not in response.text


def test_sign_in_never_sends_the_reader_to_another_site(world: dict[str, Any]) -> None:
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil.example", "/ui//evil.example"):
        response = _browser(world).post("/ui/signin", data={"token": world["token"]["vic"], "next": elsewhere})
        assert response.headers["location"] == "/ui/", elsewhere


def test_a_sign_in_posted_from_another_site_is_refused(world: dict[str, Any]) -> None:
    response = _browser(world).post(
        "/ui/signin", data={"token": world["token"]["vic"]}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


def test_the_api_stays_bearer_only_and_ignores_the_cookie(world: dict[str, Any]) -> None:
    browser = _browser(world, "olive")
    assert browser.get("/projects").status_code == 401


def test_a_stranger_sees_no_project_and_no_page_of_one(world: dict[str, Any]) -> None:
    browser = _browser(world, "stranger")
    assert "cars" not in browser.get("/ui/").text
    response = browser.get("/ui/p/cars/v/latest/d/train")
    assert response.status_code == 403
    assert "street.jpg" not in response.text


def test_a_viewer_sees_the_open_directory_with_each_box_drawn_where_it_is(world: dict[str, Any]) -> None:
    page = _browser(world, "vic").get("/ui/p/cars/v/latest/d/train")
    assert page.status_code == 200
    assert "street.jpg" in page.text and "<strong>3</strong> files" in page.text
    assert 'viewBox="0 0 64 48"' in page.text
    box = re.search(rf'<rect ([^>]*)data-instance="{world["box"].id}"', page.text)
    assert box is not None
    assert 'x="5" y="6" width="26" height="15"' in box[1]  # its latest revision, in pixels
    assert '<polygon points="2,2 20,5 10,30"' in page.text


def test_a_viewer_without_a_grant_gets_403_pages_with_no_file_names_or_images(world: dict[str, Any]) -> None:
    browser, hidden, version = _browser(world, "vic"), world["hidden"].id, world["version"]
    for path in (
        "/ui/p/cars/v/latest/d/secret",
        f"/ui/p/cars/v/latest/f/{hidden}?d=secret",
        f"/ui/p/cars/v/{version}/f/{hidden}/image?d=secret",
    ):
        response = browser.get(path)
        assert response.status_code == 403, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert "classified.jpg" not in response.text and "<image" not in response.text, path


def test_a_restricted_file_by_id_through_the_readable_directories_is_not_found(world: dict[str, Any]) -> None:
    browser, hidden, version = _browser(world, "vic"), world["hidden"].id, world["version"]
    for path in (f"/ui/p/cars/v/latest/f/{hidden}", f"/ui/p/cars/v/{version}/f/{hidden}/image?d=train"):
        response = browser.get(path)
        assert response.status_code == 404, path
        assert "classified.jpg" not in response.text


def test_the_image_route_serves_the_bytes_to_a_reader_and_304_when_unchanged(world: dict[str, Any]) -> None:
    browser, photo = _browser(world, "vic"), world["photo"]
    response = browser.get(f"/ui/p/cars/v/{world['version']}/f/{photo.id}/image?d=train")
    assert (response.status_code, response.headers["content-type"]) == (200, "image/jpeg")
    assert response.content == jpeg()
    again = browser.get(response.request.url, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_image_addresses_of_a_version_yet_to_come_or_past_32_bits_are_refused_not_served(
    world: dict[str, Any],
) -> None:
    browser, photo = _browser(world, "vic"), world["photo"]
    for route in ("image", "thumbnail"):
        future = browser.get(f"/ui/p/cars/v/{world['version'] + 100}/f/{photo.id}/{route}?d=train")
        huge = browser.get(f"/ui/p/cars/v/{2**70}/f/{photo.id}/{route}?d=train")
        weak = browser.get(f"/ui/p/cars/v/{world['version']}/f/{photo.id}/{route}?d=train")
        cached = browser.get(weak.request.url, headers={"If-None-Match": f'W/{weak.headers["etag"]}, "other"'})

        assert (future.status_code, huge.status_code) == (404, 422), route
        assert "does not exist" in future.text and future.headers.get("cache-control") != weak.headers["cache-control"]
        assert cached.status_code == 304, route


def test_a_slice_that_does_not_parse_shows_the_caret_under_the_query(world: dict[str, Any]) -> None:
    response = _browser(world, "vic").get("/ui/p/cars/v/latest/d/train", params={"query": "labels.car >"})
    assert response.status_code == 422
    error = re.search(r'<pre id="query-error"[^>]*>(.*?)</pre>', response.text, re.S)
    assert error is not None
    message = error[1].splitlines()
    assert "column 13" in message[0]
    assert message[1].strip() == "labels.car &gt;" and message[2] == "  " + " " * 12 + "^"
    assert 'value="labels.car &gt;"' in response.text  # the query stays in the box, to be fixed


def test_a_slice_shows_only_its_files_and_their_count(world: dict[str, Any]) -> None:
    response = _browser(world, "vic").get("/ui/p/cars/v/latest/d/train", params={"query": "labels.car > 0"})
    assert response.status_code == 200
    assert "<strong>1</strong> file match" in response.text
    assert "late.jpg" not in response.text


def test_keyset_pages_show_every_file_once_and_carry_the_slice(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "PAGE_SIZE", 1)
    browser, seen, path = _browser(world, "vic"), [], "/ui/p/cars/v/latest/d/train?query=labels.person+%3E%3D+0"
    while path:
        assert "query=labels.person" in path  # every page is of the slice
        page = browser.get(path)
        assert page.status_code == 200
        seen += re.findall(r'<li class="tile" data-file="([^"]+)"', page.text)
        following = re.search(r'<a rel="next" href="([^"]+)"', page.text)
        path = following[1].replace("&amp;", "&") if following else ""
    assert sorted(seen) == sorted(str(f.id) for f in (world["photo"], world["notes"], world["late"]))
    assert len(seen) == 3


def test_a_tag_shows_the_directory_as_it_was_and_latest_as_it_is(world: dict[str, Any]) -> None:
    browser = _browser(world, "vic")
    at_tag = browser.get("/ui/p/cars/v/first/d/train")
    assert "late.jpg" not in at_tag.text and f"at v{world['tagged']}" in at_tag.text
    assert "late.jpg" in browser.get("/ui/p/cars/v/latest/d/train").text


def test_the_version_picker_opens_the_same_page_at_the_version_picked(world: dict[str, Any]) -> None:
    browser = _browser(world, "vic")
    response = browser.get("/ui/p/cars/at", params={"version": "first", "then": "d/train?query=labels.car+%3E+0"})
    assert (response.status_code, response.headers["location"]) == (
        303,
        "/ui/p/cars/v/first/d/train?query=labels.car+%3E+0",
    )
    unknown = browser.get("/ui/p/cars/at", params={"version": "no-such-tag", "then": "d/train"})
    assert unknown.status_code == 404 and "first" in unknown.text  # the tags that exist


def test_the_file_page_lists_instances_mirrors_lineage_and_history(world: dict[str, Any]) -> None:
    owner, photo, copy = _browser(world, "olive"), world["photo"], world["copy"]
    page = owner.get(f"/ui/p/cars/v/latest/f/{photo.id}?d=train").text
    assert re.search(
        r"<td>box</td>.*?<code>\{&#34;occluded&#34;: true\}</code></td>\s*<td class=\"number\">2</td>", page, re.S
    )
    assert '<a href="/ui/p/cars/v/latest/d/secret">secret</a>' in page  # mirrored there
    assert "InstanceChanged" in page and "<del>" in page and "<ins>" in page  # before and after
    copied = owner.get(f"/ui/p/cars/v/latest/f/{copy.id}?d=val").text
    assert f'<a href="/ui/p/cars/v/latest/f/{photo.id}">{photo.id}</a>' in copied


def test_a_mirror_into_a_restricted_directory_is_not_shown_without_its_grant(world: dict[str, Any]) -> None:
    page = _browser(world, "vic").get(f"/ui/p/cars/v/latest/f/{world['photo'].id}?d=train").text
    assert '<a href="/ui/p/cars/v/latest/d/train">train</a></li>' in page
    assert "/d/secret" not in page


def test_the_audit_page_shows_admins_the_history_and_the_rejected_commits(world: dict[str, Any]) -> None:
    page = _browser(world, "olive").get("/ui/p/cars/audit", params={"event": "FileAdded"}).text
    assert "classified.jpg" in page and "InstanceChanged</td>" not in page
    assert "AddInstance" in page and "does not exist" in page  # the rejected commit and its reason
    assert _browser(world, "vic").get("/ui/p/cars/audit").status_code == 403


def test_pages_allow_nothing_from_other_origins_and_are_never_cached(world: dict[str, Any]) -> None:
    response = _browser(world, "vic").get("/ui/")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


def test_an_address_with_no_page_is_a_404_page(world: dict[str, Any]) -> None:
    response = _browser(world).get("/ui/p/cars/nothing-here")
    assert (response.status_code, response.headers["content-type"][:9]) == (404, "text/html")


def test_the_grid_shows_thumbnails_cached_for_good_and_304_when_the_browser_holds_them(world: dict[str, Any]) -> None:
    browser, photo, version = _browser(world, "vic"), world["photo"], world["version"]
    grid = browser.get("/ui/p/cars/v/latest/d/train").text
    src = f"/ui/p/cars/v/{version}/f/{photo.id}/thumbnail?size=256&amp;d=train"
    assert f'<image href="{src}"' in grid
    response = browser.get(src.replace("&amp;", "&"))
    assert (response.status_code, response.headers["content-type"]) == (200, "image/jpeg")
    assert response.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert response.headers["etag"] == f'"{photo.sha256}-256"'
    again = browser.get(src.replace("&amp;", "&"), headers={"If-None-Match": response.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")


def test_a_file_that_is_no_image_shows_a_placeholder_not_a_broken_image(world: dict[str, Any]) -> None:
    browser, notes = _browser(world, "vic"), world["notes"]
    tile = re.search(rf'data-file="{notes.id}">(.*?)</li>', browser.get("/ui/p/cars/v/latest/d/train").text, re.S)
    assert tile is not None and 'class="thumb no-image">text/plain' in tile[1] and "<image" not in tile[1]
    response = browser.get(f"/ui/p/cars/v/{world['version']}/f/{notes.id}/thumbnail?d=train")
    assert (response.status_code, response.headers["location"]) == (307, "/ui/static/no-thumbnail.svg")
    placeholder = browser.get(response.headers["location"])
    assert (placeholder.status_code, placeholder.headers["content-type"]) == (200, "image/svg+xml")


def test_a_thumbnail_size_not_offered_is_a_422_naming_the_sizes(world: dict[str, Any]) -> None:
    path = f"/ui/p/cars/v/{world['version']}/f/{world['photo'].id}/thumbnail?size=300&d=train"
    response = _browser(world, "vic").get(path)
    assert response.status_code == 422 and "128, 256, 512" in response.text


def test_a_restricted_files_thumbnail_is_refused_to_a_reader_without_the_grant(world: dict[str, Any]) -> None:
    browser, hidden, version = _browser(world, "vic"), world["hidden"].id, world["version"]
    assert browser.get(f"/ui/p/cars/v/{version}/f/{hidden}/thumbnail?d=secret").status_code == 403
    assert browser.get(f"/ui/p/cars/v/{version}/f/{hidden}/thumbnail").status_code == 404


def test_tags_are_listed_with_their_project_and_offered_by_the_version_picker(world: dict[str, Any]) -> None:
    browser = _browser(world, "vic")
    assert (
        '<a class="tag" href="/ui/p/cars/v/first/" title="v{}">first</a>'.format(world["tagged"])
        in browser.get("/ui/").text
    )
    at_tag = browser.get("/ui/p/cars/v/first/d/train").text
    assert f'<option value="first">v{world["tagged"]}</option>' in at_tag
    assert '<span class="tag">first</span>' in at_tag  # the version shown is the tag's
    assert '<span class="tag">first</span>' not in browser.get("/ui/p/cars/v/latest/d/train").text


def _changes(page: str) -> dict[str, str]:
    return dict(re.findall(r'<li class="file-change [a-z]+" data-file="([^"]+)" data-change="([a-z]+)"', page))


def test_the_diff_of_two_tags_shows_files_added_and_instances_changed_drawn_before_and_after(
    world: dict[str, Any],
) -> None:
    photo, box, second = world["photo"], world["box"], world["second"]
    response = _browser(world, "vic").get("/ui/p/cars/diff", params={"base": "first", "head": "latest", "d": "train"})
    assert response.status_code == 200
    assert _changes(response.text) == {str(photo.id): "changed", str(world["late"].id): "added"}
    before, after = re.findall(r'<figure class="(?:before|after)">(.*?)</figure>', response.text, re.S)[:2]
    assert re.search(rf'<rect x="4" y="6" width="26" height="14" [^>]*data-instance="{box.id}" class="changed"', before)
    assert re.search(rf'<rect x="5" y="6" width="26" height="15" [^>]*data-instance="{box.id}" class="changed"', after)
    assert f'data-instance="{second.id}" class="added"' in after and str(second.id) not in before
    assert f"/ui/p/cars/v/{world['tagged']}/f/{photo.id}/thumbnail?size=512&amp;d=train" in before
    assert re.search(rf'<tr data-instance="{second.id}" class="added">', response.text)


def test_diff_pages_carry_the_versions_as_written_so_a_tagged_diff_stays_a_tagged_diff(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(diffs, "PAGE_SIZE", 1)
    browser, seen, path = _browser(world, "vic"), {}, "/ui/p/cars/diff?base=first&head=latest&d=train"
    while path:
        assert path.startswith("/ui/p/cars/diff?base=first&head=latest&d=train")
        page = browser.get(path).text
        seen |= _changes(page)
        following = re.search(r'<a rel="next" href="([^"]+)"', page)
        path = following[1].replace("&amp;", "&") if following else ""
    assert seen == {str(world["photo"].id): "changed", str(world["late"].id): "added"}


def test_a_diff_from_a_newer_to_an_older_version_is_a_422_saying_to_swap_them(world: dict[str, Any]) -> None:
    response = _browser(world, "vic").get("/ui/p/cars/diff", params={"base": "latest", "head": "first"})
    assert response.status_code == 422 and "swap them" in response.text


def test_the_diff_form_alone_asks_for_the_versions_and_head_defaults_to_latest(world: dict[str, Any]) -> None:
    page = _browser(world, "vic").get("/ui/p/cars/diff").text
    assert '<input name="head" value="latest"' in page and "file-change" not in page


def test_a_diff_of_a_restricted_directory_is_refused_without_its_grant(world: dict[str, Any]) -> None:
    response = _browser(world, "vic").get("/ui/p/cars/diff", params={"base": "1", "head": "latest", "d": "secret"})
    assert response.status_code == 403 and "classified.jpg" not in response.text


def test_the_directory_page_links_to_the_changes_since_each_tag(world: dict[str, Any]) -> None:
    page = _browser(world, "vic").get("/ui/p/cars/v/latest/d/train").text
    assert '<a href="/ui/p/cars/diff?base=first&amp;head=latest&amp;d=train">first</a>' in page


def _stats_row(page: str, label: str) -> dict[str, str]:
    row = re.search(rf'<tr data-label="{label}">(.*?)</tr>', page, re.S)
    assert row is not None, label
    cells = re.findall(r'<td class="number (?:delta )?([a-z-]+)">(.*?)</td>', row[1], re.S)
    return {name: re.sub(r"<[^>]+>", "", value).strip() for name, value in cells}


def test_label_statistics_count_instances_and_files_per_label_and_their_change_since_a_tag(
    world: dict[str, Any],
) -> None:
    page = _browser(world, "vic").get("/ui/p/cars/v/latest/stats", params={"since": "first", "d": "train"}).text
    assert _stats_row(page, "car") == {"instances": "2", "instances-delta": "+1", "files": "1", "files-delta": "0"}
    assert _stats_row(page, "person") == {"instances": "1", "instances-delta": "0", "files": "1", "files-delta": "0"}
    assert re.search(r"<strong>3</strong> files\s*\(<ins>\+1</ins> since", page)
    car = re.search(r'<tr data-label="car">.*?</tr>', page, re.S)
    assert car is not None and '<rect width="100.0" height="10"' in car[0]  # the most instances: a full bar


def test_label_statistics_without_another_version_have_no_change_column(world: dict[str, Any]) -> None:
    page = _browser(world, "vic").get("/ui/p/cars/v/first/stats", params={"d": "train"}).text
    assert _stats_row(page, "car") == {"instances": "1", "files": "1"}
    assert "Δ" not in page


def test_a_directory_at_latest_listens_for_changes_and_a_pinned_one_does_not(world: dict[str, Any]) -> None:
    browser = _browser(world, "vic")
    live = browser.get("/ui/p/cars/v/latest/d/train").text
    assert '<script src="/ui/static/live.js" defer></script>' in live
    assert f'data-changes="/ui/p/cars/changes?d=train&amp;since={world["version"]}"' in live
    pinned = browser.get(f"/ui/p/cars/v/{world['version']}/d/train").text
    assert "live.js" not in pinned and "data-changes" not in pinned


def test_the_tiles_fragment_is_the_grid_a_reload_would_show(world: dict[str, Any]) -> None:
    browser = _browser(world, "vic")
    fragment = browser.get("/ui/p/cars/v/latest/tiles", params={"d": "train"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    page = browser.get("/ui/p/cars/v/latest/d/train").text
    tiles = re.compile(r'<li class="tile".*?</li>', re.S)
    assert tiles.findall(fragment.text) == tiles.findall(page) and len(tiles.findall(page)) == 3


def test_the_live_stream_and_tiles_of_a_restricted_directory_are_refused_without_its_grant(
    world: dict[str, Any],
) -> None:
    browser = _browser(world, "vic")
    for path in ("/ui/p/cars/changes?d=secret", "/ui/p/cars/v/latest/tiles?d=secret"):
        response = browser.get(path)
        assert (response.status_code, response.headers["content-type"][:9]) == (403, "text/html"), path
        assert "classified.jpg" not in response.text


def test_label_statistics_since_before_the_directory_existed_count_all_of_it_as_new(world: dict[str, Any]) -> None:
    page = _browser(world, "vic").get("/ui/p/cars/v/latest/stats", params={"since": "1", "d": "train"}).text
    assert _stats_row(page, "car") == {"instances": "2", "instances-delta": "+2", "files": "1", "files-delta": "+1"}
