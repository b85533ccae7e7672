"""GenICam cameras through Harvesters (any GenTL producer .cti: vendor SDKs, or the `viky.cti` simulator).

Traps this module handles (see DESIGN.md):
- GenTL producers are process-global: a second Harvester on the same .cti sees no devices, and
  `Harvester.update()` destroys every open acquirer. So one `_Hub` owns the one Harvester and only
  refreshes the device list while no camera is open.
- Buffers are fetched raw with a timeout and copied (converted) before they are re-queued.
- There is no disconnect event: a producer error while fetching, an acquirer destroyed under us, or
  a failed liveness probe after a timeout puts the source in LOST; `open()` recovers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inspection_core.camera import pixelformats
from inspection_core.camera.base import (
    CameraLost,
    CameraTimeout,
    FeatureInfo,
    FpsMeter,
    FrameSource,
    SourceInfo,
    SourceState,
    SourceStats,
)
from inspection_core.camera.features import Feature, node_map_tree
from inspection_core.errors import CameraError
from inspection_core.types import Frame

ENV_VAR = "GENICAM_GENTL64_PATH"
_log = logging.getLogger(__name__)

# our setting name -> SFNC feature names to try, first match wins
SFNC: dict[str, tuple[str, ...]] = {
    "exposure_us": ("ExposureTime", "ExposureTimeAbs"),
    "gain_db": ("Gain", "GainAbs"),
    "pixel_format": ("PixelFormat",),
    "width": ("Width",),
    "height": ("Height",),
    "offset_x": ("OffsetX",),
    "offset_y": ("OffsetY",),
    "frame_rate": ("AcquisitionFrameRate", "AcquisitionFrameRateAbs"),
    "trigger_mode": ("TriggerMode",),
    "trigger_source": ("TriggerSource",),
}
# settings that change the buffer layout: the stream must be stopped to write them
_LAYOUT = {"pixel_format", "width", "height", "offset_x", "offset_y"}


def viky_cti() -> Path | None:
    """The GenTL simulator that the `genicam` wheel ships (three 'Viky' devices)."""
    try:
        import genicam
    except ImportError:  # pragma: no cover - genicam is a dependency
        return None
    p = Path(genicam.__file__).parent / "viky.cti"
    return p if p.is_file() else None


def producer_paths(extra: Iterable[str | os.PathLike[str]] = (), include_viky: bool = True) -> list[Path]:
    """GenTL producers to load: `extra` (settings) first, then GENICAM_GENTL64_PATH, then viky.cti.

    Entries may be .cti files or folders holding them. A missing or non-.cti path given explicitly
    is a CameraError naming it; bad entries of the environment variable are skipped with a warning.
    """
    out: list[Path] = []

    def add(p: Path, strict: bool) -> None:
        if p.is_dir():
            out.extend(sorted(p.glob("*.cti")))
        elif p.is_file() and p.suffix.lower() == ".cti":
            out.append(p)
        elif strict:
            what = "not found" if not p.exists() else "not a .cti file"
            raise CameraError(f"GenTL producer {what}: {p}")
        else:
            _log.warning("%s entry skipped (%s): %s", ENV_VAR, "missing" if not p.exists() else "no .cti", p)

    for e in extra:
        add(Path(e).expanduser(), strict=True)
    # os.pathsep: ";" on Windows, where ":" is part of a drive (C:\...); installers may quote an entry
    for e in filter(None, (s.strip().strip('"') for s in os.environ.get(ENV_VAR, "").split(os.pathsep))):
        add(Path(e), strict=False)
    if include_viky and (v := viky_cti()) is not None:
        out.append(v)
    seen: set[str] = set()
    uniq = []
    for p in out:
        key = str(p.resolve())
        if key not in seen:
            seen.add(key)
            uniq.append(p.resolve())
    return uniq


@dataclass(frozen=True)
class DeviceEntry:
    """One GenTL device as enumerated (what `aoi cameras` prints)."""

    producer: str
    vendor: str
    model: str
    serial: str
    id: str
    display_name: str
    access_status: int | None = None

    def source_info(self) -> SourceInfo:
        return SourceInfo(
            kind="genicam",
            spec=f"genicam:{self.id}",
            label=f"{self.vendor} {self.model} ({self.serial or self.id})",
            vendor=self.vendor,
            model=self.model,
            serial=self.serial,
            id=self.id,
            producer=self.producer,
        )


def _attr(obj: Any, name: str) -> str:
    try:
        v = getattr(obj, name)
    except Exception:  # noqa: BLE001 - GenTL raises NotAvailable/NotImplemented for optional info
        return ""
    return "" if v is None else str(v)


class _Hub:
    """The process's one Harvester and the producers it has loaded.

    A producer that cannot be loaded (a broken or foreign .cti in GENICAM_GENTL64_PATH) is skipped with
    a warning in `problems`: one bad vendor install must not hide every other camera.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.harvester: Any = None
        self.ctis: tuple[str, ...] = ()
        self.open_count = 0
        self.problems: list[str] = []  # producers skipped at the last load (one line each)
        self._entries: list[DeviceEntry] = []
        self._infos: list[Any] = []

    def _load(self, ctis: tuple[str, ...], refresh: bool = True) -> None:
        from harvesters.core import Harvester

        if self.harvester is not None:
            try:
                self.harvester.reset()
            except Exception as exc:  # noqa: BLE001 - discarding a broken Harvester anyway
                _log.warning("resetting the old Harvester failed: %s", exc)
            self.harvester = None
        h = Harvester()
        problems = []
        for c in ctis:
            try:
                h.add_file(c, check_existence=True, check_validity=True)
            except OSError as exc:  # FileNotFoundError, or a file the loader refuses
                why = str(exc).replace(c, "").strip(" :") or "not a valid .cti library"
                if isinstance(exc, FileNotFoundError):
                    why = "file not found"
                problems.append(f"GenTL producer skipped: cannot load {c} ({why})")
                _log.warning(problems[-1])
        self.harvester, self.ctis, self.problems = h, ctis, problems
        if refresh:
            self._refresh()

    def _refresh(self, reload_on_error: bool = True) -> None:
        try:
            self.harvester.update()
        except Exception as exc:  # noqa: BLE001 - a producer left broken by a lost device
            if not reload_on_error:
                raise CameraError(f"GenTL producer does not enumerate devices: {exc}") from None
            _log.warning("GenTL update failed (%s); reloading the producers", exc)
            self._load(self.ctis, refresh=False)  # a fresh Harvester: recovery without a process restart
            self._refresh(reload_on_error=False)
            return
        self._infos = list(self.harvester.device_info_list)
        entries = []
        for d in self._infos:
            try:
                producer = d.parent.parent.module.path_name
            except Exception:  # noqa: BLE001
                producer = ""
            status = None
            with contextlib.suppress(Exception):  # optional GenTL info
                status = int(d.access_status)
            entries.append(
                DeviceEntry(
                    producer=str(producer),
                    vendor=_attr(d, "vendor"),
                    model=_attr(d, "model"),
                    serial=_attr(d, "serial_number"),
                    id=_attr(d, "id_"),
                    display_name=_attr(d, "display_name"),
                    access_status=status,
                )
            )
        self._entries = entries

    def devices(self, ctis: Sequence[Path], refresh: bool = True) -> list[DeviceEntry]:
        """Enumerate devices. While a camera is open the cached list is returned (update() would kill it)."""
        key = tuple(str(c) for c in ctis)
        with self.lock:
            if self.open_count == 0 and (self.harvester is None or key != self.ctis):
                self._load(key)
            elif self.open_count == 0 and refresh:
                self._refresh()
            elif key != self.ctis and not set(key) <= set(self.ctis):
                raise CameraError("close the open cameras before loading other GenTL producers")
            return list(self._entries)

    def create(self, entry: DeviceEntry) -> Any:
        with self.lock:
            for info, e in zip(self._infos, self._entries, strict=True):
                if e == entry:
                    try:
                        ia = self.harvester.create(info)
                    except Exception as exc:  # noqa: BLE001 - GenTL AccessDenied/Resource in use/...
                        raise CameraError(f"cannot open camera {entry.id}: {exc}") from None
                    self.open_count += 1
                    return ia
            raise CameraError(f"camera {entry.id} is no longer listed; re-enumerate")

    def release(self, ia: Any) -> None:
        with self.lock:
            try:
                ia.destroy()
            except Exception as exc:  # noqa: BLE001 - a lost device may fail to release; nothing to do
                _log.debug("destroy after loss: %s", exc)
            self.open_count = max(0, self.open_count - 1)


HUB = _Hub()


def list_devices(
    cti_paths: Iterable[str | os.PathLike[str]] = (), include_viky: bool = True
) -> list[DeviceEntry]:
    """Every device of every GenTL producer found (see `producer_paths`); producers that cannot be
    loaded are skipped with a warning (`producer_problems`)."""
    return HUB.devices(producer_paths(cti_paths, include_viky))


def producer_problems() -> list[str]:
    """Producers skipped at the last enumeration, one line each (`aoi cameras` and the GUI show them)."""
    with HUB.lock:
        return list(HUB.problems)


def _find(entries: list[DeviceEntry], device: str | None) -> DeviceEntry:
    if not entries:
        skipped = "; ".join(producer_problems())
        raise CameraError(
            f"no GenTL device found (producers from {ENV_VAR}, settings and viky.cti)"
            + (f"; {skipped}" if skipped else "")
        )
    if not device:
        return entries[0]
    for field in ("id", "serial", "display_name"):
        hits = [e for e in entries if getattr(e, field) == device]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise CameraError(f"{len(hits)} cameras match {device!r}; give the device id")
    known = ", ".join(f"{e.id} (serial {e.serial})" for e in entries)
    raise CameraError(f"no camera with id or serial {device!r}; found: {known}")


class GenICamSource(FrameSource):
    """One GenICam device. `device` is its id or serial (None: the first device found)."""

    def __init__(
        self,
        device: str | None = None,
        cti_paths: Iterable[str | os.PathLike[str]] = (),
        include_viky: bool = True,
        num_buffers: int = 8,
    ) -> None:
        self._device = device
        self._ctis = producer_paths(cti_paths, include_viky)
        self._num_buffers = max(2, int(num_buffers))
        self._ia: Any = None
        self._state = SourceState.CLOSED
        self._stats = SourceStats()
        self._fps_meter = FpsMeter()
        self._lost_reason = ""
        self._cache: dict[str, Any] = {}
        self.info = SourceInfo(
            kind="genicam", spec=f"genicam:{device or ''}".rstrip(":"), label=f"GenICam {device or ''}"
        )

    # -- life cycle ---------------------------------------------------------------------------------
    @property
    def state(self) -> SourceState:
        return self._state

    @property
    def lost_reason(self) -> str:
        return self._lost_reason

    def open(self) -> None:
        if self._state in (SourceState.OPEN, SourceState.RUNNING):
            return
        if self._ia is not None:  # re-open after LOST
            self._release()
        entry = _find(HUB.devices(self._ctis), self._device)
        self.info = entry.source_info()
        ia = HUB.create(entry)
        try:
            ia.num_buffers = self._num_buffers
            from harvesters.core import Callback

            source = self

            class _Incomplete(Callback):
                def emit(self, context: object = None) -> None:
                    source._stats.incomplete += 1

            ia.add_callback(ia.Events.INCOMPLETE_BUFFER, _Incomplete())
        except Exception as exc:  # noqa: BLE001
            HUB.release(ia)
            raise CameraError(f"cannot set up {self.info.label}: {exc}") from None
        self._ia = ia
        self._stats = SourceStats()
        self._lost_reason = ""
        self._state = SourceState.OPEN
        self._refresh_cache()

    def _release(self) -> None:
        ia, self._ia = self._ia, None
        if ia is not None:
            try:
                if ia.is_valid() and ia.is_acquiring():
                    ia.stop()
            except Exception as exc:  # noqa: BLE001
                _log.debug("stop after loss: %s", exc)
            HUB.release(ia)

    def start(self) -> None:
        self._require_open()
        if self._state is SourceState.RUNNING:
            return
        try:
            self._ia.start()
        except Exception as exc:  # noqa: BLE001
            self._lose(exc)
        self._last_fid: int | None = None
        self._fps_meter.reset()
        self._state = SourceState.RUNNING

    def stop(self) -> None:
        if self._state is not SourceState.RUNNING:
            return
        try:
            self._ia.stop()
        except Exception as exc:  # noqa: BLE001
            self._lose(exc)
        self._state = SourceState.OPEN

    def close(self) -> None:
        self._release()
        self._state = SourceState.CLOSED

    def stats(self) -> SourceStats:
        return self._fps_meter.stats_with_fps(self._stats)

    def _require_open(self) -> None:
        if self._state is SourceState.LOST:
            raise CameraLost(f"{self.info.label}: camera lost ({self._lost_reason}); re-open it")
        if self._state is SourceState.CLOSED or self._ia is None:
            raise CameraError(f"{self.info.label} is closed: open it first")

    def _lose(self, exc: BaseException) -> None:
        self._state = SourceState.LOST
        self._lost_reason = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        raise CameraLost(f"{self.info.label}: camera lost ({self._lost_reason}); re-open it") from None

    def _alive(self) -> bool:
        """Liveness probe after a timeout: a vanished device fails to answer a register read, and a
        producer that tore the stream down (e.g. a failed destroy) is no longer acquiring."""
        try:
            return (
                bool(self._ia.is_valid())
                and bool(self._ia.is_acquiring())
                and self._ia.remote_device.node_map.Width.value > 0
            )
        except Exception:  # noqa: BLE001
            return False

    # -- features -----------------------------------------------------------------------------------
    def _node(self, key: str) -> Any:
        nm = self._ia.remote_device.node_map
        for name in SFNC.get(key, (key,)):
            try:
                return getattr(nm, name)
            except AttributeError:
                continue
        return None

    def _refresh_cache(self) -> None:
        self._cache = {}
        for key in SFNC:
            node = self._node(key)
            if node is None:
                continue
            with contextlib.suppress(Exception):  # not readable now (e.g. NA)
                self._cache[key] = node.value

    def settings(self) -> dict[str, Any]:
        self._require_open()
        self._refresh_cache()
        return dict(self._cache)

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Write standard settings (see SFNC). Layout changes stop and restart a running stream."""
        self._require_open()
        unknown = sorted(set(settings) - set(SFNC))
        if unknown:
            raise CameraError(f"{self.info.label}: unknown setting(s) {', '.join(unknown)}")
        restart = self._state is SourceState.RUNNING and bool(_LAYOUT & set(settings))
        if restart:
            self.stop()
        applied: dict[str, Any] = {}
        try:
            if "frame_rate" in settings:
                self._try_set("AcquisitionFrameRateEnable", True)
            for key, value in settings.items():
                node = self._node(key)
                if node is None:
                    raise CameraError(f"{self.info.label} has no {SFNC[key][0]} feature")
                if key == "pixel_format":
                    pixelformats.lookup(str(value))  # refuse formats we cannot convert
                applied[key] = self._write(SFNC[key][0], node, value)
        finally:
            self._refresh_cache()
            if restart:
                self.start()
        return applied

    def _try_set(self, name: str, value: Any) -> None:
        with contextlib.suppress(Exception):  # optional feature
            getattr(self._ia.remote_device.node_map, name).value = value

    def _write(self, name: str, node: Any, value: Any) -> Any:
        try:
            kind = type(node).__name__
            if kind == "IInteger":
                v = int(value)
                if not node.min <= v <= node.max:
                    raise CameraError(f"{name} {v} out of range {node.min}..{node.max}")
                inc = max(int(getattr(node, "inc", 1) or 1), 1)
                v = node.min + (v - node.min) // inc * inc
            elif kind == "IFloat":
                v = float(value)
                if not node.min <= v <= node.max:
                    raise CameraError(f"{name} {v} out of range {node.min:g}..{node.max:g}")
            elif kind == "IEnumeration":
                v = str(value)
                choices = list(node.symbolics)
                match = {c.lower(): c for c in choices}.get(v.lower())
                if match is None:
                    raise CameraError(
                        f"{name} {v!r} not offered by the camera (choices: {', '.join(choices)})"
                    )
                v = match
            elif kind == "IBoolean":
                v = bool(value)
            else:
                v = value
            node.value = v
            return node.value
        except CameraError:
            raise
        except Exception as exc:  # noqa: BLE001 - GenApi AccessException/OutOfRange...
            raise CameraError(f"cannot set {name} to {value!r}: {exc}") from None

    def get_feature(self, name: str) -> Any:
        self._require_open()
        try:
            return getattr(self._ia.remote_device.node_map, name).value
        except AttributeError:
            raise CameraError(f"{self.info.label} has no feature {name}") from None
        except Exception as exc:  # noqa: BLE001
            raise CameraError(f"cannot read {name}: {exc}") from None

    def set_feature(self, name: str, value: Any) -> Any:
        """Expert view: write any feature by name (commands are executed)."""
        self._require_open()
        try:
            node = getattr(self._ia.remote_device.node_map, name)
        except AttributeError:
            raise CameraError(f"{self.info.label} has no feature {name}") from None
        if type(node).__name__ == "ICommand":
            try:
                node.execute()
            except Exception as exc:  # noqa: BLE001
                raise CameraError(f"cannot execute {name}: {exc}") from None
            return None
        return self._write(name, node, value)

    def feature_tree(self) -> Feature:
        """The device's visible node tree (GenICam categories), as a snapshot."""
        self._require_open()
        return node_map_tree(self._ia.remote_device.node_map, self.info.model or self.info.label)

    def write_feature(self, name: str, value: Any) -> Any:
        """Write a node by its GenICam name (commands execute); settings the cache holds are re-read."""
        out = self.set_feature(name, value)
        self._refresh_cache()
        return out

    def trigger(self) -> None:
        """Fire a software trigger (TriggerMode=On, TriggerSource=Software)."""
        self._require_open()
        node = self._node("TriggerSoftware")
        if node is None:
            raise CameraError(f"{self.info.label} has no TriggerSoftware feature")
        node.execute()

    def features(self) -> list[FeatureInfo]:
        """The device's feature tree (visible features only), for the expert view."""
        self._require_open()
        from genicam import genapi

        access = {int(getattr(genapi.EAccessMode, k)): k for k in ("NI", "NA", "WO", "RO", "RW")}
        out: list[FeatureInfo] = []
        for n in self._ia.remote_device.node_map.nodes:
            node = n.node
            kind = type(n).__name__
            if kind in ("IEnumEntry", "IPort", "IRegister") or not node.is_feature() or node.visibility >= 3:
                continue
            acc = access.get(int(n.get_access_mode()), "?")
            info = FeatureInfo(name=node.name, type=kind[1:], access=acc, description=str(node.tooltip or ""))
            if acc in ("RO", "RW") and kind not in ("ICategory", "ICommand"):
                try:
                    info.value = n.value
                    if kind in ("IInteger", "IFloat"):
                        info.min, info.max, info.unit = n.min, n.max, str(getattr(n, "unit", "") or "")
                    elif kind == "IEnumeration":
                        info.choices = list(n.symbolics)
                except Exception:  # noqa: BLE001 - a node may turn unreadable between checks
                    pass
            out.append(info)
        return out

    # -- frames -------------------------------------------------------------------------------------
    def read(self, timeout_s: float = 1.0) -> Frame:
        self._require_open()
        if self._state is not SourceState.RUNNING:
            raise CameraError(f"{self.info.label} is not running: call start() first")
        deadline = time.perf_counter() + max(timeout_s, 0.0)
        while True:
            remaining = deadline - time.perf_counter()
            if not self._ia.is_valid():
                self._lose(RuntimeError("acquirer destroyed"))
            try:
                raw = self._ia.try_fetch(timeout=max(remaining, 1e-3), is_raw=True)
            except Exception as exc:  # noqa: BLE001 - any producer error while streaming
                self._lose(exc)
            if raw is not None:
                return self._frame_from(raw)
            if time.perf_counter() >= deadline:  # None was a timeout or an incomplete (counted) buffer
                if not self._alive():
                    self._lose(RuntimeError("device does not answer"))
                self._stats.timeouts += 1
                raise CameraTimeout(f"{self.info.label}: no frame within {timeout_s:.3f} s")

    def _frame_from(self, raw: Any) -> Frame:
        try:
            try:
                w, h = int(raw.width), int(raw.height)
            except Exception:  # noqa: BLE001 - producers may not report per-buffer geometry
                w, h = int(self._cache["width"]), int(self._cache["height"])
            try:
                pf: str | int = int(raw.pixel_format)
            except Exception:  # noqa: BLE001
                pf = str(self._cache.get("pixel_format", ""))
            padding = _int_or(lambda: raw.padding_x, 0)
            offset = _int_or(lambda: raw.image_offset, 0)
            fid = _int_or(lambda: raw.frame_id, -1)
            ts = _int_or(lambda: raw.timestamp_ns, 0) or time.time_ns()
            data = np.frombuffer(raw.raw_buffer, dtype=np.uint8, offset=offset)
            image = pixelformats.convert(data, w, h, pf, padding)  # the copy out of the driver buffer
        finally:
            try:
                raw.parent.queue_buffer(raw)
            except Exception as exc:  # noqa: BLE001 - a lost device: the next read reports it
                _log.debug("queue_buffer failed: %s", exc)
        if fid >= 0 and self._last_fid is not None and fid > self._last_fid + 1:
            self._stats.lost += fid - self._last_fid - 1
        self._last_fid = fid if fid >= 0 else self._last_fid
        self._stats.delivered += 1
        self._fps_meter.tick()
        fmt = pixelformats.lookup(pf)
        meta = {
            "pixel_format": fmt.name,
            "bit_depth": fmt.bit_depth,
            "incomplete": False,  # harvesters re-queues incomplete buffers; they are counted in stats
            "device_id": self.info.id,
            "camera_serial": self.info.serial,  # recorded with every inspection (records.RecordContext)
            "exposure_us": self._cache.get("exposure_us"),
            "gain_db": self._cache.get("gain_db"),
        }
        return Frame(
            image=image,
            frame_id=fid if fid >= 0 else self._stats.delivered - 1,
            timestamp_ns=ts,
            source=self.info.spec,
            meta=meta,
        )


def _int_or(get: Any, default: int) -> int:
    try:
        return int(get())
    except Exception:  # noqa: BLE001 - optional GenTL buffer info
        return default
