"""Alerts that reach people: conditions remembered in Postgres, delivered to the log, email and a Slack-style webhook.

An alert names a condition by its `key` (`webhook_lag_p95`, `dispute:dp_123`). The notifier keeps one row per open
condition in ops.alert_conditions, so a condition that stays true is announced once, and once more when it
resolves, however many processes and ticks measure it. Each channel has a minimum severity. Every delivery attempt
is a row in ops.alert_deliveries; a failed one is retried with back-off, then left for `deliver_pending` to retry
on a later pass. Nothing here raises on a delivery failure: a channel that is down never stops the work that
raised the alert.

Configuration is PAYOPS_HOME/payops.toml, section [alerts], with environment overrides
(`PAYOPS_ALERT_<KEY>` or `PAYOPS_ALERT_<CHANNEL>_<KEY>`):

    [alerts]
    attempts = 3            # tries per message before it waits for the next pass
    backoff_seconds = 1.0   # doubled after each failed try
    timeout_seconds = 5.0

    [alerts.log]
    min_severity = "info"

    [alerts.email]          # SMTP with STARTTLS and authentication
    host = "smtp.example.com"
    port = 587
    starttls = true
    username = "alerts@example.com"
    password = "..."        # better: PAYOPS_ALERT_EMAIL_PASSWORD
    sender = "payops <alerts@example.com>"
    recipients = ["finance@example.com"]
    min_severity = "error"

    [alerts.webhook]        # a Slack incoming webhook, or anything taking its JSON
    url = "https://hooks.slack.com/services/..."    # or PAYOPS_ALERT_WEBHOOK_URL
    min_severity = "warning"

Other engineers' hooks: `notify_event(engine, settings, Alert(...))` announces a one-off event (an export done or
failed, a payout failed) on every channel whose minimum it reaches, and records it as an opened-and-resolved
condition. Alert kinds used so far: export_done, export_failed, payout_failed.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import urlsplit

import sqlalchemy as sa

from payops.errors import PayopsError
from payops.settings import Settings

log = logging.getLogger(__name__)

SEVERITIES = ("info", "warning", "error", "critical")
CONFIG_FILE = "payops.toml"
ENV_PREFIX = "PAYOPS_ALERT_"
MAX_PENDING_BACKOFF_SECONDS = 3600


class AlertConfigError(PayopsError, ValueError):
    """payops.toml's [alerts] or a PAYOPS_ALERT_* variable has a value the notifier cannot use."""


@dataclass(frozen=True)
class Alert:
    key: str
    """Names the condition (`webhook_lag_p95`, `dispute:dp_1`): one key is one alert while it stays open."""
    severity: str
    """info, warning, error or critical."""
    message: str
    value: float | None = None
    threshold: float | None = None
    resolved: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.key.split(":", 1)[0]

    @property
    def text(self) -> str:
        state = "resolved" if self.resolved else self.severity
        return f"[payops] {state.upper()}: {self.message}"


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


class Channel(Protocol):
    name: str

    def deliver(self, alert: Alert) -> None:
        """Deliver or raise; the notifier records and retries."""


class LogChannel:
    name = "log"

    def deliver(self, alert: Alert) -> None:
        level = logging.INFO if alert.resolved or alert.severity == "info" else (
            logging.WARNING if alert.severity == "warning" else logging.ERROR)
        log.log(level, alert.text)


def masked_url(url: str) -> str:
    """The scheme and host only: a Slack webhook's path is its secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/***"


class WebhookChannel:
    """POSTs Slack's incoming-webhook JSON: `text` is what Slack shows; the alert's fields ride along."""

    name = "webhook"

    def __init__(self, url: str, timeout_seconds: float):
        self._url = url
        self.timeout_seconds = timeout_seconds

    def __repr__(self) -> str:
        return f"WebhookChannel({masked_url(self._url)!r})"

    def deliver(self, alert: Alert) -> None:
        body = {"text": alert.text, "key": alert.key, "kind": alert.kind, "severity": alert.severity,
                "message": alert.message, "value": alert.value, "threshold": alert.threshold,
                "resolved": alert.resolved, **({"details": dict(alert.details)} if alert.details else {})}
        request = urllib.request.Request(self._url, data=json.dumps(body, default=str).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds):
                return
        # Only the class and status travel on: some HTTP errors repeat the URL, and its path is a secret.
        except urllib.error.HTTPError as exc:
            raise DeliveryFailed(f"HTTP {exc.code} from {masked_url(self._url)}") from None
        except Exception as exc:  # noqa: BLE001 - whatever broke, the message must not carry the URL
            raise DeliveryFailed(f"{type(exc).__name__} posting to {masked_url(self._url)}") from None


class EmailChannel:
    """SMTP: STARTTLS before authenticating (unless turned off for a local relay), one message per alert."""

    name = "email"

    def __init__(self, host: str, port: int, sender: str, recipients: tuple[str, ...], username: str | None,
                 password: str | None, starttls: bool, timeout_seconds: float):
        self.host, self.port, self.sender, self.recipients = host, port, sender, recipients
        self._username, self._password = username, password
        self.starttls, self.timeout_seconds = starttls, timeout_seconds

    def __repr__(self) -> str:
        return f"EmailChannel({self.host}:{self.port} -> {', '.join(self.recipients)})"

    def deliver(self, alert: Alert) -> None:
        message = EmailMessage()
        message["Subject"] = alert.text
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(f"{alert.message}\n\ncondition: {alert.key}\nseverity: {alert.severity}\n"
                            + ("state: resolved\n" if alert.resolved else "")
                            + "".join(f"{name}: {value}\n" for name, value in alert.details.items()))
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
                if self.starttls:
                    # Verified against the system's CAs (SSL_CERT_FILE to trust a private relay's).
                    smtp.starttls(context=ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, self._password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            # The class and the server's code only: an auth failure's text can echo the user name.
            code = getattr(exc, "smtp_code", None)
            raise DeliveryFailed(f"{type(exc).__name__}{f' {code}' if code else ''} from "
                                 f"{self.host}:{self.port}") from None


class DeliveryFailed(Exception):
    """One delivery attempt failed; the message is safe to store and show."""


@dataclass(frozen=True)
class Route:
    channel: Channel
    min_severity: str

    def takes(self, alert: Alert) -> bool:
        return severity_rank(alert.severity) >= severity_rank(self.min_severity)


@dataclass(frozen=True)
class AlertConfig:
    routes: tuple[Route, ...]
    attempts: int = 3
    backoff_seconds: float = 1.0
    timeout_seconds: float = 5.0

    def describe(self) -> str:
        return ", ".join(f"{route.channel.name} (>= {route.min_severity})" for route in self.routes)


CHANNEL_KEYS = {
    "log": {"min_severity": str},
    "email": {"host": str, "port": int, "starttls": bool, "username": str, "password": str, "sender": str,
              "recipients": list, "min_severity": str},
    "webhook": {"url": str, "min_severity": str},
}
TOP_KEYS = {"attempts": int, "backoff_seconds": float, "timeout_seconds": float}
DEFAULT_MIN_SEVERITY = {"log": "info", "email": "error", "webhook": "warning"}


def _from_env(raw: str, kind: type, name: str) -> Any:
    if kind is bool:
        if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise AlertConfigError(f"{name}={raw!r}: use true or false.")
        return raw.lower() in ("true", "1", "yes")
    if kind is list:
        return [part.strip() for part in raw.split(",") if part.strip()]
    try:
        return kind(raw)
    except ValueError:
        raise AlertConfigError(f"{name}={raw!r} is not a {kind.__name__}.") from None


def _checked(where: str, values: Mapping[str, Any], keys: Mapping[str, type]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(keys))
    if unknown:
        raise AlertConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(keys)}.")
    for name, value in values.items():
        kind = keys[name]
        accepted = (int, float) if kind is float else kind
        if not isinstance(value, accepted) or (kind is not bool and isinstance(value, bool)):
            raise AlertConfigError(f"{where}.{name} = {value!r}: expected a {kind.__name__}.")
    return dict(values)


def read_alert_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """[alerts] of payops.toml with the PAYOPS_ALERT_* overrides applied, checked key by key."""
    env = os.environ if environ is None else environ
    path = settings.home / CONFIG_FILE
    try:
        document = tomllib.loads(path.read_text()) if path.exists() else {}
    except tomllib.TOMLDecodeError as exc:
        raise AlertConfigError(f"{path} is not valid TOML: {exc}") from None
    alerts = document.get("alerts", {})
    channels = {name: alerts.get(name, {}) for name in CHANNEL_KEYS}
    top = {name: value for name, value in alerts.items() if name not in CHANNEL_KEYS}
    config = {"top": _checked(f"{path.name} [alerts]", top, TOP_KEYS)}
    for name, value in TOP_KEYS.items():
        variable = f"{ENV_PREFIX}{name.upper()}"
        if env.get(variable):
            config["top"][name] = _from_env(env[variable], value, variable)
    for channel, keys in CHANNEL_KEYS.items():
        values = _checked(f"{path.name} [alerts.{channel}]", channels[channel], keys)
        for name, kind in keys.items():
            variable = f"{ENV_PREFIX}{channel.upper()}_{name.upper()}"
            if env.get(variable):
                values[name] = _from_env(env[variable], kind, variable)
        config[channel] = values
    return config


def load_alert_config(settings: Settings, environ: Mapping[str, str] | None = None) -> AlertConfig:
    """The channels and delivery policy; raises AlertConfigError saying what to fix. Commands call it at start."""
    raw = read_alert_settings(settings, environ)
    top = raw["top"]
    attempts = top.get("attempts", 3)
    if attempts < 1:
        raise AlertConfigError(f"alerts.attempts = {attempts}: at least 1.")
    timeout = float(top.get("timeout_seconds", 5.0))
    routes = []
    for channel in CHANNEL_KEYS:
        values = raw[channel]
        minimum = values.pop("min_severity", DEFAULT_MIN_SEVERITY[channel])
        if minimum not in SEVERITIES:
            raise AlertConfigError(f"alerts.{channel}.min_severity = {minimum!r}: use one of {', '.join(SEVERITIES)}.")
        if channel == "log":
            routes.append(Route(LogChannel(), minimum))
        elif channel == "webhook" and values:
            if not values.get("url", "").startswith(("http://", "https://")):
                raise AlertConfigError("alerts.webhook.url must be an http(s) URL (or set PAYOPS_ALERT_WEBHOOK_URL).")
            routes.append(Route(WebhookChannel(values["url"], timeout), minimum))
        elif channel == "email" and values:
            missing = [name for name in ("host", "sender", "recipients") if not values.get(name)]
            if missing:
                raise AlertConfigError(f"alerts.email needs {', '.join(missing)} (or PAYOPS_ALERT_EMAIL_"
                                       f"{missing[0].upper()}); remove [alerts.email] to send no email.")
            if values.get("username") and not values.get("password"):
                raise AlertConfigError("alerts.email.username is set without a password: set "
                                       "PAYOPS_ALERT_EMAIL_PASSWORD.")
            routes.append(Route(EmailChannel(
                host=values["host"], port=values.get("port", 587), sender=values["sender"],
                recipients=tuple(values["recipients"]), username=values.get("username"),
                password=values.get("password"), starttls=values.get("starttls", True), timeout_seconds=timeout,
            ), minimum))
    return AlertConfig(tuple(routes), attempts=attempts, backoff_seconds=float(top.get("backoff_seconds", 1.0)),
                       timeout_seconds=timeout)


OPEN_CONDITIONS = sa.text("""
select id, key, severity, message, details from ops.alert_conditions
where resolved_at is null and kind = any(:kinds)
""")
OPEN_CONDITION = sa.text("""
insert into ops.alert_conditions (key, kind, severity, message, details)
values (:key, :kind, :severity, :message, cast(:details as jsonb))
on conflict (key) where resolved_at is null do update set last_seen_at = now()
returning id, (xmax = 0) as opened
""")
RESOLVE_CONDITION = sa.text("update ops.alert_conditions set resolved_at = now() where id = :id")
RECORD_ATTEMPT = sa.text("""
insert into ops.alert_deliveries (condition_id, transition, channel, attempt, delivered, error)
values (:condition_id, :transition, :channel, :attempt, :delivered, :error)
""")
# The latest attempt of each message (condition, channel, transition) that never got through.
PENDING = sa.text("""
select latest.condition_id, latest.transition, latest.channel, latest.attempt, latest.attempted_at,
       c.key, c.severity, c.message, c.details
from (
    select distinct on (condition_id, channel, transition) *
    from ops.alert_deliveries
    order by condition_id, channel, transition, attempt desc
) latest
join ops.alert_conditions c on c.id = latest.condition_id
where not latest.delivered
""")


@dataclass
class SyncResult:
    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    undelivered: int = 0


class Notifier:
    """Opens and resolves conditions in ops.alert_conditions and delivers each change once to every channel."""

    def __init__(self, engine: sa.Engine, config: AlertConfig, sleep: Callable[[float], None] = time.sleep):
        self.engine, self.config, self._sleep = engine, config, sleep

    def sync(self, kinds: Collection[str], alerts: Iterable[Alert]) -> SyncResult:
        """`alerts` are the conditions of these `kinds` that hold now: open the new ones, resolve the open ones
        that no longer hold, and deliver those changes. Conditions of other kinds are left alone."""
        firing = {alert.key: alert for alert in alerts}
        stray = sorted({alert.kind for alert in firing.values()} - set(kinds))
        if stray:
            raise ValueError(f"alerts of kinds {stray} were passed to a sync of {sorted(kinds)}")
        result = SyncResult()
        with self.engine.begin() as conn:
            open_now = conn.execute(OPEN_CONDITIONS, {"kinds": list(kinds)}).all()
            changes = [(row.id, "resolved", Alert(row.key, row.severity, row.message, resolved=True,
                                                  details=row.details))
                       for row in open_now if row.key not in firing]
            for row_id, _, alert in changes:
                conn.execute(RESOLVE_CONDITION, {"id": row_id})
                result.resolved.append(alert.key)
            for alert in firing.values():
                condition_id, opened = self._open(conn, alert)
                if opened:
                    changes.append((condition_id, "opened", alert))
                    result.opened.append(alert.key)
        # Delivered after the commit: a slow channel holds no lock, and a crash redelivers nothing.
        for condition_id, transition, alert in changes:
            result.undelivered += not self._deliver(condition_id, transition, alert)
        return result

    def open(self, alert: Alert) -> bool:
        """Open one condition (announced only if it was not open already); True when every channel got it."""
        with self.engine.begin() as conn:
            condition_id, opened = self._open(conn, alert)
        return self._deliver(condition_id, "opened", alert) if opened else True

    def resolve(self, key: str) -> bool:
        """Resolve the open condition `key`, if any, and announce it."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.text("update ops.alert_conditions set resolved_at = now() "
                                       "where key = :key and resolved_at is null "
                                       "returning id, severity, message, details"), {"key": key}).first()
        if row is None:
            return True
        return self._deliver(row.id, "resolved", Alert(key, row.severity, row.message, resolved=True,
                                                       details=row.details))

    def notify_event(self, alert: Alert) -> bool:
        """A one-off event (an export done, a payout failed): recorded opened-and-resolved, announced once."""
        with self.engine.begin() as conn:
            condition_id, _ = self._open(conn, alert)
            conn.execute(RESOLVE_CONDITION, {"id": condition_id})
        return self._deliver(condition_id, "opened", alert)

    def deliver_pending(self) -> int:
        """Retry messages whose last attempt failed, once each, when their back-off has passed; returns how
        many are still undelivered."""
        with self.engine.connect() as conn:
            pending = conn.execute(PENDING).all()
            now = conn.execute(sa.text("select now()")).scalar()
        routes = {route.channel.name: route for route in self.config.routes}
        still = 0
        for row in pending:
            route = routes.get(row.channel)
            if route is None:
                continue  # the channel was removed from the configuration
            wait = min(self.config.backoff_seconds * 2 ** row.attempt, MAX_PENDING_BACKOFF_SECONDS)
            if (now - row.attempted_at).total_seconds() < wait:
                still += 1
                continue
            alert = Alert(row.key, row.severity, row.message, resolved=row.transition == "resolved",
                          details=row.details)
            still += not self._attempt(route, row.condition_id, row.transition, alert, row.attempt + 1)
        return still

    def _open(self, conn: sa.Connection, alert: Alert) -> tuple[int, bool]:
        if alert.severity not in SEVERITIES:
            raise ValueError(f"alert {alert.key}: severity {alert.severity!r} is not one of {SEVERITIES}")
        details = {**alert.details, "value": alert.value, "threshold": alert.threshold}
        row = conn.execute(OPEN_CONDITION, {"key": alert.key, "kind": alert.kind, "severity": alert.severity,
                                            "message": alert.message,
                                            "details": json.dumps(details, default=str)}).one()
        return row.id, row.opened

    def _deliver(self, condition_id: int, transition: str, alert: Alert) -> bool:
        """Every channel that takes this severity, each with its own retries; True when all delivered."""
        delivered = True
        for route in self.config.routes:
            if not route.takes(alert):
                continue
            for attempt in range(1, self.config.attempts + 1):
                if self._attempt(route, condition_id, transition, alert, attempt):
                    break
                if attempt < self.config.attempts:
                    self._sleep(self.config.backoff_seconds * 2 ** (attempt - 1))
            else:
                delivered = False
        return delivered

    def _attempt(self, route: Route, condition_id: int, transition: str, alert: Alert, attempt: int) -> bool:
        error = None
        try:
            route.channel.deliver(alert)
        except DeliveryFailed as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a channel must never fail the caller
            error = type(exc).__name__
        if error:
            log.warning("alert %s not delivered to %s (attempt %d): %s", alert.key, route.channel.name, attempt, error)
        try:
            with self.engine.begin() as conn:
                conn.execute(RECORD_ATTEMPT, {"condition_id": condition_id, "transition": transition,
                                              "channel": route.channel.name, "attempt": attempt,
                                              "delivered": error is None, "error": error})
        except sa.exc.SQLAlchemyError as exc:
            log.warning("delivery of alert %s to %s not recorded: %s", alert.key, route.channel.name,
                        type(exc).__name__)
        return error is None


def notifier_for(engine: sa.Engine, settings: Settings) -> Notifier:
    return Notifier(engine, load_alert_config(settings))


def notify_event(engine: sa.Engine, settings: Settings, alert: Alert) -> bool:
    """The hook for one-off events raised outside monitoring (exports, payouts): announce `alert` once on every
    channel whose minimum severity it reaches. Never raises on a delivery failure; returns whether all got it."""
    return notifier_for(engine, settings).notify_event(alert)
