"""What every `payops` command shares: settings, and one clear line instead of a traceback for known failures."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from payops.errors import PayopsError
from payops.settings import Settings, SettingsError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110, "terminal_width": 110}


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Known failures end with their message and exit code 1, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PayopsError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def current_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
