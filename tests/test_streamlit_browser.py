"""The dashboard as people see it: `streamlit run` on the warehouse built end to end, signed in through a local
OpenID Connect provider (oidc-provider-mock) in Debian's chromium, exactly as `st.login` runs in production.

Screenshots of every page go to a temporary folder, or to docs/screenshots/ (shown in README) with
PAYOPS_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import csv
import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from browser_fixtures import CHROMIUM_ARGS, RENDER_TIMEOUT_MS, settle, sign_in_as
from playwright.sync_api import sync_playwright
from streamlit_fixtures import ADMIN, ANALYST, DISABLED, UNKNOWN

pytest_plugins = ["streamlit_fixtures", "browser_fixtures"]

PAGES = {"overview": "", "revenue": "revenue", "failures": "failures", "disputes": "disputes", "refunds": "refunds",
         "transactions": "transactions", "students": "students", "reconciliation": "reconciliation",
         "fraud": "fraud", "webhooks": "webhooks", "system_health": "system_health"}
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    return SCREENSHOTS if os.environ.get("PAYOPS_UPDATE_SCREENSHOTS") else tmp_path


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
