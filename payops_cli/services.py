"""`payops serve` and `payops demo`: the long-running services, supervised until any signal or any death.

Each service is a child in its own process group, its output in PAYOPS_HOME/logs/<service>.log. An address is
printed only once the service answers it. SIGTERM, SIGHUP and Ctrl-C stop every child (SIGTERM to its group,
SIGKILL after a grace period); a child that dies stops the others, with a message naming its log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from payops.settings import Settings

BIN = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parent.parent
BIND_HOST_VARIABLE = "PAYOPS_BIND_HOST"
DEFAULT_BIND_HOST = "127.0.0.1"
READY_TIMEOUT_SECONDS = 300
STOP_GRACE_SECONDS = 15


class Stop(Exception):
    """A signal asked us to stop."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def bind_host() -> str:
    """PAYOPS_BIND_HOST: where every service listens. 127.0.0.1 by default; 0.0.0.0 exposes them all."""
    return os.environ.get(BIND_HOST_VARIABLE) or DEFAULT_BIND_HOST


def private_home(settings: Settings) -> None:
    """Files payops and its children write under PAYOPS_HOME are readable by their owner only: the folder holds the
    database, secrets and logs."""
    os.umask(0o077)
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.home.chmod(0o700)


def logs_dir(settings: Settings) -> Path:
    path = settings.home / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP stop us as Ctrl-C does (systemd, Docker and Kubernetes stop with SIGTERM)."""

    def handler(signum: int, frame: object) -> None:
        raise Stop(signum)

    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextlib.contextmanager
def output_to(log_file: Path) -> Iterator[None]:
    """Send this process's stdout and stderr, and its subprocesses', to `log_file` (file descriptors 1 and 2)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_file.open("a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


@dataclass
class Service:
    name: str
    command: list[str]
    address: str
    """What a person opens."""
    probe: str
    """What answers 2xx once the service is ready."""
    process: subprocess.Popen | None = None
    log: Path | None = None


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except Exception:  # noqa: BLE001 - not answering yet, whatever the reason
        return False


def start(services: list[Service], settings: Settings, env: dict[str, str]) -> None:
    for service in services:
        service.log = logs_dir(settings) / f"{service.name.lower().replace(' ', '-')}.log"
        with service.log.open("a") as log:
            # Its own session: a Ctrl-C in the terminal reaches us only, and we stop the children in order.
            service.process = subprocess.Popen(service.command, cwd=REPO_ROOT, env=env, stdout=log,
                                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                               start_new_session=True)


def check_alive(services: list[Service]) -> None:
    for service in services:
        code = service.process.poll()
        if code is not None:
            raise click.ClickException(f"{service.name} stopped unexpectedly (exit status {code}); the others "
                                       f"were stopped. Its log: {service.log}")


def wait_until_ready(services: list[Service], echo: Callable[[str], None]) -> None:
    """Print each address once its service answers; fail if one dies or never answers."""
    waiting = [service for service in services if service.probe]
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while waiting:
        check_alive(services)
        for service in [s for s in waiting if answers(s.probe)]:
            echo(f"{service.name + ':':12} {service.address}")
            waiting.remove(service)
        if waiting and time.monotonic() > deadline:
            raise click.ClickException(f"{', '.join(s.name for s in waiting)} did not answer within "
                                       f"{READY_TIMEOUT_SECONDS} s; see {waiting[0].log}")
        time.sleep(0.5)


def supervise(services: list[Service]) -> None:
    """Until a child dies (an error) or a signal comes (Stop, KeyboardInterrupt)."""
    while True:
        check_alive(services)
        time.sleep(0.5)


def stop_all(services: list[Service]) -> None:
    running = [s for s in services if s.process is not None and s.process.poll() is None]
    for service in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for service in running:
        try:
            service.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()
    # A group may outlive its leader (dagster-webserver's and the daemon's own subprocesses): end those too.
    for service in services:
        if service.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGKILL)


def payops_services(settings: Settings, dagster_port: int, streamlit_port: int, webhook_port: int,
                    workspace: Path) -> list[Service]:
    host = bind_host()
    # A wildcard bind is reached locally through the loopback address.
    local = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    services = [
        Service("Dagster UI", [str(BIN / "dagster-webserver"), "-w", str(workspace), "-h", host,
                               "-p", str(dagster_port)],
                f"http://{local}:{dagster_port}", f"http://{local}:{dagster_port}/server_info"),
        Service("Dagster daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], "", ""),
        Service("Streamlit", [str(BIN / "streamlit"), "run", str(REPO_ROOT / "streamlit_app" / "server.py"),
                              "--server.headless", "true", "--server.address", host,
                              "--server.port", str(streamlit_port), "--browser.gatherUsageStats", "false"],
                f"http://{local}:{streamlit_port}", f"http://{local}:{streamlit_port}/_stcore/health"),
    ]
    if settings.stripe_webhook_secrets:
        services.append(Service("Webhooks", [str(BIN / "payops"), "webhooks", "serve", "--host", host,
                                             "--port", str(webhook_port)],
                                f"http://{local}:{webhook_port}/webhooks/stripe",
                                f"http://{local}:{webhook_port}/healthz"))
    return services
