"""Debian's Chromium for the browser tests: where it is, the flags that keep it off the network, and a page that
records every address it asks for."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")  # none: the browser tests skip
CHROMIUM_ARGS = [  # the machine's closed network: no background, sync or update connections at all
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
]  # fmt: skip


@contextmanager
def offline_page() -> Iterator[tuple[Page, list[str], list[str]]]:
    """A Chromium page, the address of every request it makes, and its script and console errors."""
    from playwright.sync_api import sync_playwright

    requested: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = chromium.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        try:
            yield page, requested, errors
        finally:
            chromium.close()
