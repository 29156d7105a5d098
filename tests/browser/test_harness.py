"""The browser harness itself: headless Chromium opens a page of a running `annolog serve`,
runs its script, and saves a screenshot a person can open."""

import pytest
from PIL import Image
from selenium import webdriver
from selenium.webdriver.common.by import By

from annolog.api.settings import Settings
from tests.browser.chromium import WINDOW
from tests.browser.conftest import Screenshot

pytestmark = [pytest.mark.browser, pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]


def test_headless_chromium_shows_the_servers_health_and_saves_a_screenshot_of_it(
    running_stack: tuple[Settings, str], page: webdriver.Chrome, screenshot: Screenshot
) -> None:
    page.get(f"{running_stack[1]}/health")

    assert '"status":"ok"' in page.find_element(By.TAG_NAME, "body").text
    assert "HeadlessChrome" in page.execute_script("return navigator.userAgent")
    assert page.execute_script("return [innerWidth, innerHeight]") == list(WINDOW)
    with Image.open(screenshot("health")) as saved:
        assert saved.format == "PNG" and saved.size == WINDOW
