"""Where alerts go: the log always, and an HTTP endpoint taking JSON (a Slack incoming webhook) when one is set.

A notifier's `send` never raises: an alert that cannot be delivered must not break the monitoring that
raised it. It returns whether the alert was delivered, so a caller can try again on its next pass.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol
from urllib.parse import urlsplit

from payops.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Alert:
    key: str
    """Names the condition (e.g. `webhook_lag_p95`): one key is one alert, however often it is measured."""
    severity: str
    """`warning` or `error`."""
    message: str
    value: float
    threshold: float
    resolved: bool = False

    @property
    def text(self) -> str:
        state = "resolved" if self.resolved else self.severity
        return f"[payops] {state.upper()}: {self.message}"


class Notifier(Protocol):
    def send(self, alert: Alert) -> bool:
        """Deliver the alert; True when delivered. Never raises."""
        ...


class LogNotifier:
    def send(self, alert: Alert) -> bool:
        level = logging.INFO if alert.resolved else logging.ERROR if alert.severity == "error" else logging.WARNING
        log.log(level, alert.text)
        return True


def masked_url(url: str) -> str:
    """The scheme and host only: a Slack webhook's path is its secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/***"


class HttpJsonNotifier:
    """POSTs `{"text": ..., <alert fields>}`; Slack's incoming webhooks show `text` and ignore the rest."""

    def __init__(self, url: str, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS):
        self._url = url
        self.timeout_seconds = timeout_seconds

    def __repr__(self) -> str:
        return f"HttpJsonNotifier({masked_url(self._url)!r})"

    def send(self, alert: Alert) -> bool:
        body = json.dumps({"text": alert.text, **asdict(alert)}).encode()
        request = urllib.request.Request(
            self._url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds):
                return True
        # Only the class and status are logged: some HTTP errors repeat the URL, and its path is a secret.
        except urllib.error.HTTPError as exc:
            log.warning("alert %s not delivered to %s: HTTP %s", alert.key, masked_url(self._url), exc.code)
        except Exception as exc:  # noqa: BLE001 - a notifier must never fail its caller
            log.warning("alert %s not delivered to %s: %s", alert.key, masked_url(self._url), type(exc).__name__)
        return False


class FanOutNotifier:
    """Sends every alert to each notifier; delivered only when all of them delivered it."""

    def __init__(self, notifiers: Sequence[Notifier]):
        self.notifiers = tuple(notifiers)

    def send(self, alert: Alert) -> bool:
        # A list, not a generator: one failed delivery must not stop the others.
        return all([notifier.send(alert) for notifier in self.notifiers])


def notifier_from_settings(settings: Settings, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> Notifier:
    """The log, plus PAYOPS_ALERT_WEBHOOK_URL when it is set."""
    notifiers: list[Notifier] = [LogNotifier()]
    if settings.alert_webhook_url:
        notifiers.append(HttpJsonNotifier(settings.alert_webhook_url, timeout_seconds))
    return FanOutNotifier(notifiers)
