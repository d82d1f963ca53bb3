"""The sign-in settings `payops serve` writes for Streamlit from the environment (no database, no Streamlit)."""

from __future__ import annotations

import stat
import tomllib

from payops.settings import Settings
from streamlit_app import sign_in

PROVIDER = {
    "PAYOPS_OIDC_SERVER_METADATA_URL": "https://accounts.google.com/.well-known/openid-configuration",
    "PAYOPS_OIDC_CLIENT_ID": "1234-abc.apps.googleusercontent.com",
    "PAYOPS_OIDC_CLIENT_SECRET": 'GOCSPX-"quoted"\\secret',
}


def test_secrets_toml_holds_the_provider_and_the_redirect_back_to_the_app(tmp_path):
    settings = Settings.from_env({"PAYOPS_HOME": str(tmp_path / "home")})
    path = sign_in.write_secrets(settings, 8501, {**PROVIDER, "PAYOPS_APP_URL": "https://payops.example.com/"},
                                 tmp_path / ".streamlit" / "secrets.toml")

    auth = tomllib.loads(path.read_text())["auth"]
    assert auth["redirect_uri"] == "https://payops.example.com/oauth2callback"
    assert auth["client_secret"] == 'GOCSPX-"quoted"\\secret'
    assert auth["server_metadata_url"] == PROVIDER["PAYOPS_OIDC_SERVER_METADATA_URL"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # One cookie secret per installation, kept across restarts so sign-ins survive them.
    again = tomllib.loads(sign_in.write_secrets(settings, 8501, PROVIDER, path).read_text())["auth"]
    assert again["cookie_secret"] == auth["cookie_secret"] and len(auth["cookie_secret"]) == 64
    assert again["redirect_uri"] == "http://localhost:8501/oauth2callback"


def test_without_a_provider_no_secrets_file_is_left_behind(tmp_path):
    settings = Settings.from_env({"PAYOPS_HOME": str(tmp_path / "home")})
    path = tmp_path / "secrets.toml"
    path.write_text("[auth]\nstale = true\n")
    assert sign_in.write_secrets(settings, 8501, {"PAYOPS_OIDC_CLIENT_ID": "only-one"}, path) is None
    assert not path.exists()


def test_serve_starts_the_mock_provider_only_when_the_demo_asked_for_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sign_in, "SECRETS_PATH", tmp_path / "secrets.toml")
    settings = Settings.from_env({"PAYOPS_HOME": str(tmp_path / "home")})
    demo_env = {**sign_in.mock_provider_env(9400), "PAYOPS_OIDC_MOCK_PORT": "9400"}
    assert sign_in.serve_sign_in(settings, 8501, {}) == {}
    [(address, command)] = sign_in.serve_sign_in(settings, 8501, demo_env).values()
    assert address == "http://127.0.0.1:9400" and command[1:3] == ["-m", "oidc_provider_mock"]
