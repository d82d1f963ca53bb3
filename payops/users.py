"""Who may use the app and as what: ops.users, read by the app's sign-in and changed by `payops users`."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from payops.errors import PayopsError

ROLES = ("analyst", "admin")


class UserError(PayopsError, ValueError):
    """A user change payops refuses; the message says why."""


@dataclass(frozen=True)
class User:
    email: str
    role: str
    active: bool
    added_by: str
    added_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.active and self.role == "admin"


def normalized_email(email: str) -> str:
    cleaned = email.strip().lower()
    local, _, domain = cleaned.partition("@")
    if not local or not domain or " " in cleaned:
        raise UserError(f"{email!r} is not an email address")
    return cleaned


def add_user(engine: sa.Engine, email: str, role: str, added_by: str) -> User:
    """Add a user, or change an existing one's role and enable them again."""
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}")
    with engine.begin() as conn:
        row = conn.execute(sa.text("""
            insert into ops.users (email, role, added_by) values (:email, :role, :added_by)
            on conflict (email) do update set role = excluded.role, active = true, updated_at = now()
            returning email, role, active, added_by, added_at
        """), {"email": normalized_email(email), "role": role, "added_by": added_by}).one()
    return User(*row)


def disable_user(engine: sa.Engine, email: str) -> User:
    with engine.begin() as conn:
        row = conn.execute(sa.text("""
            update ops.users set active = false, updated_at = now() where email = :email
            returning email, role, active, added_by, added_at
        """), {"email": normalized_email(email)}).one_or_none()
    if row is None:
        raise UserError(f"{email} is not a user; `payops users list` shows who is")
    return User(*row)


def list_users(engine: sa.Engine) -> list[User]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select email, role, active, added_by, added_at from ops.users order by email"))
        return [User(*row) for row in rows]


def find_user(db: sa.Engine | sa.Connection, email: str | None) -> User | None:
    """The active or disabled user for a signed-in email; None for an unknown (or missing) identity. On a
    connection the caller already holds (the admin actions read everything through one), or an engine."""
    if not email:
        return None
    with db.connect() if isinstance(db, sa.Engine) else nullcontext(db) as conn:
        row = conn.execute(sa.text("""
            select email, role, active, added_by, added_at from ops.users where email = lower(:email)
        """), {"email": email.strip()}).one_or_none()
    return None if row is None else User(*row)
