"""A real MQTT broker (amqtt) on a free loopback port, in a thread of the test process, that can be
stopped and started again on the same port (the broker-restart test)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-broker", daemon=True)
        self._thread.start()
        self._broker: Any = None
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.ERROR)

    def _run(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> Broker:
        from amqtt.broker import Broker as AmqttBroker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }

        async def start() -> Any:
            b = AmqttBroker(config, loop=self._loop)
            await b.start()
            return b

        self._broker = self._run(start())
        return self

    def stop(self) -> None:
        if self._broker is not None:
            b, self._broker = self._broker, None
            self._run(b.shutdown())

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
