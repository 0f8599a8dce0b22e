"""Debian's `chromium`, headless, driven by Selenium through Debian's `chromedriver`.

Both binaries are given by path and Selenium Manager is told to stay offline
(`SE_OFFLINE`), so nothing ever downloads a browser or a driver: `.ci/run` installs the
two packages. Where they are missing the browser test fails, naming them: it is never
skipped.

The flags are the ones a container needs: `--no-sandbox` (Chromium refuses to start as
root without it: "Running as root without --no-sandbox is not supported"),
`--disable-dev-shm-usage` (a container's `/dev/shm` is often 64 MB), and the new headless
mode, which renders as a windowed Chromium does (the screenshots go into the docs).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1400, 900)
WAIT = 120.0  # seconds at most for a page to show what is asked of it
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--disable-extensions",
    "--hide-scrollbars",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)


def require_chromium() -> None:
    """Fail, naming the packages, where the browser is not installed: never skipped."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(str(p))]
    if not missing:
        return
    pytest.fail(
        f"{', '.join(missing)} missing: apt-get install chromium chromium-driver (.ci/run does)"
    )


@contextmanager
def chromium(log: Path) -> Iterator[webdriver.Chrome]:
    """One headless Chromium session; quit when the block ends, however it ends."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    # A driver path given skips Selenium Manager; SE_OFFLINE keeps it from fetching anything
    # should a later Selenium consult it anyway.
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(log))
    saved = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"
    try:
        driver = webdriver.Chrome(service=service, options=options)
    finally:
        if saved is None:
            os.environ.pop("SE_OFFLINE")
        else:
            os.environ["SE_OFFLINE"] = saved
    try:
        # The page itself gets exactly WINDOW (a window's size would include its frame).
        width, height = WINDOW
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        driver.set_page_load_timeout(WAIT)
        yield driver
    finally:
        driver.quit()


class Page:
    """Explicit waits on what a rendered page shows (never on time), with a screenshot
    and the page's text in the error when it never shows it."""

    def __init__(self, driver: webdriver.Chrome, base_url: str, evidence: Path) -> None:
        self.driver, self.base_url, self.evidence = driver, base_url, evidence

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def remember(self, preferences: dict[str, object]) -> None:
        """Set the UI's own saved preferences (its localStorage, JSON values), as an
        operator's browser keeps them from one visit to the next."""
        self.open("/server_info")  # any page of the webserver's origin
        for key, value in preferences.items():
            self.driver.execute_script(
                "window.localStorage.setItem(arguments[0], JSON.stringify(arguments[1]))",
                key,
                value,
            )

    def press(self, key: str, *, alt: bool = False) -> None:
        """A keyboard shortcut of the page, e.g. Alt+E."""
        keys = ActionChains(self.driver)
        if alt:
            keys = keys.key_down(Keys.ALT)
        keys = keys.send_keys(key)
        if alt:
            keys = keys.key_up(Keys.ALT)
        keys.perform()

    def click_text(self, text: str) -> None:
        """Click the element whose own text is `text`, once it is shown."""
        xpath = f"//*[normalize-space(text())='{text}']"
        self._wait().until(lambda d: d.find_element(By.XPATH, xpath).is_displayed())
        self.driver.find_element(By.XPATH, xpath).click()

    def type_into(self, css: str, text: str) -> None:
        self._wait().until(lambda d: d.find_element(By.CSS_SELECTOR, css))
        self.driver.find_element(By.CSS_SELECTOR, css).send_keys(text)

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def wait_for(
        self,
        what: str,
        shown: Callable[[str], bool],
        missing: Callable[[str], object] = lambda text: "",
    ) -> str:
        """Wait until `shown(visible text of the page)` holds and return that text; else
        fail with `missing(text)`, the page's text and a screenshot in `evidence`."""

        def check(_) -> str | bool:
            text = self.text()
            return text if shown(text) else False

        try:
            return self._wait().until(check)
        except TimeoutException:
            name = "".join(c if c.isalnum() else "-" for c in what)[:60]
            self.driver.save_screenshot(str(self.evidence / f"{name}.png"))
            text = self.text()
            raise AssertionError(
                f"the page never showed {what} ({self.driver.current_url}) {missing(text)}; "
                f"it shows:\n{text[:4000]}"
            ) from None

    def _wait(self) -> WebDriverWait:
        """Polls until WAIT; a page re-rendering under a poll is polled again."""
        return WebDriverWait(
            self.driver,
            WAIT,
            poll_frequency=0.5,
            ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
        )

    def until(
        self, what: str, done: Callable[[], bool], nudge: Callable[[], None] | None = None
    ) -> None:
        """Wait until `done()`, calling `nudge()` after each poll that found it not done."""

        def check(_) -> bool:
            if done():
                return True
            if nudge:
                nudge()
            return False

        try:
            self._wait().until(check)
        except TimeoutException:
            raise AssertionError(f"never {what} ({self.driver.current_url})") from None

    def wait_for_all(self, texts: list[str], what: str) -> str:
        return self.wait_for(
            what,
            lambda text: all(t in text for t in texts),
            lambda text: f"missing {[t for t in texts if t not in text]}",
        )

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
