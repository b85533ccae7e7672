"""Shift and lot counters the operator can start and name; they survive restarts because the counts
are read from the inspection records (see `app.shifts`), and every inspected result adds to them
live (not only the results the display had time to draw)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QInputDialog, QLabel, QPushButton, QWidget

from app.records_query import RecordsQuery, reader
from app.shifts import KINDS, Period, ShiftBook, Tally
from inspection_core.errors import AoiError
from inspection_core.records import RecordContext
from inspection_core.records.query import Filters

NO_LOG = "no inspection log"


def count_between(directory: Path, start_ns: int, until_ns: int) -> tuple[int, int]:
    """(OK, NG) this station recorded in [start_ns, until_ns) (a plant database holds other stations'
    rows too) — runs on the records-query thread."""
    try:
        with reader(directory) as r:
            c = r.counts(Filters(since_ns=start_ns, until_ns=until_ns, station=RecordContext().station))
    except AoiError as exc:
        if NO_LOG in str(exc):
            return 0, 0
        raise
    return c["OK"], c["NG"]


def _line(p: Period | None) -> tuple[str, str]:
    if p is None:
        return "—", "none started"
    t = p.tally
    y = "—" if t.yield_pct is None else f"{t.yield_pct:.2f} %"
    since = datetime.fromtimestamp(p.start_ns / 1e9).strftime("%Y-%m-%d %H:%M")
    pending = "" if p.base_until_ns is not None else " (reading records…)"
    return (
        f"{p.name}  ·  since {since}{pending}",
        f"{t.inspected:,} inspected · OK {t.ok:,} · NG {t.ng:,} · yield {y}",
    )


class ShiftPanel(QWidget):
    """`add_result(ng)` for every inspected result; `resync()` after a stop (or at start) reads the
    counts from the records on `query`'s thread."""

    started = Signal(str, str, str)  # kind, new name, old name ("" if none)

    def __init__(
        self,
        records_dir: Callable[[], Path],
        query: RecordsQuery,
        book: ShiftBook | None = None,
        notify: Callable[[str, str], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.records_dir = records_dir
        self.query = query
        self.book = book or ShiftBook()
        self.notify = notify or (lambda level, msg: None)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        self.names: dict[str, QLabel] = {}
        self.values: dict[str, QLabel] = {}
        self.buttons: dict[str, QPushButton] = {}
        for i, kind in enumerate(KINDS):
            title = QLabel(f"<b>{kind.capitalize()}</b>")
            name = QLabel()
            name.setObjectName(f"{kind}_name")
            name.setWordWrap(True)
            value = QLabel()
            value.setObjectName(f"{kind}_counters")
            value.setWordWrap(True)
            button = QPushButton(f"New {kind}…")
            button.setToolTip(f"start a new {kind} now: its counters start from zero")
            button.clicked.connect(lambda _=False, k=kind: self._ask(k))
            grid.addWidget(title, 2 * i, 0)
            grid.addWidget(name, 2 * i, 1)
            grid.addWidget(button, 2 * i, 2)
            grid.addWidget(value, 2 * i + 1, 0, 1, 3)
            self.names[kind], self.values[kind], self.buttons[kind] = name, value, button
        grid.setColumnStretch(1, 1)
        self.show_counts()

    def tally(self, kind: str) -> Tally | None:
        p = self.book.periods.get(kind)
        return None if p is None else p.tally

    def show_counts(self) -> None:
        for kind in KINDS:
            name, value = _line(self.book.periods.get(kind))
            self.names[kind].setText(name)
            self.values[kind].setText(value)

    def add_result(self, ng: bool) -> None:
        self.book.add(ng)
        self.show_counts()

    def _ask(self, kind: str) -> None:
        name, ok = QInputDialog.getText(self, f"New {kind}", f"Name of the new {kind}:")
        if ok:
            self.start(kind, name)

    def start(self, kind: str, name: str) -> bool:
        old = self.book.periods.get(kind)
        try:
            p = self.book.start(kind, name)
        except AoiError as exc:
            self.notify("error", str(exc))
            return False
        self.notify("info", f"{kind} started: {p.name}")
        self.show_counts()
        self.started.emit(kind, p.name, old.name if old is not None else "")
        return True

    def resync(self) -> None:
        """Read each period's counts from the records (off the GUI thread); live counts that arrive
        meanwhile are kept on top."""
        directory = self.records_dir()
        for kind, (start, until, live_then) in self.book.resync_requests().items():

            def done(
                c: tuple[int, int], k: str = kind, s: int = start, u: int = until, lt: Tally = live_then
            ) -> None:
                self.book.set_base(k, s, u, c[0], c[1], lt)
                self.show_counts()

            self.query.submit(
                lambda s=start, u=until: count_between(directory, s, u),
                done,
                lambda msg: self.notify("warning", f"shift counters: cannot read the records: {msg}"),
            )
