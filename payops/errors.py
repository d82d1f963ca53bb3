"""The one base class of payops' known failures, so every shell can show them as a message, not a traceback."""

from __future__ import annotations


class PayopsError(Exception):
    """A failure whose message already says what went wrong and what to do about it."""
