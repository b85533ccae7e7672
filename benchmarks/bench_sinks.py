"""Sinks at line rate (#26): what handing results to the line costs the inference thread, and how
long a verdict takes to reach an MQTT subscriber through a real broker.

Three sinks, as a station would run them: MQTT (an amqtt broker in its own process, QoS 0 by default),
the station's OPC UA server (asyncua, in this process, as in the app) and a folder of JSON files.
A paced "inference thread" submits `--fps` results a second for `--seconds` (every 10th NG with one
defect), timing each `SinkHub.submit` call (target ≤ 0.1 ms a result with three sinks); a subscriber
in a third process timestamps every result message it receives: verdict → received, p50/p99 (target
p99 ≤ 10 ms). With `--qos 1` the broker acknowledges each result, which gives verdict → received at
the broker itself (the PUBACK's arrival, one more hop back) without the subscriber's process. The same paced loop without sinks gives the baseline of the timing itself.

Needs the dev extra (amqtt). Usage: python benchmarks/bench_sinks.py --json FILE [--seconds 20 --fps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from inspection_core.records import RecordContext
from inspection_core.sinks import SinkHub, SinkState, make_sink
from inspection_core.types import Defect, InspectionResult, Verdict

STATION = "bench"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _results(size: int = 512) -> tuple[InspectionResult, InspectionResult]:
    amap = np.zeros((size, size), np.float32)
    mask = np.zeros((size, size), bool)
    ng = (Defect(1, (10, 10, 40, 30), 600, (25.0, 20.0), 2.0, 1.5),)
    timings = {"preprocess": 1.2, "model": 20.5, "postprocess": 3.1, "total": 24.8}
    ok_r = InspectionResult(0, amap, 0.21, Verdict.OK, mask, (), timings, 0.3, "patchcore")
    ng_r = InspectionResult(0, amap, 0.93, Verdict.NG, mask, ng, timings, 1.3, "patchcore")
    return ok_r, ng_r


def subscriber(port: int, topic: str, n: int, out: str, timeout: float) -> None:
    """(A child process.) Receive `n` result messages; write their verdict → received delays (ms)."""
    import paho.mqtt.client as mqtt

    delays: list[float] = []
    done = threading.Event()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        now = time.time_ns()
        delays.append((now - json.loads(msg.payload)["time_ns"]) / 1e6)
        if len(delays) >= n:
            done.set()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.on_connect = lambda cl, *_: cl.subscribe(topic, qos=1)
    c.on_message = on_message
    c.connect("127.0.0.1", port)
    c.loop_start()
    Path(out + ".ready").write_text("1")
    done.wait(timeout)
    c.loop_stop()
    Path(out).write_text(json.dumps(delays))


def _paced(hub: SinkHub | None, seconds: float, fps: float, ctx: RecordContext) -> list[float]:
    """Submit at `fps` from a dedicated thread (the inference thread's role); ms per submit call."""
    ok_r, ng_r = _results()
    costs: list[float] = []
    period = 1.0 / fps

    def run() -> None:
        t_next = time.perf_counter()
        for i in range(int(seconds * fps)):
            t_next += period
            result = ng_r if i % 10 == 9 else ok_r
            ts = time.time_ns()
            t0 = time.perf_counter_ns()
            if hub is not None:
                hub.submit(result, ctx, ts)
            costs.append((time.perf_counter_ns() - t0) / 1e6)
            time.sleep(max(0.0, t_next - time.perf_counter()))

    t = threading.Thread(target=run, name="inference")
    t.start()
    t.join()
    return costs


def _pct(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs)
    return {
        "n": len(xs),
        "median": round(float(np.median(a)), 4),
        "p99": round(float(np.percentile(a, 99)), 4),
        "max": round(float(a.max()), 4),
        "mean": round(float(a.mean()), 4),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--qos", type=int, default=0, choices=(0, 1, 2))
    p.add_argument(
        "--sinks",
        default="mqtt,opcua,folder",
        help="which sinks run beside each other (default mqtt,opcua,folder; mqtt is always measured)",
    )
    p.add_argument("--json", type=Path, default=None, metavar="FILE")
    p.add_argument("--subscribe", nargs=5, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.subscribe:
        port, topic, n, out, timeout = args.subscribe
        subscriber(int(port), topic, int(n), out, float(timeout))
        return 0

    n = int(args.seconds * args.fps)
    tmp = Path(tempfile.mkdtemp(prefix="bench_sinks_"))
    mqtt_port, opc_port = _free_port(), _free_port()
    cfg = tmp / "broker.yaml"
    cfg.write_text(
        "listeners:\n  default:\n    type: tcp\n"
        f"    bind: 127.0.0.1:{mqtt_port}\n"
        "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
    )
    broker = subprocess.Popen(
        [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sub = None
    hub = None
    try:
        _wait_port(mqtt_port)
        out = str(tmp / "delays.json")
        sub = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--subscribe",
                str(mqtt_port),
                f"aoi/{STATION}/result",
                str(n),
                out,
                str(args.seconds + 30),
            ]
        )
        end = time.monotonic() + 30
        while not Path(out + ".ready").exists() and time.monotonic() < end:
            time.sleep(0.05)
        ctx = RecordContext(
            recipe="bench", recipe_version=1, image_threshold=0.5, pixel_threshold=0.5, station=STATION
        )
        baseline = _paced(None, min(args.seconds, 10.0), args.fps, ctx)
        every = {
            "mqtt": f"mqtt://127.0.0.1:{mqtt_port}/aoi?qos={args.qos}",
            "opcua": f"opcua://127.0.0.1:{opc_port}",
            "folder": f"folder:{tmp / 'results'}",
        }
        urls = [every["mqtt"], *(every[k] for k in args.sinks.split(",") if k in every and k != "mqtt")]
        hub = SinkHub([make_sink(u, STATION) for u in urls], station=STATION)
        end = time.monotonic() + 60
        while any(s.state is not SinkState.CONNECTED for s in hub.stats()) and time.monotonic() < end:
            time.sleep(0.05)
        costs = _paced(hub, args.seconds, args.fps, ctx)
        end = time.monotonic() + 30
        while any(s.queued for s in hub.stats()) and time.monotonic() < end:
            time.sleep(0.05)
        sub.wait(timeout=args.seconds + 40)
        delays = json.loads(Path(out).read_text())
        stats = [s.to_dict() for s in hub.stats()]
        acked = list(hub.runners[0].sink.ack_latency_ms)  # QoS ≥ 1: verdict → the broker's PUBACK
    finally:
        if hub is not None:
            hub.close()
        for proc in (sub, broker):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
    report = {
        "command": "python benchmarks/bench_sinks.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "fps": args.fps,
        "seconds": args.seconds,
        "sinks": urls,
        "submit_ms_no_sinks": _pct(baseline),
        "submit_ms_with_sinks": _pct(costs),
        "verdict_to_subscriber_ms": _pct(delays) if delays else None,
        "verdict_to_broker_ack_ms": _pct(acked) if acked else None,
        "received": len(delays),
        "expected": n,
        "sink_stats": stats,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
