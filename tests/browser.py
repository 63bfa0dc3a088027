"""Debian's Chromium for the browser tests: where it is, and the flags that keep it off the network."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")  # none: the browser tests skip
CHROMIUM_ARGS = [  # the machine's closed network: no background, sync or update connections at all
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
]  # fmt: skip
