"""Who is using the app: Streamlit's own sign-in (`st.login`, OpenID Connect) proves an email, and `ops.users`
decides what that email may do.

- Anonymous visitors get the sign-in page, whatever URL they opened.
- A signed-in email that is not in ops.users, or is disabled, is told to ask an admin, and sees no data.
- `current_user()` is the active user; admin-only controls check `user.is_admin` (analysts never see them).
"""

from __future__ import annotations

from collections.abc import Iterable

import data
import streamlit as st

from payops.users import User, find_user

ACCESS_HELP = "Ask an admin for access: they run `payops users add {email} --role analyst`."


def signed_in_email() -> str | None:
    """The email the identity provider proved, or None for an anonymous visitor."""
    if not st.user.is_logged_in:
        return None
    email = st.user.get("email")
    return str(email) if email else None


def current_user() -> User | None:
    """The signed-in, active user of ops.users; None when anonymous, unknown or disabled. Read on every run, so a
    user disabled with `payops users disable` loses access at their next click."""
    email = signed_in_email()
    if email is None:
        return None
    settings = data.current_settings()
    with data.reading(settings, "ops.users"):  # a warehouse never migrated says so, not a traceback
        user = find_user(data.reader_engine(settings), email)
    return user if user is not None and user.active else None


def gate(url_paths: Iterable[str]) -> User:
    """The page gate, called by the entrypoint before any page runs, with the URL paths of its pages: returns the
    active user, or shows the sign-in page (anonymous) or the no-access page (unknown or disabled) on every one of
    those URLs and stops the run."""
    if not st.user.is_logged_in:
        _only(_sign_in_page, "Sign in", url_paths)
    user = current_user()
    if user is None:
        _only(_no_access_page, "No access", url_paths)
    return user


def _only(page_function, title: str, url_paths: Iterable[str]) -> None:
    # The same page under every URL the app has, so a bookmarked /transactions lands on it too (an unknown URL
    # would be Streamlit's "page not found" over it).
    pages = [st.Page(page_function, title=title, default=True)]
    pages += [st.Page(page_function, title=title, url_path=path) for path in url_paths if path]
    st.navigation(pages, position="hidden").run()
    st.stop()


def _sign_in_page() -> None:
    st.title("payops")
    st.write("Payment operations for your Stripe account. Sign in with your company account to continue.")
    if not _sign_in_configured():
        st.warning(
            "Sign-in is not configured on this server: set PAYOPS_OIDC_SERVER_METADATA_URL, PAYOPS_OIDC_CLIENT_ID "
            "and PAYOPS_OIDC_CLIENT_SECRET and start it with `payops serve` (README, 'Sign-in').",
            icon=":material/key_off:",
        )
        return
    st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login, key="sign-in")


def _no_access_page() -> None:
    email = signed_in_email() or "your account"
    st.title("No access yet")
    st.warning(f"You are signed in as **{email}**, which may not use payops. {ACCESS_HELP.format(email=email)}",
               icon=":material/lock:")
    st.button("Sign out", on_click=st.logout, key="sign-out")


def _sign_in_configured() -> bool:
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets.toml at all (Streamlit's error subclasses it)
        return False
