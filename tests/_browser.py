"""Headless Chromium for the browser tests: Debian's ``/usr/bin/chromium`` driven by Playwright.

Playwright never downloads a browser here. Without Chromium or Playwright, :func:`need` skips the test
on a developer machine and fails it under CI (``CI=true``), like the tests that need real audio.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def need(ok: bool, what: str) -> None:
    """Skip (fail when ``CI=true``) unless ``ok``."""
    if ok:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {what}")
    pytest.skip(what)


@contextmanager
def chromium(profile_dir: Path, *, viewport: dict | None = None):
    """A persistent Chromium context on the fresh profile ``profile_dir``, closed on exit."""
    need(CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK),
         f"Chromium not found at {CHROMIUM}; install it: apt-get install -y chromium (.ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "the playwright package is missing; pip install -e '.[dev]'")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile_dir), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport=viewport or {"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()
