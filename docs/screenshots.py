"""The README's screenshots, taken from a running portal: ``python docs/screenshots.py [base URL]``.

Start ``make run`` first (its demo data and logins); this signs in as the team lead and saves
the dashboard and the case board, seen from a Chinese browser (``docs/*.zh-CN.png``) and from
an English one (``docs/dashboard.png``, ``docs/case-board.png``). It drives Debian's Chromium
through Playwright, as the browser tests do; Chinese needs a CJK font (``fonts-wqy-microhei``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

DOCS = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "lead")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def main(base: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for locale, shots in (
            ("zh-CN", {"/": "dashboard.zh-CN.png", "/cases/board/": "board.zh-CN.png"}),
            ("en-GB", {"/": "dashboard.png", "/cases/board/": "case-board.png"}),
        ):
            context = browser.new_context(locale=locale, viewport={"width": 1440, "height": 1000})
            page = context.new_page()
            sign_in(page, base)
            for path, name in shots.items():
                page.goto(f"{base}{path}")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(DOCS / name), full_page=False)
                print(f"docs/{name}")
            context.close()
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
