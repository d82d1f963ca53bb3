"""The dashboard as a person sees it: `streamlit run` on the seeded warehouse, opened in Debian's chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from streamlit_fixtures import APP_PATH, TIMEZONE, SeededWarehouse, free_port

pytest_plugins = ["streamlit_fixtures"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT_SECONDS = 60
RENDER_TIMEOUT_MS = 60_000
# Live mode over the default range (2 to 31 March 2026), summed by hand from the seeded rows.
EXPECTED_FIGURES = [
    "17",  # usd attempts: 10 + 5 + 2
    "82.4%",  # usd success: 14 of 17
    "2,280.49 USD",  # usd gross: 1,250.50 + 999.99 + 30.00
    "100.00 USD",  # usd refunds
    "2,130.49 USD",  # usd net: gross - 100.00 refunded - 50.00 lost in a dispute
    "456.78 EUR",
    "444.44 EUR",  # eur net: 456.78 - 12.34
    "1,234,567 JPY",
    "1,230,000 JPY",  # jpy net: 1,234,567 - 4,567
    "12.345 KWD",
    "11.340 KWD",  # kwd net: 12.345 - 1.005
]
NOT_SHOWN = [
    "2,980.49 USD",  # usd gross had 1 March, the day before the range, leaked in
    "12,280.49 USD",  # usd gross had the test-mode row leaked in
    "GBP",  # a test-mode-only currency
]


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing; install it with `apt-get install -y chromium`"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so the browser test may not be skipped)")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def dashboard_url(warehouse_env: SeededWarehouse, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path / "streamlit.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(APP_PATH), *streamlit_options(port)],
            env=dict(os.environ),
            cwd=APP_PATH.parents[1],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}/_stcore/health", server, log_path)
            yield f"http://127.0.0.1:{port}/"
        finally:
            server.terminate()
            server.wait(timeout=30)


def streamlit_options(port: int) -> list[str]:
    options = {
        "server.headless": "true",
        "server.address": "127.0.0.1",
        "server.port": str(port),
        "browser.gatherUsageStats": "false",
    }
    return [part for name, value in options.items() for part in (f"--{name}", value)]


def wait_until_healthy(health_url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(health_url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.3)
    pytest.fail(f"streamlit did not answer {health_url} within {STARTUP_TIMEOUT_SECONDS} s:\n{log_path.read_text()}")


def test_overview_shows_the_live_kpis_in_a_real_browser(
    chromium_path: Path, dashboard_url: str, tmp_path: Path
) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(dashboard_url)
            kpi_values = page.locator('[data-testid="stMetricValue"]')
            kpi_values.nth(4 * 5 - 1).wait_for(timeout=RENDER_TIMEOUT_MS)
            page.locator('[data-testid="stVegaLiteChart"]').nth(3).wait_for(timeout=RENDER_TIMEOUT_MS)
            # Streamlit scrolls inside its own container, so a tall viewport is what gets the whole page in.
            page.set_viewport_size({"width": 1400, "height": 2400})
            page.screenshot(path=tmp_path / "overview.png")
            text = page.locator("body").inner_text()
        finally:
            browser.close()

    for figure in EXPECTED_FIGURES:
        assert figure in text
    for figure in NOT_SHOWN:
        assert figure not in text
    assert TIMEZONE in text
    assert "Traceback" not in text
