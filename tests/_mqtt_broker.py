"""A real MQTT broker (amqtt) on a free loopback port, in a child process that a test can kill and
start again on the same port (a broker crash and restart mid-run). amqtt's own in-process shutdown
can wait many seconds on connected sessions; a killed process is what a crashed broker looks like."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"no MQTT broker on 127.0.0.1:{port} after {timeout} s")


class Broker:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="amqtt_")
        self.config = Path(self._dir.name) / "broker.yaml"
        self.config.write_text(
            "listeners:\n  default:\n    type: tcp\n"
            f"    bind: 127.0.0.1:{self.port}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
        )
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(self.port)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill the broker (SIGKILL: its clients see the connection drop, as in a crash)."""
        if self._proc is not None:
            p, self._proc = self._proc, None
            p.kill()
            p.wait(10)

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()
