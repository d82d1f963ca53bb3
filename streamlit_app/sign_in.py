"""Sign-in settings for the app: `.streamlit/secrets.toml` written from environment variables, and the local
OpenID Connect provider `make demo` signs in through.

No Streamlit here: `payops serve` and `payops demo` call these before they start Streamlit.

    PAYOPS_OIDC_SERVER_METADATA_URL   the provider's discovery document (…/.well-known/openid-configuration)
    PAYOPS_OIDC_CLIENT_ID             the app's client id at the provider
    PAYOPS_OIDC_CLIENT_SECRET         its secret
    PAYOPS_APP_URL                    the address people open (default http://localhost:<streamlit port>); the
                                      provider must allow <PAYOPS_APP_URL>/oauth2callback as a redirect URI
    PAYOPS_COOKIE_SECRET              signs Streamlit's identity cookie (default: one per installation, kept in
                                      PAYOPS_HOME/streamlit_cookie_secret)
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

import sqlalchemy as sa

from payops.settings import Settings
from payops.users import add_user

SECRETS_PATH = Path(__file__).resolve().parent / ".streamlit" / "secrets.toml"
"""Script-level secrets: Streamlit reads them whatever the working directory."""
COOKIE_SECRET_FILE = "streamlit_cookie_secret"
MOCK_PROVIDER_PORT = 9400
DEMO_USERS = {"analyst@demo.payops.dev": "analyst", "admin@demo.payops.dev": "admin"}
REQUIRED = ("PAYOPS_OIDC_SERVER_METADATA_URL", "PAYOPS_OIDC_CLIENT_ID", "PAYOPS_OIDC_CLIENT_SECRET")


def auth_settings(settings: Settings, streamlit_port: int, env: Mapping[str, str]) -> dict[str, str] | None:
    """The `[auth]` table of secrets.toml, or None when the provider is not configured."""
    if not all(env.get(name) for name in REQUIRED):
        return None
    app_url = (env.get("PAYOPS_APP_URL") or f"http://localhost:{streamlit_port}").rstrip("/")
    return {
        "redirect_uri": f"{app_url}/oauth2callback",
        "cookie_secret": env.get("PAYOPS_COOKIE_SECRET") or _installation_cookie_secret(settings),
        "client_id": env["PAYOPS_OIDC_CLIENT_ID"],
        "client_secret": env["PAYOPS_OIDC_CLIENT_SECRET"],
        "server_metadata_url": env["PAYOPS_OIDC_SERVER_METADATA_URL"],
    }


def write_secrets(
    settings: Settings, streamlit_port: int, env: Mapping[str, str] = os.environ, path: Path | None = None
) -> Path | None:
    """Write the sign-in settings where Streamlit reads them (SECRETS_PATH unless `path`), owner-only; None, and no
    file, when unconfigured."""
    path = path or SECRETS_PATH
    auth = auth_settings(settings, streamlit_port, env)
    if auth is None:
        path.unlink(missing_ok=True)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    # A JSON string is a valid TOML basic string for these values (no control characters).
    lines = ["# Written by payops from PAYOPS_OIDC_* (streamlit_app/sign_in.py); do not edit.", "[auth]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in auth.items()]
    path.touch(mode=0o600)
    path.write_text("\n".join(lines) + "\n")
    return path


def _installation_cookie_secret(settings: Settings) -> str:
    path = settings.home / COOKIE_SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def mock_provider_command(port: int = MOCK_PROVIDER_PORT) -> list[str]:
    """oidc-provider-mock on 127.0.0.1: any client id and secret, and a form where you type the email to sign in."""
    return [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]


def mock_provider_env(port: int = MOCK_PROVIDER_PORT) -> dict[str, str]:
    return {
        "PAYOPS_OIDC_SERVER_METADATA_URL": f"http://127.0.0.1:{port}/.well-known/openid-configuration",
        "PAYOPS_OIDC_CLIENT_ID": "payops-demo",
        "PAYOPS_OIDC_CLIENT_SECRET": "payops-demo-secret",
    }


def demo_sign_in(engine: sa.Engine, env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """For `payops demo`: the demo analyst and admin, and, unless a real provider is configured, the variables that
    point the app at the local mock provider (plus PAYOPS_OIDC_MOCK_PORT, so `serve` starts it). Prints how to sign
    in."""
    for email, role in DEMO_USERS.items():
        add_user(engine, email, role, added_by="payops demo")
    extra = {} if env.get("PAYOPS_OIDC_SERVER_METADATA_URL") else {
        **mock_provider_env(), "PAYOPS_OIDC_MOCK_PORT": str(MOCK_PROVIDER_PORT)}
    print("Sign in to Streamlit at http://localhost:8501 (click 'Sign in'); at the local provider type one of:")
    for email, role in DEMO_USERS.items():
        print(f"  {email:28} {role}")
    print("Anyone else who signs in is told to ask an admin (`payops users add EMAIL --role analyst`).")
    return extra


def serve_sign_in(settings: Settings, streamlit_port: int, env: Mapping[str, str] = os.environ) -> dict:
    """For `payops serve`: writes secrets.toml; returns the extra service to start (the mock provider, when
    PAYOPS_OIDC_MOCK_PORT is set) as {name: (address, command)}."""
    if write_secrets(settings, streamlit_port, env) is None:
        print("Sign-in is not configured: set PAYOPS_OIDC_SERVER_METADATA_URL, …_CLIENT_ID and …_CLIENT_SECRET "
              "(README, 'Sign-in'); until then the app shows only how to do so.")
    port = env.get("PAYOPS_OIDC_MOCK_PORT")
    if not port:
        return {}
    return {"Sign-in (mock)": (f"http://127.0.0.1:{port}", mock_provider_command(int(port)))}
