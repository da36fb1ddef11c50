"""Debian's Chromium driven by Playwright (never a downloaded browser), with a dialog and console watch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextmanager
def chromium_page(base_url: str, downloads: Path) -> Iterator[tuple[object, list[str]]]:
    """A page on `base_url`; the list collects every dialog message (an XSS would open one)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/system-deps.sh)")
    from playwright.sync_api import sync_playwright

    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=base_url, accept_downloads=True,
                                          viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(20_000)

            def on_dialog(dialog) -> None:  # type: ignore[no-untyped-def]
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            yield page, dialogs
            context.close()
        finally:
            browser.close()


def assert_inert(page) -> None:  # type: ignore[no-untyped-def]
    """No payload ran and none became an element: no inline script, no injected img, no handler attribute."""
    found = page.evaluate("""() => ({
        xss: typeof window.__xss !== 'undefined',
        inlineScripts: document.querySelectorAll('script:not([src])').length,
        injectedImages: document.querySelectorAll('img[src="x"]').length,
        handlers: Array.from(document.querySelectorAll('*')).filter(
            el => Array.from(el.attributes).some(a => a.name.startsWith('on'))).length,
        scripts: Array.from(document.scripts).map(s => s.getAttribute('src')),
    })""")
    assert found == {"xss": False, "inlineScripts": 0, "injectedImages": 0, "handlers": 0,
                     "scripts": ["/static/app.js"]}, found


def sign_in_as(page, user: str, password: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in through the form, as a person does, and wait for the projects list."""
    page.goto("/users/sign_in")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/projects")
