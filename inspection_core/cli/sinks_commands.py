"""`aoi sinks`: the station's sinks (where every verdict goes: MQTT, OPC UA, folder, webhook, camera
output), kept in `<station home>/sinks.json`, and a test message to any sink URL."""

from __future__ import annotations

import argparse
import contextlib
import time

from inspection_core.errors import AoiError


def _home():  # noqa: ANN202 - Path
    from inspection_core.runtime.home import station_home

    return station_home()


def cmd_list(args: argparse.Namespace) -> int:
    from inspection_core.sinks import SCHEMES, load_urls
    from inspection_core.sinks.urls import config_path

    urls = load_urls(_home())
    print(f"configured sinks ({config_path(_home())}):")
    for u in urls or ["(none)"]:
        print(f"  {u}")
    print("sink URLs:")
    for text in SCHEMES.values():
        print(f"  {text}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from inspection_core.records.log import default_station_id
    from inspection_core.sinks import load_urls, make_sink, save_urls

    make_sink(args.url, default_station_id())  # a bad URL: one line, nothing saved
    urls = load_urls(_home())
    if args.url in urls:
        print(f"already configured: {args.url}")
        return 0
    save_urls(_home(), [*urls, args.url])
    print(f"added: {args.url} (the station uses it from its next start)")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from inspection_core.sinks import load_urls, save_urls

    urls = load_urls(_home())
    if args.url not in urls:
        raise AoiError(f"not a configured sink: {args.url} (see `aoi sinks list`)")
    save_urls(_home(), [u for u in urls if u != args.url])
    print(f"removed: {args.url}")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """Open the sink, send one test message (an OK verdict marked "test": true) and close it."""
    import numpy as np

    from inspection_core.records.log import RecordContext, default_station_id
    from inspection_core.sinks import Delivery, SinkError, make_sink
    from inspection_core.types import InspectionResult, Verdict

    station = args.station or default_station_id()
    sink = make_sink(args.url, station)
    probe = InspectionResult(
        -1, np.zeros((0, 0), np.float32), 0.0, Verdict.OK, np.zeros((0, 0), bool), (), model_name="test"
    )
    t0 = time.perf_counter()
    try:
        sink.open()
        sink.send(Delivery("test", time.time_ns(), probe, RecordContext(station=station)))
    except Exception as exc:  # noqa: BLE001 - any receiver's failure is the answer to this command
        raise SinkError(f"test message to {args.url} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        with contextlib.suppress(Exception):  # the answer is the send's, not the close's
            sink.close()
    print(f"test message sent to {args.url} in {(time.perf_counter() - t0) * 1000:.1f} ms")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sinks",
        help="where every verdict goes (MQTT, OPC UA, folder, webhook, camera output): list, add, test",
        description="The station hands every inspection result to its sinks, each through its own queue "
        "and thread. They are kept in <station home>/sinks.json; `python -m app --sink URL` overrides "
        "them for one run.",
    )
    ss = p.add_subparsers(dest="sinks_command", required=True, metavar="ACTION")
    q = ss.add_parser("list", help="the configured sinks and the sink URL forms")
    q.set_defaults(func=cmd_list)
    q = ss.add_parser("add", help="configure a sink for this station")
    q.add_argument(
        "url", metavar="URL", help="mqtt://…, opcua://…, folder:PATH, http://…, camera-output:LINE"
    )
    q.set_defaults(func=cmd_add)
    q = ss.add_parser("remove", help="remove a configured sink")
    q.add_argument("url", metavar="URL", help="the URL as `aoi sinks list` shows it")
    q.set_defaults(func=cmd_remove)
    q = ss.add_parser("test", help="send one test message to URL (exit 2 with the reason if it fails)")
    q.add_argument("url", metavar="URL", help="any sink URL, configured or not (see `aoi sinks list`)")
    q.add_argument(
        "--station", default=None, help="station id in the topic/message (default: this station's)"
    )
    q.set_defaults(func=cmd_test)
