"""Alerts reach a real local SMTP server (aiosmtpd, with STARTTLS and AUTH) and a local HTTP receiver: one alert per
open condition, one resolve message, retries recorded, severities per channel, a channel that is down never fails
the work, and a configuration that is wrong is named at start."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from ingest.notify import Alert, AlertConfigError, Notifier, load_alert_config

SECRET_PATH = "/services/T000/B000/not-a-real-secret"
SMTP_USER, SMTP_PASSWORD = "alerts@payops.test", "s3cret-pass"


class HttpReceiver:
    """A Slack incoming webhook stand-in; `fail_first` answers 503 to that many posts before accepting."""

    def __init__(self, fail_first: int = 0) -> None:
        received = self.received = []
        self.fail_first = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if outer.fail_first:
                    outer.fail_first -= 1
                    self.send_response(503)
                else:
                    received.append((self.path, body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}{SECRET_PATH}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append((session.authenticated, envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(), SMTP_PASSWORD.encode())
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def tls_certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, which the test then trusts through SSL_CERT_FILE."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def mailbox(tls_certificate, monkeypatch) -> Iterator[tuple[Mailbox, int]]:
    cert, key = tls_certificate
    tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    box = Mailbox()
    # STARTTLS required before AUTH, as a real relay insists.
    with socket.socket() as probe:  # aiosmtpd's controller needs a fixed port to check it is up
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=tls_context, require_starttls=True,
                            authenticator=authenticate, auth_require_tls=True)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def no_alerts(engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("truncate ops.alert_deliveries, ops.alert_conditions"))


def write_config(home: Path, text: str) -> None:
    (home / "payops.toml").write_text(text)


def deliveries(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "select c.key, d.transition, d.channel, d.attempt, d.delivered from ops.alert_deliveries d "
            "join ops.alert_conditions c on c.id = d.condition_id order by d.id")).all()


LAG = Alert("webhook_lag_p95", "warning", "Stripe webhook lag p95 is 400 s, above 300 s", 400, 300)
FAILED = Alert("webhook_failed", "error", "2 Stripe events failed processing, above 0", 2, 0)


def test_one_alert_per_open_condition_then_one_resolve_on_email_and_webhook(
        engine, module_warehouse, mailbox, receiver):
    box, port = mailbox
    write_config(module_warehouse.home, f"""
[alerts]
backoff_seconds = 0.01
[alerts.email]
host = "127.0.0.1"
port = {port}
username = "{SMTP_USER}"
sender = "payops <{SMTP_USER}>"
recipients = ["finance@payops.test"]
min_severity = "error"
[alerts.webhook]
min_severity = "warning"
""")
    environ = {"PAYOPS_ALERT_WEBHOOK_URL": receiver.url, "PAYOPS_ALERT_EMAIL_PASSWORD": SMTP_PASSWORD}
    notify = Notifier(engine, load_alert_config(module_warehouse, environ), sleep=lambda s: None)
    kinds = ("webhook_lag_p95", "webhook_failed")

    first = notify.sync(kinds, [LAG, FAILED])
    again = notify.sync(kinds, [LAG, FAILED])
    resolved = notify.sync(kinds, [LAG])

    assert sorted(first.opened) == ["webhook_failed", "webhook_lag_p95"] and first.undelivered == 0
    assert again.opened == [] and again.resolved == []
    assert resolved.resolved == ["webhook_failed"]
    posted = [(body["key"], body["resolved"], body["text"]) for _, body in receiver.received]
    assert sorted(posted) == sorted([
        ("webhook_lag_p95", False, "[payops] WARNING: Stripe webhook lag p95 is 400 s, above 300 s"),
        ("webhook_failed", False, "[payops] ERROR: 2 Stripe events failed processing, above 0"),
        ("webhook_failed", True, "[payops] RESOLVED: 2 Stripe events failed processing, above 0"),
    ])
    assert {path for path, _ in receiver.received} == {SECRET_PATH}
    # Email takes errors only: the failed events, opened and resolved; never the lag warning.
    assert [(authenticated, recipients) for authenticated, recipients, _ in box.messages] == [
        (True, ["finance@payops.test"])] * 2
    subjects = [next(line for line in content.splitlines() if line.startswith("Subject:"))
                for _, _, content in box.messages]
    assert subjects == ["Subject: [payops] ERROR: 2 Stripe events failed processing, above 0",
                        "Subject: [payops] RESOLVED: 2 Stripe events failed processing, above 0"]
    with engine.connect() as conn:
        open_keys = conn.scalars(sa.text("select key from ops.alert_conditions where resolved_at is null")).all()
    assert open_keys == ["webhook_lag_p95"]


def test_a_failed_delivery_is_retried_with_back_off_and_every_attempt_recorded(engine, module_warehouse):
    flaky = HttpReceiver(fail_first=2)
    waits = []
    try:
        write_config(module_warehouse.home, "[alerts]\nattempts = 3\nbackoff_seconds = 0.5\n")
        config = load_alert_config(module_warehouse, {"PAYOPS_ALERT_WEBHOOK_URL": flaky.url})
        result = Notifier(engine, config, sleep=waits.append).sync(["webhook_failed"], [FAILED])
    finally:
        flaky.close()
    assert result.undelivered == 0
    assert waits == [0.5, 1.0]
    assert [row for row in deliveries(engine) if row.channel == "webhook"] == [
        ("webhook_failed", "opened", "webhook", 1, False), ("webhook_failed", "opened", "webhook", 2, False),
        ("webhook_failed", "opened", "webhook", 3, True)]


def test_a_channel_that_is_down_fails_nothing_and_is_retried_on_a_later_pass(engine, module_warehouse):
    write_config(module_warehouse.home, "[alerts]\nattempts = 2\nbackoff_seconds = 0\n")
    down = load_alert_config(module_warehouse, {"PAYOPS_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook"})
    result = Notifier(engine, down, sleep=lambda s: None).sync(["webhook_failed"], [FAILED])
    assert result.opened == ["webhook_failed"] and result.undelivered == 1
    assert [row.delivered for row in deliveries(engine) if row.channel == "webhook"] == [False, False]

    back = HttpReceiver()
    try:
        up = load_alert_config(module_warehouse, {"PAYOPS_ALERT_WEBHOOK_URL": back.url})
        assert Notifier(engine, up).deliver_pending() == 0
    finally:
        back.close()
    assert [body["key"] for _, body in back.received] == ["webhook_failed"]
    assert [row[3:] for row in deliveries(engine) if row.channel == "webhook"] == [(1, False), (2, False), (3, True)]


def test_a_wrong_configuration_is_named_at_start(module_warehouse):
    cases = {
        "[alerts.email]\nhost = 'x'\n": "alerts.email needs sender, recipients",
        "[alerts.webhook]\nurl = 'ftp://x'\n": "alerts.webhook.url must be an http(s) URL",
        "[alerts.log]\nmin_severity = 'loud'\n": "use one of info, warning, error, critical",
        "[alerts]\nattemps = 3\n": "unknown setting(s) attemps",
        "[alerts\n": "is not valid TOML",
    }
    for text, expected in cases.items():
        write_config(module_warehouse.home, text)
        with pytest.raises(AlertConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            load_alert_config(module_warehouse, {})
    write_config(module_warehouse.home, "")
    with pytest.raises(AlertConfigError, match="PAYOPS_ALERT_ATTEMPTS='many' is not a int"):
        load_alert_config(module_warehouse, {"PAYOPS_ALERT_ATTEMPTS": "many"})
