"""`payops demo` and `payops serve` as a person and a service manager see them: one line per stage, addresses only
once each service answers, no warning twice; SIGTERM leaves no child process, no listening port and no embedded
Postgres behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import psutil
import pytest

from payops.db import embedded_running
from payops.settings import Settings
from tests.conftest import environment

PAYOPS = Path(os.sys.executable).parent / "payops"
READY_LINE = "Ctrl-C stops them all."
ADDRESS_PREFIXES = ("Dagster UI:", "Streamlit:", "Webhooks:")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except Exception:  # noqa: BLE001
        return False


class Running:
    """A payops command whose output is read line by line; each address is probed the moment it is printed."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.lines: list[str] = []
        self.answered_when_printed: dict[str, bool] = {}
        self.process = subprocess.Popen([str(PAYOPS), *args], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            line = line.rstrip("\n")
            if line.startswith(ADDRESS_PREFIXES):
                url = line.split(None, 2)[-1]
                probe = url.replace("/webhooks/stripe", "/healthz")
                self.answered_when_printed[line.split(":")[0]] = answers(probe)
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.process.poll() is None, "\n".join(self.lines)
            assert time.monotonic() < deadline, f"no {text!r} within {timeout} s:\n" + "\n".join(self.lines)
            time.sleep(0.5)

    def terminate_and_check_nothing_is_left(self, ports: list[int]) -> None:
        children = psutil.Process(self.process.pid).children(recursive=True)
        assert len(children) >= 3, "the services run as children"
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(90) == 0, "\n".join(self.lines)
        self.reader.join(10)
        # Helpers of our own process (multiprocessing's resource tracker) exit when it does: give them a moment.
        _, alive = psutil.wait_procs(children, timeout=10)
        alive = [child for child in alive if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], [child.cmdline() for child in alive]
        assert [port for port in ports if listening(port)] == []


def assert_no_warning_repeats(lines: list[str]) -> None:
    warnings = Counter(line for line in lines if "warn" in line.lower())
    assert [line for line, count in warnings.items() if count > 1] == []


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("demo")


def test_demo_prints_stages_then_addresses_once_they_answer_and_stops_on_sigterm(home):
    ports = free_ports(3)
    with environment(PAYOPS_HOME=str(home)):
        env = dict(os.environ)
        demo = Running(["demo", "--days", "2", "--students", "6", "--dagster-port", str(ports[0]),
                        "--streamlit-port", str(ports[1]), "--webhook-port", str(ports[2])], env)
        try:
            demo.wait_for(READY_LINE, timeout=600)
        finally:
            if demo.process.poll() is None:
                demo.terminate_and_check_nothing_is_left(ports)
        assert not embedded_running(Settings.from_env()), "SIGTERM stops the embedded Postgres the demo started"

    assert demo.answered_when_printed == {"Dagster UI": True, "Streamlit": True, "Webhooks": True}
    stages = [line for line in demo.lines if line.startswith("[")]
    assert [line.split("]")[0] + "]" for line in stages] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    first_address = next(i for i, line in enumerate(demo.lines) if line.startswith(ADDRESS_PREFIXES))
    assert first_address > demo.lines.index(stages[-1])
    assert_no_warning_repeats(demo.lines)
    assert len(demo.lines) < 30, demo.lines
    assert (home / "logs" / "demo.log").stat().st_mode & 0o077 == 0, "logs are readable by their owner only"
    assert "stopping (SIGTERM)" in "\n".join(demo.lines)


def test_serve_stops_every_child_and_port_on_sigterm(home):
    ports = free_ports(3)
    with environment(PAYOPS_HOME=str(home), STRIPE_WEBHOOK_SECRET="whsec_test"):
        serve = Running(["serve", "--dagster-port", str(ports[0]), "--streamlit-port", str(ports[1]),
                         "--webhook-port", str(ports[2])], dict(os.environ))
        try:
            serve.wait_for(READY_LINE, timeout=300)
        finally:
            if serve.process.poll() is None:
                serve.terminate_and_check_nothing_is_left(ports)
        assert not embedded_running(Settings.from_env())
    assert set(serve.answered_when_printed) == {"Dagster UI", "Streamlit", "Webhooks"}
    assert_no_warning_repeats(serve.lines)


def test_a_child_that_dies_stops_the_others_with_a_message_naming_its_log(tmp_path):
    import click

    from payops_cli import services

    children = [services.Service("Steady", ["sleep", "60"], "", ""),
                services.Service("Fragile", ["sh", "-c", "echo broken; exit 3"], "", "")]
    services.start(children, Settings.from_env({"PAYOPS_HOME": str(tmp_path)}), dict(os.environ))
    try:
        with pytest.raises(click.ClickException) as stopped:
            services.supervise(children)
    finally:
        services.stop_all(children)
    assert "Fragile stopped unexpectedly (exit status 3)" in stopped.value.message
    assert str(tmp_path / "logs" / "fragile.log") in stopped.value.message
    assert (tmp_path / "logs" / "fragile.log").read_text() == "broken\n"
    assert children[0].process.poll() is not None, "the steady one was stopped too"
