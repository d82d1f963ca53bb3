"""What every `payops` command shares: settings, and one clear line instead of a traceback for known failures."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from payops.db import WarehouseUnavailable
from payops.settings import Settings, SettingsError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110, "terminal_width": 110}


class CommandError(RuntimeError):
    """A failure whose message already says what to do; raised by ingest/ modules, shown as is."""


def _known_failures() -> tuple[type[BaseException], ...]:
    # Imported when a command runs, so `payops --help` stays fast.
    from ingest.app_tables import AppTableMissing
    from ingest.stripe_events import InputNotFound
    from ingest.stripe_sync import SyncInterrupted

    return WarehouseUnavailable, SettingsError, InputNotFound, AppTableMissing, SyncInterrupted, CommandError


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Known failures end with their message and exit code 1, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except _known_failures() as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def current_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
