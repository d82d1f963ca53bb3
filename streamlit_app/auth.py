"""Who is signed in. PLACEHOLDER on the actions branch: the app engineer's sign-in (OpenID Connect) replaces
this file; only its contract is relied on: `current_user() -> payops.users.User | None`."""

from __future__ import annotations

import data
import streamlit as st

from payops import db
from payops.users import User, find_user


def current_user() -> User | None:
    """The payops user of the signed-in identity; None when nobody is signed in or the email is unknown."""
    if not getattr(st.user, "is_logged_in", False):
        return None
    return find_user(db.engine(data.current_settings()), st.user.get("email"))
