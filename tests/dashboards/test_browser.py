"""End to end in real headless Chromium: start ``ombud dashboard`` on a seeded database, sign in, open every page,
open a decision's detail, download a report bundle, and refresh the screenshots in ``docs/screenshots/``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit import AuditStore, Filters

from .conftest import PASSWORDS, RAW_PII

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TIMEOUT_MS = 60_000
READY = "You can now view your Streamlit app"

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium, see .ci/system-deps.sh)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(seeded_url: str, users_file: Path) -> Iterator[str]:
    """``ombud dashboard`` on a free 127.0.0.1 port; yields its base URL once Streamlit says it is serving."""
    port = free_port()
    command = [sys.executable, "-m", "guards.cli", "dashboard", "--db", seeded_url, "--port", str(port)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [*command, "--users", str(users_file)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    output = []
    for line in process.stdout:  # blocks until Streamlit prints its ready line (or exits)
        output.append(line)
        if READY in line:
            break
    else:
        pytest.fail("the dashboard did not start:\n" + "".join(output))
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[sync_api.Page]:
    """A signed-in auditor's browser page."""
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        tab.goto(server)
        tab.get_by_role("button", name="Sign in").wait_for()
        shoot(tab, "login")
        tab.get_by_label("User name").fill("arthur")
        tab.get_by_label("Password", exact=True).fill(PASSWORDS["arthur"])
        tab.get_by_role("button", name="Sign in").click()
        tab.get_by_role("heading", name="Overview").wait_for()
        yield tab
        browser.close()


def settle(tab: sync_api.Page) -> None:
    """Wait until Streamlit has finished running the script (no status widget saying it is running)."""
    tab.locator("[data-testid=stStatusWidget]").wait_for(state="detached")
    tab.locator("[data-testid=stSpinner]").wait_for(state="detached")


def shoot(tab: sync_api.Page, name: str) -> None:
    """A full-page screenshot of the app, the scrolling main area expanded to its content."""
    settle(tab)
    height = tab.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    tab.set_viewport_size({"width": 1440, "height": max(1000, int(height) + 40)})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    tab.set_viewport_size({"width": 1440, "height": 1000})
    text = tab.locator("[data-testid=stMain]").inner_text()
    assert not [value for value in RAW_PII if value in text], name


def open_page(tab: sync_api.Page, title: str) -> None:
    """Click a page in the sidebar navigation and wait for its title."""
    tab.locator("[data-testid=stSidebarNav]").get_by_role("link", name=title).click()
    tab.get_by_role("heading", name=title, exact=True).wait_for()


def test_every_page(page: sync_api.Page, seeded_url: str, tmp_path: Path) -> None:
    page.locator("[data-testid=stVegaLiteChart]").first.wait_for()
    shoot(page, "overview")

    open_page(page, "Decisions")
    page.locator("[data-testid=stDataFrame]").first.wait_for()
    email = AuditStore(seeded_url, journal=False).decisions(Filters(label="EMAIL_ADDRESS"), limit=1).items[0]
    box = page.get_by_label("…or a decision id")
    box.fill(email.id)
    box.press("Enter")
    page.locator("mark", has_text="<EMAIL_ADDRESS>").first.wait_for()
    assert email.id in page.locator("[data-testid=stMain]").inner_text()
    shoot(page, "decisions")

    open_page(page, "Fairness")
    page.locator("[data-testid=stVegaLiteChart]").first.wait_for()
    shoot(page, "fairness")

    open_page(page, "Explanations")
    page.locator("[data-testid=stVegaLiteChart]").first.wait_for()
    page.get_by_text("Compute the drivers").click()
    page.get_by_text("explained with SHAP").wait_for()
    shoot(page, "explanations")

    open_page(page, "Policies")
    page.locator("[data-testid=stCode]").last.wait_for()
    shoot(page, "policies")

    open_page(page, "Integrity & reports")
    page.get_by_role("button", name="Verify the audit chain now").click()
    page.get_by_text("All chains intact").wait_for()
    page.get_by_role("button", name="Generate the report bundle").click()
    download_button = page.get_by_role("button", name="Download the report bundle (.zip)")
    download_button.wait_for()
    with page.expect_download() as download:
        download_button.click()
    bundle = tmp_path / "bundle.zip"
    download.value.save_as(bundle)
    names = zipfile.ZipFile(bundle).namelist()
    assert {"ombud-report/report.html", "ombud-report/report.pdf", "ombud-report/manifest.json"} <= set(names)
    shoot(page, "integrity")
