"""The real browser for end-to-end tests: Debian's headless Chromium via chromium-driver."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def browser() -> Iterator:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        message = (
            "NO CHROMIUM/CHROMEDRIVER: browser tests cannot run (scripts/ensure-test-tools.sh)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-first-run", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1400,1000",
    ):  # fmt: skip
        options.add_argument(flag)
    profile = Path(f"/tmp/rabbitcam-chromium-{uuid.uuid4().hex[:8]}")
    options.add_argument(f"--user-data-dir={profile}")
    session = webdriver.Chrome(options=options, service=Service(driver))
    session.set_page_load_timeout(30)
    yield session
    session.quit()
    shutil.rmtree(profile, ignore_errors=True)


def log_in(browser, base: str, name: str, password: str) -> None:
    """Log in through the login page, as a person does."""
    from testkit.processes import wait_for

    browser.get(f"{base}/login")
    browser.find_element("css selector", "input[name=username]").send_keys(name)
    browser.find_element("css selector", "input[name=password]").send_keys(password)
    browser.find_element("css selector", "main.login button[type=submit]").click()
    wait_for(lambda: "/login" not in browser.current_url, timeout=10)
    assert name in browser.find_element("css selector", "header .account").text
