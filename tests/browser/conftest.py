"""Headless Chromium for the HTML report tests: Debian's chromium and chromium-driver (tests/lab/install-deps.sh
installs them), driven by selenium with explicit paths, so nothing is downloaded.

Without them the browser tests skip, unless MAILPROBE_REQUIRE_LAB=1 (CI), where they fail. Chromium runs
with the background services that would reach out (updates, sync, safe browsing lists, QUIC) switched off and
a fresh profile; the tests load only file:// pages and assert that nothing else was requested.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)
SCREENSHOTS = Path(os.environ.get("MAILPROBE_SCREENSHOTS", Path(__file__).resolve().parents[2] / "reports/screenshots"))


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("MAILPROBE_REQUIRE_LAB") == "1":
        pytest.fail(f"MAILPROBE_REQUIRE_LAB=1 but the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"browser unavailable: {reason}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (selenium WebDriver) logging network requests and console messages."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            _unavailable(f"{path} missing (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[test]')")
    # selenium-manager would download a driver or a browser: point it nowhere, so a call fails loudly
    os.environ["SE_MANAGER_PATH"] = "/nonexistent/selenium-manager"
    os.environ["SE_OFFLINE"] = "true"
    profile = tempfile.mkdtemp(prefix="mailprobe-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
