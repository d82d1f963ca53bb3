"""The ways an admin action is refused before Stripe is called; each message says what to do."""

from __future__ import annotations

from payops.errors import PayopsError


class ActionRefused(PayopsError, PermissionError):
    """The person may not do this now: not signed in, not an admin, no fresh TOTP code, over their limit."""


class ActionInvalid(PayopsError, ValueError):
    """The request itself is wrong: over-refund, wrong precision, no reason, a charge that cannot be refunded."""


class ActionsUnavailable(PayopsError, RuntimeError):
    """Actions cannot run here: no Stripe key, or no TOTP key to read secrets with."""
