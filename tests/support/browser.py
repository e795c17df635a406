"""Headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by Selenium for the
console's browser tests, with a download folder and screenshots saved by the run."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = Path(os.environ.get("CONSOLE_SCREENSHOT_DIR", ROOT / ".run" / "screenshots"))
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                  "--window-size=1440,960", "--force-device-scale-factor=1", "--lang=en-US")


def find_chromium() -> tuple[str, str]:
    """Paths of the Chromium binary and chromedriver; skips the test run's browser tests with
    the install command when they are missing (``make test`` installs them first)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        pytest.fail("Chromium is not installed: run `make test-deps` "
                    "(apt-get install -y chromium chromium-driver)")
    return binary, driver


def start_chrome(download_dir: Path):
    """A Selenium ``webdriver.Chrome`` on headless Chromium that saves downloads to ``download_dir``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = find_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(download_dir), "download.prompt_for_download": False,
        "safebrowsing.enabled": False})
    browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    browser.set_page_load_timeout(60)
    return browser


def screenshot(browser, name: str, full_page: bool = True) -> Path:
    """Save a PNG of the current page as ``<SCREENSHOT_DIR>/<name>.png`` (the whole page height
    when ``full_page``); returns its path."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    size = browser.get_window_size()
    if full_page:
        height = browser.execute_script("return Math.max(document.body.scrollHeight, 600)")
        browser.set_window_size(size["width"], min(max(height, 700), 4000))
        time.sleep(0.2)
    browser.save_screenshot(str(path))
    if full_page:
        browser.set_window_size(size["width"], size["height"])
    return path


def wait_for_file(folder: Path, suffix: str, timeout: float = 30) -> Path:
    """The first completely downloaded file ending in ``suffix`` in ``folder``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(f"*{suffix}") if not p.name.endswith(".crdownload")]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no {suffix} file downloaded to {folder}: {list(folder.iterdir())}")
