"""Records panel: what the station inspected, answerable later — filter by time, verdict, recipe and
defect size; a paged table with thumbnails of the saved images; a record opened with its frame,
overlay and defects; the current filter exported to CSV.

Every read runs on the records-query thread (`app.records_query`): a page is one LIMIT/OFFSET query
plus one COUNT, so 100,000 rows cost no more than 200; thumbnails follow the page they belong to.
The GUI thread only builds pixmaps from small arrays.

While it is visible the panel reads its page again every few seconds (on that thread too), so parts
inspected meanwhile appear without a click; the selected record and the scroll position stay put.
The first page is live; a later page is read as of the moment the user left the first (its rows
never shift under the reader as parts arrive), and says how many newer rows page 1 has.
A "Station" choice appears once the store holds more than this station's rows (a plant database).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QDateTime,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
    QTime,
    QTimer,
    Signal,
)
from PySide6.QtGui import QHideEvent, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.display_data import to_display8
from app.panels.record_view import RecordView, to_pixmap
from app.records_query import RecordsQuery, reader
from inspection_core.data.imageio import imread
from inspection_core.errors import AoiError
from inspection_core.records import InspectionRecord, RecordContext
from inspection_core.records.query import Filters, write_export

PAGE_SIZE = 200
AUTO_REFRESH_MS = 3000  # while visible; a page is one indexed query + one COUNT
ALL_STATIONS = "all stations"
THUMB_PX = 48
VIEW_MAX_SIDE = 1600  # a record's frame is shown at most this big (the label scales it anyway)
COLUMNS = (
    "image",
    "time (local)",
    "verdict",
    "score",
    "margin",
    "recipe",
    "defects",
    "max area px",
    "source",
    "frame",
)
NO_LOG = "no inspection log"


@dataclass(frozen=True)
class Page:
    filters: Filters
    rows: list[InspectionRecord]
    total: int
    ok: int
    ng: int
    stations: list[str] = field(default_factory=list)  # every station with rows in the store
    upto_ns: int | None = None  # a later page: the rows listed are those before this time
    newer: int = 0  # … and this many matching rows came since (shown on page 1)


def image_file(directory: Path, image_path: str, overlay: bool = True) -> Path:
    """The file a row's image_path names (relative ones are under the records folder); with
    `overlay`, its overlay twin when that exists."""
    p = Path(image_path)
    if not p.is_absolute():
        p = directory / p
    if overlay and p.name.endswith("_raw.png"):
        o = p.with_name(p.name[: -len("_raw.png")] + "_overlay.png")
        if o.is_file():
            return o
    return p


def _shrink(img: np.ndarray, side: int) -> np.ndarray:
    img = to_display8(img)
    h, w = img.shape[:2]
    f = max(h, w) / side
    if f > 1:
        img = cv2.resize(img, (max(1, round(w / f)), max(1, round(h / f))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img)


# --- jobs (run on the records-query thread) ------------------------------------------------------
def load_page(directory: Path, f: Filters, upto_ns: int | None = None) -> Page:
    """One page of `f`, newest first; with `upto_ns`, of the rows before that time only (a later page
    stays put while parts arrive), plus the count of the matching rows since."""
    shown, newer = f, 0
    try:
        with reader(directory) as r:
            if upto_ns is not None:
                shown = replace(f, until_ns=upto_ns if f.until_ns is None else min(f.until_ns, upto_ns))
                since = upto_ns if f.since_ns is None else max(f.since_ns, upto_ns)
                newer = r.counts(replace(f, since_ns=since, limit=None, offset=0))["inspected"]
            rows = list(r.records(shown, newest_first=True))
            c = r.counts(replace(shown, limit=None, offset=0))
            stations = r.stations()
    except AoiError as exc:
        if NO_LOG in str(exc):
            return Page(f, [], 0, 0, 0)  # nothing recorded yet: an empty table, not an error
        raise
    return Page(f, rows, c["inspected"], c["OK"], c["NG"], stations, upto_ns, newer)


def load_thumbs(directory: Path, image_paths: list[str]) -> dict[str, np.ndarray | None]:
    out: dict[str, np.ndarray | None] = {}
    for ip in image_paths:
        try:
            out[ip] = _shrink(imread(image_file(directory, ip)), THUMB_PX)
        except (AoiError, OSError, cv2.error):
            out[ip] = None  # deleted or unreadable: no thumbnail, the row stays
    return out


def load_view_image(directory: Path, image_path: str) -> np.ndarray:
    return _shrink(imread(image_file(directory, image_path)), VIEW_MAX_SIDE)


def export_records(directory: Path, f: Filters, out: Path, fmt: str = "csv") -> int:
    try:
        fh = out.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise AoiError(f"cannot write {out}: {exc.strerror or exc}") from exc
    with fh, reader(directory) as r:
        return write_export(r.records(replace(f, limit=None, offset=0)), fh, fmt)


# --- the table -------------------------------------------------------------------------------------
def _num(v: float | None, spec: str) -> str:
    return "" if v is None else format(v, spec)


class RecordsModel(QAbstractTableModel):
    """One page of records; thumbnails keyed by image path (filled in as they arrive)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[InspectionRecord] = []
        self.thumbs: dict[str, QPixmap] = {}

    def set_rows(self, rows: list[InspectionRecord]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def set_thumbs(self, thumbs: dict[str, QPixmap]) -> None:
        self.thumbs.update(thumbs)
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, 0))

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid():
            return None
        r = self.rows[index.row()]
        col = index.column()
        if col == 0:
            if role == Qt.ItemDataRole.DecorationRole and r.image_path:
                return self.thumbs.get(r.image_path)
            if role == Qt.ItemDataRole.DisplayRole and not r.image_path:
                return "—"
            if role == Qt.ItemDataRole.ToolTipRole:
                return r.image_path or r.note or "no image saved"
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                (r.time_local or "")[:19].replace("T", " "),
                r.verdict + (" !" if r.alarm else ""),
                _num(r.score, ".3f"),
                _num(r.margin, "+.3f"),
                r.recipe + (f" v{r.recipe_version}" if r.recipe_version else ""),
                str(r.n_defects),
                "" if r.max_area_px is None else str(r.max_area_px),
                r.source,
                str(r.frame_id),
            )[col - 1]
        if role == Qt.ItemDataRole.ForegroundRole and col == 2 and r.verdict == "NG":
            return Qt.GlobalColor.red
        return None


# --- the panel -------------------------------------------------------------------------------------
class RecordsPanel(QWidget):
    """`directory`: the records folder (or a callable giving it, read at each query). `query`: the
    thread to read on (the panel makes its own if None and ends it in `shutdown`)."""

    recordOpened = Signal(object)  # InspectionRecord
    exported = Signal(str, int)  # path, rows
    failed = Signal(str)

    def __init__(
        self,
        directory: Path | Callable[[], Path],
        query: RecordsQuery | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._directory = directory
        self._own_query = query is None
        self.query = query or RecordsQuery(self)
        self.page: Page | None = None
        self.offset = 0
        # while on a later page: the time the user left the first one; those pages list older rows only
        self._upto_ns: int | None = None
        self._gen = 0  # the newest page asked for; older answers are ignored
        self._open_gen = 0
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh)
        self._page_in_flight = False
        self._thumbs_asked: set[str] = set()
        self._shut = False
        self._auto = False  # the page asked for is an auto-refresh (keep selection and scroll)
        self._restoring = False
        self._seen_total: int | None = None  # rows matching when the user last asked (for "N new")
        # runs only while the panel is shown (showEvent/hideEvent) and stops for good in shutdown
        self.auto_timer = QTimer(self)
        self.auto_timer.setInterval(AUTO_REFRESH_MS)
        self.auto_timer.timeout.connect(self.auto_refresh)
        self._build()

    @property
    def directory(self) -> Path:
        d = self._directory
        return d() if callable(d) else d

    def _build(self) -> None:
        now = QDateTime.currentDateTime()
        self.since_on = QCheckBox("From")
        self.since = QDateTimeEdit(QDateTime(now.date(), QTime(0, 0)))
        self.until_on = QCheckBox("To")
        self.until = QDateTimeEdit(now.addSecs(3600))
        for e in (self.since, self.until):
            e.setCalendarPopup(True)
            e.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        self.verdict = QComboBox()
        self.verdict.addItems(["all", "NG", "OK"])
        self.recipe = QLineEdit()
        self.recipe.setPlaceholderText("any recipe")
        self.recipe.setClearButtonEnabled(True)
        self.min_area = QSpinBox()
        self.min_area.setRange(0, 100_000_000)
        self.min_area.setSingleStep(50)
        self.min_area.setSuffix(" px")
        self.min_area.setSpecialValueText("any")
        self.min_area.setToolTip("only parts whose largest defect region is at least this big")
        self.this_station = RecordContext().station
        self.station = QComboBox()
        self.station.setObjectName("recordsStation")
        self.station.addItem(f"{self.this_station} (this station)", self.this_station)
        self.station.addItem(ALL_STATIONS, None)
        self.station.setToolTip("a plant database holds the records of several stations")
        self.station_label = QLabel("Station")
        for w in (self.station_label, self.station):
            w.setVisible(False)  # until the store holds another station's rows
        self.refresh_button = QPushButton("Refresh")
        self.export_button = QPushButton("Export CSV…")
        grid = QGridLayout()
        grid.addWidget(self.since_on, 0, 0)
        grid.addWidget(self.since, 0, 1)
        grid.addWidget(self.until_on, 0, 2)
        grid.addWidget(self.until, 0, 3)
        grid.addWidget(self.refresh_button, 0, 5)
        grid.addWidget(QLabel("Verdict"), 1, 0)
        grid.addWidget(self.verdict, 1, 1)
        grid.addWidget(QLabel("Recipe"), 1, 2)
        grid.addWidget(self.recipe, 1, 3)
        grid.addWidget(QLabel("Min. defect area"), 1, 4)
        grid.addWidget(self.min_area, 1, 5)
        grid.addWidget(self.export_button, 0, 6)
        station_box = QHBoxLayout()
        station_box.addWidget(self.station_label)
        station_box.addWidget(self.station, 1)
        grid.addLayout(station_box, 1, 6)
        grid.setColumnStretch(3, 1)

        self.model = RecordsModel()
        self.table = QTableView()
        self.table.setObjectName("recordsTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.table.verticalHeader().setDefaultSectionSize(THUMB_PX + 4)
        self.table.verticalHeader().hide()
        head = self.table.horizontalHeader()
        # sized once, on the first page with rows: ResizeToContents would ask every row of every page
        # for its size on each layout (thousands of Python calls on the GUI thread)
        head.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        head.setStretchLastSection(True)
        self._sized = False
        self.table.setColumnWidth(0, THUMB_PX + 12)

        self.prev_button = QPushButton("◀ Newer")
        self.next_button = QPushButton("Older ▶")
        self.status = QLabel("")
        self.status.setObjectName("recordsStatus")
        self.status.setWordWrap(True)
        pager = QHBoxLayout()
        pager.addWidget(self.prev_button)
        pager.addWidget(self.next_button)
        pager.addWidget(self.status, 1)

        self.view = RecordView()
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.table, 1)
        ll.addLayout(pager)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.view)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self.splitter = split

        lay = QVBoxLayout(self)
        lay.addLayout(grid)
        lay.addWidget(split, 1)

        for sig in (
            self.since_on.toggled,
            self.until_on.toggled,
            self.since.dateTimeChanged,
            self.until.dateTimeChanged,
            self.verdict.currentIndexChanged,
            self.recipe.textChanged,
            self.min_area.valueChanged,
            self.station.currentIndexChanged,
        ):
            sig.connect(self._filters_changed)
        self.refresh_button.clicked.connect(self.refresh)
        self.export_button.clicked.connect(self._ask_export)
        self.prev_button.clicked.connect(lambda: self.go_to(self.offset - PAGE_SIZE))
        self.next_button.clicked.connect(lambda: self.go_to(self.offset + PAGE_SIZE))
        self.table.selectionModel().currentRowChanged.connect(lambda cur, _prev: self.open_row(cur.row()))
        self._update_pager()

    # --- filters and pages ---------------------------------------------------------------------
    def filters(self) -> Filters:
        """What the filter widgets say now (no paging)."""
        return Filters(
            since_ns=self.since.dateTime().toMSecsSinceEpoch() * 1_000_000
            if self.since_on.isChecked()
            else None,
            until_ns=self.until.dateTime().toMSecsSinceEpoch() * 1_000_000
            if self.until_on.isChecked()
            else None,
            verdict=None if self.verdict.currentText() == "all" else self.verdict.currentText(),
            recipe=self.recipe.text().strip() or None,
            min_area_px=self.min_area.value() or None,
            station=self.station.currentData(),
        )

    def _filters_changed(self, *_: object) -> None:
        self.offset = 0
        self._debounce.start()

    def refresh(self) -> None:
        """Ask for the current page of the current filter (the answer replaces the table)."""
        self._debounce.stop()
        self.go_to(self.offset)

    def auto_refresh(self) -> None:
        """The timer's tick: read the current page again, quietly, unless the user is mid-change or a
        page is still on its way (a slow database never piles up queries)."""
        if not self.isVisible() or self._page_in_flight or self._debounce.isActive():
            return
        if not self.export_button.isEnabled():  # an export is running on the query thread
            return
        self.go_to(self.offset, auto=True)

    def go_to(self, offset: int, auto: bool = False) -> None:
        self.offset = max(0, offset)
        if self.offset == 0:
            self._upto_ns = None  # the first page is live
        elif self._upto_ns is None:  # leaving it: later pages as of the newest row it showed
            p = self.page
            self._upto_ns = p.rows[0].time_ns + 1 if p is not None and p.rows else time.time_ns()
        f = replace(self.filters(), limit=PAGE_SIZE, offset=self.offset)
        self._gen += 1
        self._auto = auto
        self._page_in_flight = True
        gen, directory, upto = self._gen, self.directory, self._upto_ns
        if not auto:
            self.status.setText("reading the records…")
        self.query.submit(
            lambda: load_page(directory, f, upto),
            lambda p: self._page_done(gen, p),
            lambda m: self._page_failed(gen, m),
        )

    def _page_failed(self, gen: int, message: str) -> None:
        if gen == self._gen:
            self._page_in_flight = False
            self._error(message)

    def _page_done(self, gen: int, page: Page) -> None:
        if gen != self._gen:
            return
        self._page_in_flight = False
        if not self._auto or self.page is None or self.page.filters != page.filters:
            self._seen_total = page.total  # what the user asked for: nothing is "new" yet
        self._set_stations(page.stations)
        if self._auto:
            self._replace_rows_in_place(page)
        else:
            self.page = page
            self.model.set_rows(page.rows)
        if page.rows and not self._sized:
            self._sized = True
            self.table.resizeColumnsToContents()
            self.table.setColumnWidth(0, THUMB_PX + 12)
        self._update_pager()
        # each image is read once: a missing one is not asked for again on every auto-refresh
        wanted = sorted(
            {r.image_path for r in page.rows if r.image_path and r.image_path not in self._thumbs_asked}
        )
        self._thumbs_asked.update(wanted)
        if wanted:
            directory = self.directory
            self.query.submit(lambda: load_thumbs(directory, wanted), self._thumbs_done, self._error)

    def _replace_rows_in_place(self, page: Page) -> None:
        """New rows for the table with the selected record still selected and the rows in view still
        in view (new ones at the top push them down; at the very top the view stays at the top)."""
        old = self.page
        self.page = page
        if old is not None and old.rows == page.rows:
            return  # nothing changed: leave the table (and its selection) alone
        bar = self.table.verticalScrollBar()
        cur = self.table.currentIndex()
        selected = (
            self.model.rows[cur.row()].id if cur.isValid() and cur.row() < len(self.model.rows) else None
        )
        top = self.table.rowAt(0)
        anchor = self.model.rows[top].id if bar.value() > 0 and 0 <= top < len(self.model.rows) else None
        self._restoring = True
        try:
            self.model.set_rows(page.rows)
            ids = [r.id for r in page.rows]
            if selected in ids:
                self.table.selectRow(ids.index(selected))
            if anchor in ids:
                self.table.scrollTo(
                    self.model.index(ids.index(anchor), 0), QAbstractItemView.ScrollHint.PositionAtTop
                )
            else:
                bar.setValue(0)
        finally:
            self._restoring = False

    def _set_stations(self, stations: list[str]) -> None:
        """The station choice lists the stations present; shown once there is more than this one."""
        combo = self.station
        have = [combo.itemData(i) for i in range(2, combo.count())]
        others = [s for s in stations if s != self.this_station]
        if others != have:
            current = combo.currentData()
            combo.blockSignals(True)  # the filter does not change by listing another station
            try:
                while combo.count() > 2:
                    combo.removeItem(2)
                for s in others:
                    combo.addItem(s, s)
                i = combo.findData(current)
                combo.setCurrentIndex(i if i >= 0 else 0)
            finally:
                combo.blockSignals(False)
        shown = bool(others)
        self.station_label.setVisible(shown)
        combo.setVisible(shown)

    def _thumbs_done(self, thumbs: dict[str, np.ndarray | None]) -> None:
        self.model.set_thumbs({k: to_pixmap(v) for k, v in thumbs.items() if v is not None})

    def _update_pager(self) -> None:
        p = self.page
        total = p.total if p else 0
        self.prev_button.setEnabled(self.offset > 0)
        self.next_button.setEnabled(p is not None and self.offset + len(p.rows) < total)
        if p is None:
            return
        if not total:
            self.status.setText("no inspections match")
            return
        y = f"{100 * p.ok / total:.2f} %" if total else "—"
        if p.upto_ns is not None:  # a later page holds still: the new rows are on page 1
            new, where = p.newer, " (on page 1)"
        else:
            new, where = (total - self._seen_total if self._seen_total is not None else 0), ""
        self.status.setText(
            f"{self.offset + 1}–{self.offset + len(p.rows)} of {total:,}, newest first  ·  "
            f"OK {p.ok:,}  NG {p.ng:,}  yield {y}" + (f"  ·  {new:,} new{where}" if new > 0 else "")
        )

    def _error(self, message: str) -> None:
        self.status.setText(f"error: {message}")
        self.failed.emit(message)

    # --- one record ------------------------------------------------------------------------------
    def open_row(self, row: int) -> None:
        if self._restoring or not 0 <= row < len(self.model.rows):
            return  # (an auto-refresh re-selecting the record already open)
        rec = self.model.rows[row]
        self.view.show_record(rec)
        self.recordOpened.emit(rec)
        self._open_gen += 1
        gen = self._open_gen
        if rec.image_path:
            directory, ip = self.directory, rec.image_path
            self.query.submit(
                lambda: load_view_image(directory, ip),
                lambda img: gen == self._open_gen and self.view.set_image(img),
                lambda msg: gen == self._open_gen and self.view.set_image(None, f"image not readable: {msg}"),
            )

    # --- export ----------------------------------------------------------------------------------
    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export records", "inspections.csv", "CSV (*.csv)")
        if path:
            self.export_csv(Path(path))

    def export_csv(self, out: Path) -> None:
        """Write every record the current filter matches (all pages, oldest first) to `out`."""
        f, directory = self.filters(), self.directory
        self.status.setText(f"exporting to {out}…")
        self.export_button.setEnabled(False)

        def done(n: int) -> None:
            self.export_button.setEnabled(True)
            self.status.setText(f"{n:,} inspections exported to {out}")
            self.exported.emit(str(out), n)

        def failed(msg: str) -> None:
            self.export_button.setEnabled(True)
            self._error(msg)

        self.query.submit(lambda: export_records(directory, f, out), done, failed)

    # --- auto-refresh: only while shown --------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._shut:
            self.auto_timer.start()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        self.auto_timer.stop()
        super().hideEvent(event)

    def shutdown(self) -> None:
        """Stop refreshing; end the query thread if this panel made it (waits for the job in flight)."""
        self._shut = True
        self.auto_timer.stop()
        self._debounce.stop()
        if self._own_query:
            self.query.shutdown()
