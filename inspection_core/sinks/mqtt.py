"""MQTT sink (paho-mqtt): one JSON message per result on `<prefix>/<station>/result`, the station's
status retained on `<prefix>/<station>/status` (with a last will saying "offline", so a PLC sees a
crashed station too).

paho's own network thread keeps the connection and reconnects with backoff; this sink publishes only
while connected (otherwise it raises, and the delivery is counted as failed), so paho never queues
messages of its own without bound while the broker is away.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections import deque

from inspection_core.sinks.base import Delivery, Sink
from inspection_core.sinks.message import encode, status_message

DEFAULT_PREFIX = "aoi"


class MqttSink(Sink):
    """`mqtt://host[:port]/prefix?qos=0|1|2` (port 1883 by default). `station` names the topics."""

    scheme = "mqtt"

    def __init__(
        self,
        url: str,
        station: str,
        qos: int | None = None,
        connect_timeout_s: float = 2.0,
        keepalive_s: int = 10,
    ) -> None:
        super().__init__(url)
        u = urllib.parse.urlsplit(url)
        if u.scheme != "mqtt" or not u.hostname:
            raise ValueError(f"not an mqtt://host[:port]/prefix URL: {url!r}")
        q = urllib.parse.parse_qs(u.query)
        self.qos = int(q.get("qos", [qos if qos is not None else 0])[0])
        if self.qos not in (0, 1, 2):
            raise ValueError(f"MQTT QoS must be 0, 1 or 2, not {self.qos}")
        self.host = u.hostname
        self.port = u.port or 1883
        prefix = u.path.strip("/") or DEFAULT_PREFIX
        self.result_topic = f"{prefix}/{station}/result"
        self.status_topic = f"{prefix}/{station}/status"
        self.station = station
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self._client = None
        self._connected = threading.Event()
        self._status: bytes | None = None  # the last status, published again on every (re)connect
        self._unacked: dict[int, int] = {}  # QoS ≥ 1: message id → verdict time (ns), until the PUBACK
        self.ack_latency_ms: deque[float] = deque(maxlen=4096)  # verdict → the broker acknowledged it

    def _make_client(self):  # noqa: ANN202 - paho Client
        import paho.mqtt.client as mqtt

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"aoi-{self.station}", clean_session=True)
        c.will_set(self.status_topic, encode(status_message(self.station, "offline")), qos=1, retain=True)
        c.reconnect_delay_set(min_delay=1, max_delay=10)
        c.max_queued_messages_set(1000)  # in-flight QoS>0 messages: a bound, not a buffer for outages

        def on_connect(client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
            if not reason_code.is_failure:
                if self._status is not None:
                    client.publish(self.status_topic, self._status, qos=1, retain=True)
                self._connected.set()

        def on_disconnect(client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
            self._connected.clear()

        def on_publish(client, userdata, mid, reason_code, properties) -> None:  # noqa: ANN001
            t = self._unacked.pop(mid, None)
            if t is not None:
                self.ack_latency_ms.append((time.time_ns() - t) / 1e6)

        c.on_connect = on_connect
        c.on_disconnect = on_disconnect
        c.on_publish = on_publish
        return c

    def open(self) -> None:
        if self._client is None:
            self._client = self._make_client()
            self._client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
            self._client.loop_start()  # paho's thread: network I/O and reconnects
        if not self._connected.wait(self.connect_timeout_s):
            raise ConnectionError(f"no MQTT broker at {self.host}:{self.port}")

    def send(self, delivery: Delivery) -> None:
        assert self._client is not None
        if not self._connected.is_set():
            raise ConnectionError(f"MQTT broker {self.host}:{self.port} disconnected")
        if delivery.kind == "status":
            self._status = delivery.data
            info = self._client.publish(self.status_topic, delivery.data, qos=1, retain=True)
        else:
            info = self._client.publish(self.result_topic, delivery.data, qos=self.qos)
            if self.qos and info.rc == 0:
                if len(self._unacked) > 10_000:  # acks lost with a connection: forget them
                    self._unacked.clear()
                self._unacked[info.mid] = delivery.t_ns
        if info.rc != 0:
            import paho.mqtt.client as mqtt

            raise ConnectionError(f"MQTT publish failed: {mqtt.error_string(info.rc)}")

    def close(self) -> None:
        if self._client is not None:
            c, self._client = self._client, None
            c.disconnect()  # after the hub's "offline" status, which went out first (one packet queue)
            c.loop_stop()
