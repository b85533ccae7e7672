"""HTTP webhook sink: POST each result's JSON to a URL (an MES endpoint, Node-RED, a cloud function).

stdlib `http.client` with a kept-alive connection (a new TCP connection per result would cost more
than the message); any error or a non-2xx answer counts as a failure and the runner backs off.
"""

from __future__ import annotations

import http.client
import urllib.parse

from inspection_core.sinks.base import Delivery, Sink


class WebhookSink(Sink):
    """`http://host:port/path` or `https://…`. Results only (status changes are not posted)."""

    scheme = "http"

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        super().__init__(url)
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self._u = u
        self.timeout_s = timeout_s
        self._path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        self._con: http.client.HTTPConnection | None = None

    def open(self) -> None:
        self.close()
        cls = http.client.HTTPSConnection if self._u.scheme == "https" else http.client.HTTPConnection
        self._con = cls(self._u.hostname, self._u.port, timeout=self.timeout_s)
        self._con.connect()

    def send(self, delivery: Delivery) -> None:
        if delivery.kind == "status":
            return
        assert self._con is not None
        self._con.request(
            "POST", self._path, body=delivery.data, headers={"Content-Type": "application/json"}
        )
        resp = self._con.getresponse()
        resp.read()
        if not 200 <= resp.status < 300:
            raise ConnectionError(f"HTTP {resp.status} {resp.reason} from {self.url}")

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
