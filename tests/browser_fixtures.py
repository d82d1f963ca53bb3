"""The app as people reach it, for the browser tests: `streamlit run` on the session's pipeline warehouse, signed in
through a local OpenID Connect provider (oidc-provider-mock), in Debian's chromium driven by Playwright.

One app process, one provider and one browser serve a whole test module (each test opens its own context, so
sessions do not leak between tests). A module adds settings for its app by overriding `app_env`. Test modules
load this with `pytest_plugins = ["browser_fixtures"]`; having no asserts, it opts out of pytest's rewriting:
PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import environment
from playwright.sync_api import Browser, Page, sync_playwright
from streamlit_fixtures import APP_PATH, SERVER_PATH, add_app_users, free_port

from streamlit_app import sign_in

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_TIMEOUT_SECONDS = 60
RENDER_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing; install it with `apt-get install -y chromium`"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so the browser test may not be skipped)")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


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


@pytest.fixture(scope="module")
def app_env() -> dict[str, str]:
    """Settings the module's app gets on top of the pipeline's environment (none unless a module overrides it)."""
    return {}


@pytest.fixture(scope="module")
def app_url(pipeline, app_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Streamlit and the mock provider, on free ports, with secrets.toml written as `payops serve` writes it."""
    add_app_users(pipeline.engine)
    logs = tmp_path_factory.mktemp("app")
    app_port, provider_port = free_port(), free_port()
    url = f"http://127.0.0.1:{app_port}"
    with environment(**{**pipeline.env, **app_env}):
        env = {**os.environ, **sign_in.mock_provider_env(provider_port), "PAYOPS_APP_URL": url}
    secrets = sign_in.write_secrets(pipeline.settings, app_port, env, logs / "secrets.toml")
    provider = started(sign_in.mock_provider_command(provider_port),
                       f"http://127.0.0.1:{provider_port}/.well-known/openid-configuration", logs / "oidc.log", env)
    app = None
    try:
        app = started(
            [sys.executable, "-m", "streamlit", "run", str(SERVER_PATH), "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(app_port), "--secrets.files", str(secrets)],
            f"{url}/_stcore/health", logs / "streamlit.log", env,
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
    page.get_by_role("button", name="Sign in").click(timeout=RENDER_TIMEOUT_MS)  # the first page a fresh app renders
    page.wait_for_url("**/oauth2/authorize**", timeout=RENDER_TIMEOUT_MS)
    page.fill("input[name=sub]", email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{app_url}/**", timeout=RENDER_TIMEOUT_MS)
    settle(page)
