"""The dashboard as people see it: `streamlit run` on the warehouse built end to end, signed in through a local
OpenID Connect provider (oidc-provider-mock) in Debian's chromium, exactly as `st.login` runs in production.

Screenshots of every page go to a temporary folder, or to docs/screenshots/ (shown in README) with
PAYOPS_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, sync_playwright
from streamlit_fixtures import (
    ADMIN,
    ANALYST,
    APP_PATH,
    DISABLED,
    SERVER_PATH,
    UNKNOWN,
    add_app_users,
    free_port,
)

from streamlit_app import sign_in

pytest_plugins = ["streamlit_fixtures"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_TIMEOUT_SECONDS = 60
RENDER_TIMEOUT_MS = 60_000
PAGES = {"overview": "", "revenue": "revenue", "failures": "failures", "disputes": "disputes", "refunds": "refunds",
         "transactions": "transactions", "students": "students", "reconciliation": "reconciliation",
         "fraud": "fraud", "webhooks": "webhooks", "system_health": "system_health"}
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing; install it with `apt-get install -y chromium`"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so the browser test may not be skipped)")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    return SCREENSHOTS if os.environ.get("PAYOPS_UPDATE_SCREENSHOTS") else tmp_path


def wait_until_healthy(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[:3]} exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:  # refused, reset, or slower than the timeout while it starts on a loaded machine
            time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {STARTUP_TIMEOUT_SECONDS} s:\n{log_path.read_text()}")


def started(command: list[str], health_url: str, log_path: Path, env: dict) -> subprocess.Popen:
    process = subprocess.Popen(command, env=env, cwd=APP_PATH.parents[1], stdout=log_path.open("w"),
                               stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(health_url, process, log_path)
    except BaseException:  # pytest.fail included: a server that never answered must not outlive the test
        process.terminate()
        process.wait(timeout=30)
        raise
    return process


@pytest.fixture
def app_url(pipeline_env, tmp_path: Path) -> Iterator[str]:
    """Streamlit and the mock provider, on free ports, with secrets.toml written as `payops serve` writes it."""
    add_app_users(pipeline_env.engine)
    app_port, provider_port = free_port(), free_port()
    url = f"http://127.0.0.1:{app_port}"
    env = {**os.environ, **sign_in.mock_provider_env(provider_port), "PAYOPS_APP_URL": url}
    secrets = sign_in.write_secrets(pipeline_env.settings, app_port, env, tmp_path / "secrets.toml")
    provider = started(sign_in.mock_provider_command(provider_port),
                       f"http://127.0.0.1:{provider_port}/.well-known/openid-configuration", tmp_path / "oidc.log", env)
    app = None
    try:
        app = started(
            [sys.executable, "-m", "streamlit", "run", str(SERVER_PATH), "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(app_port), "--secrets.files", str(secrets)],
            f"{url}/_stcore/health", tmp_path / "streamlit.log", env,
        )
        yield url
    finally:
        for process in (app, provider):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def settle(page: Page) -> None:
    """Wait until the page's script has run to its end (Streamlit marks its root element) and shows a title."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=RENDER_TIMEOUT_MS)
    page.locator("h1").first.wait_for(timeout=RENDER_TIMEOUT_MS)
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator("body").inner_text()


def sign_in_as(page: Page, app_url: str, email: str) -> None:
    page.goto(app_url)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/oauth2/authorize**", timeout=RENDER_TIMEOUT_MS)
    page.fill("input[name=sub]", email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{app_url}/**", timeout=RENDER_TIMEOUT_MS)
    settle(page)


def a_seeded_figure(pipeline) -> str:
    """The usd gross of the default range, as the Overview shows it: a figure no outsider may see."""
    with pipeline.engine.connect() as conn:
        last_day = conn.execute(sa.text("select max(day) from analytics.payments_daily where livemode")).scalar()
        gross = conn.execute(sa.text(
            "select sum(gross_amount_minor) from analytics.payments_daily where livemode and currency = 'usd' "
            "and day between :first_day and :last_day"), {"first_day": last_day - timedelta(days=29),
                                                         "last_day": last_day}).scalar()
    return f"{gross / 100:,.2f} USD"


def test_outsiders_see_no_data_on_any_url(chromium_path: Path, app_url: str, pipeline_env) -> None:
    figure = a_seeded_figure(pipeline_env)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            anonymous = browser.new_page()
            for path in PAGES.values():
                anonymous.goto(f"{app_url}/{path}")
                settle(anonymous)
                text = anonymous.locator("body").inner_text()
                assert "Sign in" in text and figure not in text and "Overview" not in text, path
            # Signed in, the gate is the same code on every URL: a few of them, to keep the test short.
            for email in (UNKNOWN, DISABLED):
                page = browser.new_context().new_page()
                sign_in_as(page, app_url, email)
                for path in ("transactions", "students", "system_health"):
                    page.goto(f"{app_url}/{path}")
                    settle(page)
                    text = page.locator("body").inner_text()
                    assert "Ask an admin for access" in text and figure not in text, (email, path)
        finally:
            browser.close()


def test_an_analyst_visits_every_page_finds_a_charge_and_downloads_the_csv(
    chromium_path: Path, app_url: str, pipeline_env, screenshot_dir: Path
) -> None:
    with pipeline_env.engine.connect() as conn:
        charge_id, customer_id = conn.execute(sa.text(
            "select charge_id, customer_id from analytics.fct_charges where livemode "
            "order by created_at desc, charge_id desc limit 1")).one()
        customer_charges = conn.execute(sa.text(
            "select charge_id from analytics.fct_charges where livemode and customer_id = :customer_id "
            "and created_day >= (select max(day) - 29 from analytics.payments_daily where livemode) "
            "order by created_at desc, charge_id desc"), {"customer_id": customer_id}).scalars().all()
    screenshot_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            sign_in_as(page, app_url, ANALYST)
            page.get_by_text(a_seeded_figure(pipeline_env), exact=True).first.wait_for(timeout=RENDER_TIMEOUT_MS)
            assert page.get_by_role("button", name="Refresh now").count() == 0
            for name, path in PAGES.items():
                page.goto(f"{app_url}/{path}?mode=live")
                settle(page)
                text = page.locator("body").inner_text()
                assert "America/Sao_Paulo" in text and "Data as of the last refresh" in text, name
                assert "Deploy" not in text
                page.screenshot(path=screenshot_dir / f"{name}.png", full_page=True)

            page.goto(f"{app_url}/transactions?mode=live")
            settle(page)
            search = page.get_by_role("textbox", name="Search")
            search.fill(customer_id)
            search.press("Enter")
            page.get_by_text(f"{len(customer_charges):,} live-mode charge(s)").wait_for(timeout=RENDER_TIMEOUT_MS)
            settle(page)
            with page.expect_download(timeout=RENDER_TIMEOUT_MS) as download:
                page.get_by_role("link", name=f"Download all {len(customer_charges):,} as CSV").click()
            exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
            assert [row["charge_id"] for row in exported] == customer_charges

            page.goto(f"{app_url}/transactions?mode=live&charge={charge_id}")
            settle(page)
            page.get_by_text(f"Charge {charge_id}").wait_for(timeout=RENDER_TIMEOUT_MS)
            assert "Event timeline" in page.locator("body").inner_text()
            page.screenshot(path=screenshot_dir / "transaction_detail.png", full_page=True)
        finally:
            browser.close()


def test_an_admin_sees_the_refresh_button(chromium_path: Path, app_url: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            sign_in_as(page, app_url, ADMIN)
            assert page.get_by_role("button", name="Refresh now").count() == 1
        finally:
            browser.close()
