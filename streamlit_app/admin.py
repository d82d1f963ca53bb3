"""What the admin pages share: the signed-in admin, the actions services, TOTP, form keys, confirmation.

Every form follows form → confirmation → `actions/`: "Review" states exactly what will happen, "Confirm" acts.
The idempotency key is made when the form first renders and kept (in session state) until the action is
answered, so a double click or a rerun submits the same action again, which the services answer once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

import auth
import data
import streamlit as st

from actions.errors import ActionInvalid, ActionRefused, ActionsUnavailable
from actions.guards import fresh_totp_verified_at, verify_totp
from actions.service import ActionResult, Actions, new_idempotency_key
from actions.stripe_api import stripe_mode
from payops import db
from payops.errors import PayopsError
from payops.users import User


@st.cache_resource(show_spinner=False)
def actions_service(_settings_key: str) -> Actions:
    settings = data.current_settings()
    return Actions(settings, db.ready_engine(settings))


def services() -> Actions:
    settings = data.current_settings()
    return actions_service(repr(settings))


def signed_in_admin() -> User:
    """The signed-in admin, or the page stops with why not (the services check again themselves)."""
    user = auth.current_user()
    if user is None:
        st.warning("Sign in as an admin to use this page.")
        st.stop()
    if not user.is_admin:
        st.error(f"{user.email} is an {user.role}: admin pages are for admins.")
        st.stop()
    st.caption(f"Stripe: **{stripe_mode(services().settings)}** · signed in as {user.email}")
    return user


def totp_box(user: User) -> None:
    """Ask for a TOTP code unless one was verified within the last few minutes (money actions need it). The
    warehouse's record is read, as the services read it, so a reload or a second tab does not ask again."""
    actions = services()
    with actions.engine.connect() as conn:
        verified_at = fresh_totp_verified_at(conn, user.email)
    if verified_at:
        st.caption(f"TOTP verified at {verified_at.astimezone(UTC):%H:%M:%S} UTC")
        return
    with st.form("totp", border=True):
        code = st.text_input("TOTP code", max_chars=6, key="totp_code",
                             help="Refunds, dispute responses and retries need a code from the last 5 minutes.")
        if st.form_submit_button("Verify code"):
            try:
                verify_totp(actions.engine, actions.writer, actions.settings, user.email, code)
            except (ActionRefused, ActionsUnavailable) as exc:
                st.error(str(exc))
            else:
                st.rerun()


def form_key(form: str) -> str:
    """The idempotency key of this form, made when it first opens."""
    return st.session_state.setdefault(f"{form}_idempotency_key", new_idempotency_key())


def confirmation(form: str, describe: Callable[[], str], act: Callable[[str], ActionResult]) -> None:
    """Review → confirm. `describe` says exactly what will happen; `act(idempotency_key)` does it."""
    pending = f"{form}_pending"
    if st.button("Review", key=f"{form}_review", type="secondary"):
        try:
            st.session_state[pending] = describe()
        except (PayopsError, ValueError) as exc:
            st.error(str(exc))
            st.session_state.pop(pending, None)
    if pending not in st.session_state:
        return
    st.warning(f"This will {st.session_state[pending]}")
    confirm, cancel = st.columns(2)
    if cancel.button("Cancel", key=f"{form}_cancel"):
        st.session_state.pop(pending)
        st.rerun()
    if confirm.button("Confirm", key=f"{form}_confirm", type="primary"):
        try:
            result = act(form_key(form))
        except (ActionInvalid, ActionRefused, ActionsUnavailable) as exc:
            st.error(str(exc))
            return
        show_result(result)
        # Answered: the next use of this form is a new action with a new key.
        st.session_state.pop(pending)
        st.session_state.pop(f"{form}_idempotency_key")


def show_result(result: ActionResult) -> None:
    if result.succeeded:
        done = f" → Stripe {result.stripe_object_id}" if result.stripe_object_id else ""
        st.success(f"Done{done}" + (" (already done earlier; nothing was repeated)" if result.replayed else ""))
    else:
        st.error(f"Stripe refused: {result.error}")

