"""Sinks (issue #26): every result handed to the line through bounded queues, against real receivers
on loopback (an amqtt broker, an http.server, an asyncua client) and a GenICam node-map stand-in."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from _mqtt_broker import Broker, free_port
from _tiny_data import inspection_result
from asyncua import ua

from inspection_core.records import RecordContext
from inspection_core.records.log import COLUMNS, make_row
from inspection_core.runtime.roles import Role, RoleStore
from inspection_core.sinks import (
    Delivery,
    Sink,
    SinkError,
    SinkHub,
    SinkState,
    load_urls,
    make_sink,
    save_urls,
)
from inspection_core.sinks.camera_output import CameraOutputSink
from inspection_core.sinks.opcua import OpcUaSink

CTX = RecordContext(
    recipe="tile",
    recipe_version=3,
    backend="onnxruntime",
    image_threshold=0.5,
    pixel_threshold=0.5,
    station="st1",
)
FAST = {"backoff_s": (0.02, 0.1), "fail_after": 3, "station": "st1"}


def wait_for(cond: Any, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return bool(cond())


class Slow(Sink):
    scheme = "slow"

    def __init__(self, gate: threading.Event) -> None:
        super().__init__("slow:")
        self.gate = gate
        self.got: list[int] = []

    def send(self, delivery: Delivery) -> None:
        self.gate.wait(5)
        if delivery.kind == "result":
            self.got.append(delivery.message["frame_id"])


class Dead(Sink):
    scheme = "dead"
    opens = 0

    def open(self) -> None:
        self.opens += 1
        raise ConnectionRefusedError("nobody home")


def test_message_matches_the_log_row() -> None:
    hub = SinkHub([], station="st1")
    d = Delivery("result", 1_700_000_000_000_000_000, inspection_result(7, 40), CTX, frame_timestamp_ns=5)
    m = json.loads(d.data)
    row = dict(zip(COLUMNS, make_row(inspection_result(7, 40), CTX, d.t_ns), strict=True))
    for k in ("frame_id", "verdict", "score", "margin", "recipe", "recipe_version", "time_utc", "n_defects",
              "backend"):  # fmt: skip
        assert m[k] == row[k], k
    assert m["backend"] == "onnxruntime"  # which runtime judged it, as the row says
    assert m["defects"] == json.loads(row["defects"]) and m["defects"][0]["area_px"] == 40
    assert m["margin"] == pytest.approx(0.3) and m["frame_timestamp_ns"] == 5
    hub.close()


def test_a_stuck_sink_never_blocks_submit_and_counts_drops() -> None:
    gate = threading.Event()
    slow = Slow(gate)
    hub = SinkHub([slow], queue_size=10, **FAST)
    big = inspection_result(1, 40)
    t0 = time.perf_counter()
    for _ in range(100):
        hub.submit(big, CTX)
    per_submit_ms = (time.perf_counter() - t0) * 1000 / 100
    assert per_submit_ms < 1.0  # O(1): no I/O, no wait for the stuck receiver
    assert wait_for(lambda: hub.pending == 0)
    st = hub.stats()[0]
    assert st.dropped >= 89 and st.dropped + st.queued + st.sent <= 102  # +2: status messages queued
    gate.set()
    assert wait_for(lambda: hub.stats()[0].queued == 0)
    assert slow.got and slow.got == sorted(slow.got)
    hub.close()
    assert not any(r.alive for r in hub.runners)


def test_a_dead_sink_backs_off_then_raises_the_alarm_and_inspection_goes_on() -> None:
    dead = Dead("dead:")
    folder_gate = threading.Event()
    folder_gate.set()
    ok = Slow(folder_gate)
    hub = SinkHub([dead, ok], **FAST)
    assert wait_for(lambda: hub.stats()[0].state is SinkState.FAILING)
    assert hub.poll() and "dead: failing: ConnectionRefusedError: nobody home" in hub.alarm()
    for i in range(5):
        assert hub.submit(inspection_result(i, None), CTX) >= 1
    assert wait_for(lambda: len(ok.got) == 5)
    opens = dead.opens
    assert 3 <= opens < 60  # backed off (0.02 → 0.1 s), not a busy loop
    assert hub.stats()[1].state is SinkState.CONNECTED
    hub.close()


def test_urls_and_station_config(tmp_path: Path) -> None:
    assert make_sink("mqtt://127.0.0.1:1884/line3?qos=1", "st1").result_topic == "line3/st1/result"
    assert make_sink("opcua://0.0.0.0:4841", "st1").port == 4841
    assert make_sink(f"folder:{tmp_path}?format=csv", "st1").fmt == "csv"
    assert make_sink("http://127.0.0.1:8080/hook", "st1").url.endswith("/hook")
    for bad in (
        "ftp://x",
        "mqtt://",
        "mqtt://h/p?qos=5",
        "folder:",
        "camera-output:Line1?width_ms=0",
        "nonsense",
    ):
        with pytest.raises(SinkError, match="bad sink URL"):
            make_sink(bad, "st1")
    assert load_urls(tmp_path) == []
    save_urls(tmp_path, ["mqtt://127.0.0.1/aoi", f"folder:{tmp_path}/out"])
    assert load_urls(tmp_path) == ["mqtt://127.0.0.1/aoi", f"folder:{tmp_path}/out"]
    (tmp_path / "sinks.json").write_text("[1]")
    with pytest.raises(SinkError, match="expected"):
        load_urls(tmp_path)


def test_folder_sink_json_and_csv(tmp_path: Path) -> None:
    hub = SinkHub(
        [make_sink(f"folder:{tmp_path}/j", "st1"), make_sink(f"folder:{tmp_path}/c?format=csv", "st1")],
        **FAST,
    )
    for i in range(3):
        hub.submit(inspection_result(i, 40 if i == 1 else None), CTX)
    assert wait_for(lambda: all(s.sent == 3 for s in hub.stats()))
    hub.close()
    files = sorted((tmp_path / "j").glob("*.json"))
    assert [json.loads(f.read_text())["verdict"] for f in files] == ["OK", "NG", "OK"]
    assert files[1].name.endswith("_1_NG.json")
    (csv_file,) = (tmp_path / "c").glob("results-*.csv")
    lines = csv_file.read_text().splitlines()
    assert lines[0].startswith("time_utc,station,frame_id,verdict") and len(lines) == 4
    assert ",1,NG," in lines[2]


def test_webhook_posts_json_and_survives_a_server_error() -> None:
    got: list[dict[str, Any]] = []
    fail = {"next": False}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if fail["next"]:
                fail["next"] = False
                self.send_response(500)
            else:
                got.append(json.loads(body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *a: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        hub = SinkHub([make_sink(f"http://127.0.0.1:{server.server_port}/hook", "st1")], **FAST)
        hub.submit(inspection_result(1, 40), CTX)
        assert wait_for(lambda: len(got) == 1)
        fail["next"] = True
        hub.submit(inspection_result(2, None), CTX)
        hub.submit(inspection_result(3, None), CTX)
        assert wait_for(lambda: len(got) == 2)
        st = hub.stats()[0]
        assert st.failed == 1 and "HTTP 500" in st.last_error and got[1]["frame_id"] == 3
        assert hub.send_test() == {hub.names[0]: None} and got[-1]["test"] is True
        hub.close()
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)


def test_mqtt_results_status_and_a_broker_restart() -> None:
    import paho.mqtt.client as mqtt

    broker = Broker().start()
    got: list[tuple[str, dict[str, Any], bool]] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    subscribed = [0]

    def on_subscribe(*_: Any) -> None:
        subscribed[0] += 1  # SUBACK: from now on the broker forwards to this subscriber

    sub.on_connect = lambda c, *_: c.subscribe("line/#", qos=1)
    sub.on_subscribe = on_subscribe
    sub.on_message = lambda c, u, m: got.append((m.topic, json.loads(m.payload), m.retain))
    sub.reconnect_delay_set(0.05, 0.2)
    hub = None
    try:
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()
        hub = SinkHub([make_sink(f"mqtt://127.0.0.1:{broker.port}/line?qos=1", "st1")], **FAST)
        assert wait_for(lambda: hub.stats()[0].state is SinkState.CONNECTED)
        for i in range(5):
            hub.submit(inspection_result(i, 40 if i == 2 else None), CTX)
        results = lambda: [m["frame_id"] for t, m, _ in got if t == "line/st1/result"]  # noqa: E731
        assert wait_for(lambda: results() == [0, 1, 2, 3, 4])
        assert [m["verdict"] for t, m, _ in got if t == "line/st1/result"][2] == "NG"
        assert wait_for(lambda: len(hub.runners[0].sink.ack_latency_ms) >= 5)  # QoS 1: PUBACKs timed
        broker.stop()  # mid-run: the station keeps inspecting, the sink counts what it cannot send
        i, end = 5, time.monotonic() + 10
        while hub.stats()[0].state is SinkState.CONNECTED and time.monotonic() < end:
            hub.submit(inspection_result(i, None), CTX)
            i += 1
            time.sleep(0.01)
        st = hub.stats()[0]
        assert st.state is not SinkState.CONNECTED and st.failed >= 1  # a failed send left CONNECTED
        assert "disconnected" in st.last_error or "no MQTT broker" in st.last_error
        connects = subscribed[0]
        broker.start()
        assert wait_for(lambda: hub.stats()[0].state is SinkState.CONNECTED, 15)
        assert wait_for(lambda: subscribed[0] > connects, 15)  # the test's subscriber is back too
        for j in range(1000, 1003):
            hub.submit(inspection_result(j, None), CTX)
        assert wait_for(lambda: results()[-3:] == [1000, 1001, 1002], 10)
        assert all(r.alive for r in hub.runners)
        # a late subscriber finds the retained status (online, with the recipe)
        late: list[Any] = []
        c2 = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c2.on_message = lambda c, u, m: late.append((json.loads(m.payload), m.retain))
        c2.connect("127.0.0.1", broker.port)
        c2.subscribe("line/st1/status", qos=1)
        c2.loop_start()
        assert wait_for(lambda: late)
        c2.loop_stop()
        c2.disconnect()
        assert late[0][1] is True and late[0][0]["state"] == "online" and late[0][0]["recipe"] == "tile"
    finally:
        if hub is not None:
            hub.close()
        sub.loop_stop()
        sub.disconnect()
        broker.close()
    assert any(t == "line/st1/status" and m["state"] == "offline" for t, m, _ in got)


def test_the_retained_mqtt_status_carries_current_counts() -> None:
    """A PLC or MES that reads the retained status (not every result) sees the counters of a moment
    ago, also after the results stop; they were published only when an alarm changed."""
    import paho.mqtt.client as mqtt

    broker = Broker().start()
    hub = None
    try:
        hub = SinkHub(
            [make_sink(f"mqtt://127.0.0.1:{broker.port}/line?qos=1", "st1")], status_every_s=0.2, **FAST
        )
        assert wait_for(lambda: hub.stats()[0].state is SinkState.CONNECTED)
        for i in range(7):
            hub.submit(inspection_result(i, 40 if i in (2, 5) else None), CTX)
        assert wait_for(lambda: hub.stats()[0].sent == 7)
        time.sleep(0.5)  # the results stopped: the last counts still go out

        def retained() -> dict[str, Any]:
            got: list[dict[str, Any]] = []
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
            c.on_message = lambda c, u, m: got.append(json.loads(m.payload)) if m.retain else None
            c.connect("127.0.0.1", broker.port)
            c.subscribe("line/st1/status", qos=1)
            c.loop_start()
            try:
                assert wait_for(lambda: got)
            finally:
                c.loop_stop()
                c.disconnect()
            return got[0]

        st = retained()
        assert (st["state"], st["inspected"], st["ok"], st["ng"]) == ("online", 7, 5, 2)
        hub.submit(inspection_result(7, 40), CTX)
        assert wait_for(lambda: retained()["ng"] == 3)
        hub.close()
        hub = None
    finally:
        if hub is not None:
            hub.close()
        broker.close()


def test_opcua_server_nodes_and_switch_recipe(tmp_path: Path) -> None:
    from asyncua import Client

    port = free_port()
    asked: list[str] = []
    sink = make_sink(
        f"opcua://127.0.0.1:{port}", "st1", switch_recipe=lambda n: asked.append(n) or f"switching to {n}"
    )
    roles = RoleStore(tmp_path / "roles.json")
    roles.set_pin(Role.ENGINEER, "2468")
    sink.roles = roles
    hub = SinkHub([sink], **FAST)
    try:
        assert wait_for(lambda: hub.stats()[0].state is SinkState.CONNECTED, 30)
        for i in range(3):
            hub.submit(inspection_result(i, 40 if i == 1 else None), CTX)
        assert wait_for(lambda: hub.stats()[0].sent == 3)

        async def read() -> tuple[dict[str, Any], str, str]:
            async with Client(f"opc.tcp://127.0.0.1:{port}/aoi/", timeout=5) as c:
                idx = await c.get_namespace_index("urn:aoi-station")
                obj = await c.nodes.objects.get_child(f"{idx}:AoiStation")
                vals = {}
                for n in (
                    "LastVerdict",
                    "Score",
                    "Margin",
                    "Inspected",
                    "NgCount",
                    "OkCount",
                    "Recipe",
                    "Alarm",
                ):
                    vals[n] = await (await obj.get_child(f"{idx}:{n}")).read_value()
                refused = await obj.call_method(f"{idx}:SwitchRecipe", "Tile B@2", "0000")
                answer = await obj.call_method(f"{idx}:SwitchRecipe", "Tile B@2", "2468")
                return vals, refused, answer

        vals, refused, answer = asyncio.run(asyncio.wait_for(read(), 20))
        assert vals["LastVerdict"] == "OK" and vals["Inspected"] == 3 and vals["NgCount"] == 1
        assert vals["OkCount"] == 2 and vals["Recipe"] == "tile" and vals["Alarm"] is False
        assert vals["Margin"] == pytest.approx(-0.4)
        assert refused.startswith("refused: switching the recipe needs the engineer's PIN")
        assert answer == "switching to Tile B@2" and asked == ["Tile B@2"]  # the engineer's PIN
    finally:
        hub.close()


def test_opcua_sign_and_encrypt_accepts_only_trusted_clients(tmp_path: Path) -> None:
    """`?security=sign_encrypt`: the server makes its own certificate, offers no NoSecurity endpoint,
    and lets in a client whose certificate is in `trusted/` — not an unknown one, not a plain one."""
    from asyncua import Client
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
    from cryptography.x509.oid import ExtendedKeyUsageOID

    async def client_cert(name: str) -> tuple[Path, Path]:
        key, cert = tmp_path / f"{name}-key.pem", tmp_path / f"{name}-cert.der"
        uri = f"urn:plc:{name}"
        await setup_self_signed_certificate(
            key, cert, uri, "localhost", [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": name}
        )
        return key, cert

    (plc_key, plc_cert), (other_key, other_cert) = (
        asyncio.run(client_cert("plc")),
        asyncio.run(client_cert("stranger")),
    )
    certs = tmp_path / "opcua"
    (certs / "trusted").mkdir(parents=True)
    (certs / "trusted" / "plc.der").write_bytes(plc_cert.read_bytes())  # the engineer trusts the PLC
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}/aoi/"
    sink = OpcUaSink(f"opcua://127.0.0.1:{port}?security=sign_encrypt", "st1", cert_dir=certs)
    hub = SinkHub([sink], **FAST)
    try:
        assert wait_for(lambda: hub.stats()[0].state is SinkState.CONNECTED, 30)
        assert (certs / "server-cert.der").is_file() and (certs / "server-key.pem").is_file()
        hub.submit(inspection_result(1, 40), CTX)
        assert wait_for(lambda: hub.stats()[0].sent == 1)

        async def read(key: Path | None, cert: Path | None) -> str:
            c = Client(url, timeout=5)
            c.application_uri = f"urn:plc:{cert.stem.split('-')[0]}" if cert else c.application_uri
            if cert is not None:
                await c.set_security(SecurityPolicyBasic256Sha256, str(cert), str(key))
            async with c:
                idx = await c.get_namespace_index("urn:aoi-station")
                obj = await c.nodes.objects.get_child(f"{idx}:AoiStation")
                return await (await obj.get_child(f"{idx}:LastVerdict")).read_value()

        def outcome(key: Path | None, cert: Path | None) -> str:
            try:
                return asyncio.run(asyncio.wait_for(read(key, cert), 20))
            except Exception as exc:  # noqa: BLE001 - refused: how does not matter here
                return f"refused ({type(exc).__name__})"

        assert outcome(plc_key, plc_cert) == "NG"
        assert outcome(other_key, other_cert) == "refused (BadCertificateUntrusted)"  # not in trusted/
        assert outcome(None, None).startswith("refused")  # no NoSecurity endpoint
    finally:
        hub.close()


def test_a_refused_opcua_client_is_admitted_once_its_kept_certificate_is_trusted(tmp_path: Path) -> None:
    """The engineer's workflow on a fresh station (nothing trusted yet): the server serves, the PLC is
    refused and its certificate is kept in rejected/; moved to trusted/, the PLC's next try gets in,
    without a restart. A broken certificate file in trusted/ stops the start with a line naming it."""
    from asyncua import Client
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key, cert = tmp_path / "plc-key.pem", tmp_path / "plc-cert.der"
    asyncio.run(
        setup_self_signed_certificate(
            key, cert, "urn:plc:plc", "localhost", [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "plc"}
        )
    )
    certs = tmp_path / "opcua"
    port = free_port()
    sink = OpcUaSink(f"opcua://127.0.0.1:{port}?security=sign", "st1", cert_dir=certs)
    sink.open()
    try:

        async def station_name() -> str:
            c = Client(f"opc.tcp://127.0.0.1:{port}/aoi/", timeout=5)
            c.application_uri = "urn:plc:plc"
            await c.set_security(
                SecurityPolicyBasic256Sha256, str(cert), str(key), mode=ua.MessageSecurityMode.Sign
            )
            async with c:
                idx = await c.get_namespace_index("urn:aoi-station")
                obj = await c.nodes.objects.get_child(f"{idx}:AoiStation")
                return await (await obj.get_child(f"{idx}:Station")).read_value()

        with pytest.raises(Exception, match="BadCertificateUntrusted"):
            asyncio.run(asyncio.wait_for(station_name(), 20))
        (kept,) = (certs / "rejected").glob("*.der")
        assert kept.read_bytes() == cert.read_bytes() and len(kept.stem) == 40  # its SHA-1 thumbprint
        kept.rename(certs / "trusted" / kept.name)  # the engineer approves it
        assert asyncio.run(asyncio.wait_for(station_name(), 20)) == "st1"
    finally:
        sink.close()
    (certs / "trusted" / "broken.der").write_bytes(b"not a certificate")
    with pytest.raises(ValueError, match="cannot read the trusted client certificates in .*trusted"):
        sink.open()
    sink.close()


def test_an_opcua_url_with_an_unknown_security_mode_is_refused() -> None:
    with pytest.raises(SinkError, match="security=none|sign|sign_encrypt"):
        make_sink("opcua://0.0.0.0:4840?security=basic128", "st1")


class _Node:
    def __init__(self, log: list[tuple[str, Any]], name: str) -> None:
        self._log, self._name = log, name

    @property
    def value(self) -> Any:
        return None

    @value.setter
    def value(self, v: Any) -> None:
        self._log.append((self._name, v))

    def execute(self) -> None:
        self._log.append((self._name, "execute"))


class NodeMapStandIn:
    """Records every write, like a GenICam node map of a camera with outputs (Viky has none)."""

    FEATURES = [
        "LineSelector",
        "LineMode",
        "LineSource",
        "UserOutputSelector",
        "UserOutputValue",
        "TimerSelector",
        "TimerDuration",
        "TimerDelay",
        "TimerTriggerSource",
        "SoftwareSignalSelector",
        "SoftwareSignalPulse",
    ]

    def __init__(self) -> None:
        self.writes: list[tuple[str, Any]] = []
        for f in self.FEATURES:
            setattr(self, f, _Node(self.writes, f))


def test_camera_output_reject_pulse_after_ng() -> None:
    nm = NodeMapStandIn()
    slept: list[float] = []
    sink = CameraOutputSink(
        "camera-output:Line2", lambda: nm, line="Line2", width_ms=30, delay_ms=20, sleep=slept.append
    )
    sink.open()
    assert nm.writes == [
        ("LineSelector", "Line2"),
        ("LineMode", "Output"),
        ("LineSource", "UserOutput1"),
        ("UserOutputSelector", "UserOutput1"),
        ("UserOutputValue", False),
    ]
    nm.writes.clear()
    sink.send(Delivery("result", time.time_ns(), inspection_result(1, None), CTX))  # OK: no pulse
    assert nm.writes == []
    sink.send(Delivery("result", time.time_ns(), inspection_result(2, 40), CTX))
    assert nm.writes == [
        ("UserOutputSelector", "UserOutput1"),
        ("UserOutputValue", True),
        ("UserOutputValue", False),
    ]
    assert 0.0 < slept[0] <= 0.02 and slept[1] == pytest.approx(0.03)  # delay from the verdict, then width
    sink.send(Delivery("test", time.time_ns(), inspection_result(3, 40), CTX))  # a test never pulses
    assert sink.pulses == 1

    timer_nm = NodeMapStandIn()
    t = CameraOutputSink(
        "camera-output:Line1?mode=timer", lambda: timer_nm, width_ms=5, delay_ms=2, mode="timer"
    )
    t.open()
    assert ("TimerDuration", 5000.0) in timer_nm.writes and ("LineSource", "Timer0Active") in timer_nm.writes
    t.send(Delivery("result", time.time_ns(), inspection_result(2, 40), CTX))
    assert timer_nm.writes[-1] == ("SoftwareSignalPulse", "execute")
    # no camera, or a camera without outputs: the sink retries, never raises into inspection
    with pytest.raises(ConnectionError, match="no camera"):
        CameraOutputSink("camera-output:Line1", lambda: None).open()
    with pytest.raises(ConnectionError, match="no LineSelector"):
        CameraOutputSink("camera-output:Line1", lambda: object()).open()


def test_cli_sinks_add_list_test_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from inspection_core.cli import main

    monkeypatch.setenv("AOI_STATION_HOME", str(tmp_path))
    url = f"folder:{tmp_path}/out"
    assert main(["sinks", "add", url]) == 0
    assert main(["sinks", "add", "ftp://x"]) == 2
    assert "bad sink URL 'ftp://x'" in capsys.readouterr().err
    assert main(["sinks", "list"]) == 0
    assert f"  {url}\n" in capsys.readouterr().out
    assert main(["sinks", "test", url, "--station", "st9"]) == 0
    (f,) = (tmp_path / "out").glob("*_test.json")
    assert json.loads(f.read_text())["station"] == "st9"
    port = free_port()  # nothing listens there
    assert main(["sinks", "test", f"http://127.0.0.1:{port}/x"]) == 2
    assert "ConnectionRefusedError" in capsys.readouterr().err
    assert main(["sinks", "remove", url]) == 0 and load_urls(tmp_path) == []
