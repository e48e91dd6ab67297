"""Headless Chromium (Debian's), driven by Playwright (installed by the nox sessions that
use it), and a code-server login through it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

CHROMIUM = "/usr/bin/chromium"
# The flags a machine with a closed network needs: without the background-networking ones
# Chromium keeps trying to reach Google and its connections are refused.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium() -> Iterator:
    """A headless Chromium (a Playwright ``Browser``), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def code_server_login(browser, port: int, password: str):
    """Open code-server at 127.0.0.1:port in a new page, log in, wait for the workbench."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"http://127.0.0.1:{port}/")
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")
    page.wait_for_selector(".monaco-workbench", timeout=180_000)
    return page
