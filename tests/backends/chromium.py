"""A real headless Chromium for the dashboard's tests: Debian's ``chromium``
and ``chromium-driver``, installed with apt-get when missing and the tests run
as root, driven through Selenium. A browser that cannot be had is a failure,
never a skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

INSTALL_TIMEOUT_S = 900
PACKAGES = ["chromium", "chromium-driver"]
# As this machine's notes say: without the background-networking flags, Chromium keeps trying hosts the
# closed network refuses.
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1800"]


class BrowserUnavailable(RuntimeError):
    pass


def binaries() -> tuple[str, str]:
    """Chromium and its driver, installed first if need be."""
    found = shutil.which("chromium"), shutil.which("chromedriver")
    if all(found):
        return found  # type: ignore[return-value]
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BrowserUnavailable("chromium and chromium-driver are not installed, and this is no root shell with "
                                 "apt-get to install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = None
    for command in (["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES], ["apt-get", "update"],
                    ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        found = shutil.which("chromium"), shutil.which("chromedriver")
        if all(found):
            return found  # type: ignore[return-value]
    raise BrowserUnavailable(f"apt-get could not install {' '.join(PACKAGES)}: {done.stderr[-2000:] if done else ''}")


def browser():
    """A new headless Chromium under Selenium, its console kept for the test to read."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='anthroproxy-chromium-')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)
