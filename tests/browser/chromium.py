"""Debian's headless Chromium driven by Selenium, for the browser tests and bench/web.py.

Selenium is pointed at /usr/bin/chromedriver and /usr/bin/chromium (`scripts/chromium.sh
install`, run by `scripts/services.sh start`), so its Selenium Manager never runs and never
downloads a driver.

>>> driver = start_chromium(Path("/tmp/profile"))  # doctest: +SKIP
"""

import os
from pathlib import Path
from unittest.mock import patch

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1280, 900)
"""The page's viewport, and so every screenshot's size: the window's own size counts the
headless browser's hidden toolbars, so the viewport is set exactly (device metrics)."""

_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # the tests may run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers give /dev/shm 64 MB; Chromium crashes past it
    # Nothing but the page under test goes over the network: no updates, sync or phoning home.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)


def missing() -> list[str]:
    """The browser and driver executables that are not installed (empty when both are)."""
    return [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]


def _options(profile: Path) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return options


def start_chromium(profile: Path) -> webdriver.Chrome:
    """Headless Chromium with its profile in ``profile``, its viewport exactly ``WINDOW``; quit it when done."""
    with patch.dict(os.environ, SE_OFFLINE="true"):  # should Selenium Manager ever run, it may not download
        driver = webdriver.Chrome(options=_options(profile), service=Service(executable_path=str(CHROMEDRIVER)))
    width, height = WINDOW
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    try:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    except Exception:
        driver.quit()
        raise
    return driver
