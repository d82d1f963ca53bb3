"""Who may act: an active admin (ops.users) with a TOTP code verified in the last few minutes.

The services call these themselves, so a page that forgets a check still cannot move money. TOTP secrets are
stored encrypted (Fernet) with a key kept outside the database: PAYOPS_TOTP_KEY, else PAYOPS_HOME/totp.key.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from actions.errors import ActionRefused, ActionsUnavailable
from payops.settings import Settings
from payops.users import User, find_user, normalized_email

TOTP_FRESH_FOR = timedelta(minutes=5)
TOTP_ISSUER = "payops"
TOTP_KEY_FILE = "totp.key"


def require_admin(conn: sa.Connection, email: str | None) -> User:
    """The signed-in admin, or ActionRefused naming why not (anonymous, unknown, disabled, analyst)."""
    if not email:
        raise ActionRefused("Sign in first: admin actions need a signed-in admin.")
    user = find_user(conn, email)
    if user is None or not user.active:
        raise ActionRefused(f"{email} is not an active user; an admin can add them with `payops users add`.")
    if not user.is_admin:
        raise ActionRefused(f"{user.email} is an {user.role}: only admins may act. "
                            f"`payops users add {user.email} --role admin` makes them one.")
    return user


def _fernet(settings: Settings) -> Fernet:
    key = os.environ.get("PAYOPS_TOTP_KEY")
    if not key:
        path = settings.home / TOTP_KEY_FILE
        if not path.exists():
            settings.home.mkdir(parents=True, exist_ok=True)
            path.write_bytes(Fernet.generate_key())
            path.chmod(0o600)
        key = path.read_text().strip()
    try:
        return Fernet(key)
    except ValueError:
        raise ActionsUnavailable("PAYOPS_TOTP_KEY (or PAYOPS_HOME/totp.key) is not a Fernet key; "
                                 "make one with `python -c 'from cryptography.fernet import Fernet; "
                                 "print(Fernet.generate_key().decode())'`.") from None


@dataclass(frozen=True, repr=False)
class Enrollment:
    email: str
    secret: str
    provisioning_uri: str

    def __repr__(self) -> str:  # the secret never reaches a log through a repr
        return f"Enrollment(email={self.email!r})"


def enroll_totp(engine: sa.Engine, settings: Settings, email: str) -> Enrollment:
    """Give an admin a new TOTP secret (replacing any old one), stored encrypted; returns what to show them once."""
    email = normalized_email(email)
    secret = pyotp.random_base32()
    with engine.begin() as conn:
        conn.execute(sa.text("""
            insert into ops.user_totp (email, secret_encrypted) values (:email, :secret)
            on conflict (email) do update set secret_encrypted = excluded.secret_encrypted, enrolled_at = now()
        """), {"email": email, "secret": _fernet(settings).encrypt(secret.encode())})
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)
    return Enrollment(email, secret, uri)


def has_totp(engine: sa.Engine, email: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.text("select exists (select from ops.user_totp where email = :email)"),
                            {"email": normalized_email(email)}).scalar_one()


def _totp_for(conn: sa.Connection, settings: Settings, email: str) -> pyotp.TOTP:
    token = conn.execute(sa.text("select secret_encrypted from ops.user_totp where email = :email"),
                         {"email": email}).scalar_one_or_none()
    if token is None:
        raise ActionRefused(f"{email} has no TOTP enrolled: `payops users add {email} --role admin` enrols one.")
    try:
        return pyotp.TOTP(_fernet(settings).decrypt(bytes(token)).decode())
    except InvalidToken:
        raise ActionsUnavailable("The TOTP key cannot read the stored secrets (was PAYOPS_TOTP_KEY or "
                                 "totp.key changed?); enrol the admin again.") from None


def verify_totp(engine: sa.Engine, writer: sa.Engine, settings: Settings, email: str, code: str,
                now: float | None = None) -> None:
    """Accept a 6-digit code (this step or the one before, for clock drift), once; ActionRefused otherwise."""
    with engine.connect() as conn:
        user = require_admin(conn, email)
        totp = _totp_for(conn, settings, user.email)
    now = time.time() if now is None else now
    code = (code or "").strip().replace(" ", "")
    for step_offset in (0, -1):
        at = now + step_offset * totp.interval
        if code and totp.verify(code, for_time=at):
            step = int(at // totp.interval)
            try:
                with writer.begin() as conn:
                    conn.execute(sa.text("insert into ops.totp_verifications (email, time_step) values (:e, :s)"),
                                 {"e": user.email, "s": step})
            except sa.exc.IntegrityError:
                raise ActionRefused("That code was already used; wait for the next one.") from None
            return
    raise ActionRefused("That TOTP code is not right (or has expired); enter the current one from your app.")


def fresh_totp_verified_at(conn: sa.Connection, email: str) -> datetime | None:
    """When this admin last verified a code, if within TOTP_FRESH_FOR; what the services and the pages both read."""
    return conn.execute(sa.text("""
        select max(verified_at) from ops.totp_verifications
        where email = :email and verified_at >= now() - cast(:window as interval)
    """), {"email": email, "window": f"{int(TOTP_FRESH_FOR.total_seconds())} seconds"}).scalar_one()


def require_fresh_totp(conn: sa.Connection, email: str) -> None:
    if fresh_totp_verified_at(conn, email) is None:
        minutes = int(TOTP_FRESH_FOR.total_seconds() // 60)
        raise ActionRefused(f"This action needs a TOTP code verified in the last {minutes} minutes; enter your "
                            "current code.")
