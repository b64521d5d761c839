"""Real Chromium for the pages customers use (the chat widget, forms): Debian's package,
driven by Playwright with `executable_path` (FACTS.md: no browser download). scripts/setup
--test installs it when missing.

Use it from plain (non-async) tests: Playwright's sync API runs its own loop.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium is not installed: run scripts/setup --test (it installs it)")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module; each test opens its own context (no shared cookies or
    storage). Not one per session: while Playwright's sync API is open, its event loop
    counts as running on the main thread, and every later asyncio test (Pilot) in the run
    fails with "Cannot run the event loop while another loop is running"."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: tests run as root in CI, where Chromium's sandbox refuses to start.
        launched = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page in a fresh context (its own cookies and localStorage)."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def own_chromium() -> Iterator[Any]:
    """A Chromium for one test module: `browser = pytest.fixture(scope="module")(own_chromium)`
    in a module that uses the browser, when async (Pilot) tests run after it in the same
    session: Playwright's sync API keeps an event loop running while its browser lives, and
    pytest-asyncio then cannot start its own (the session-wide `browser` above lives on)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()
