"""Training progress: stage, bar with ETA, device, and a live loss plot for models with a training loop."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QWidget

from app.tuning.plot_menus import drop_plot_menu
from app.tuning.task_worker import eta_text
from inspection_core.runtime.context import ProgressEvent


class TrainProgress(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stage = QLabel("not started")
        self.bar = QProgressBar()
        self.eta = QLabel("")
        self.device = QLabel("")
        self.loss_plot = pg.PlotWidget(background="#202020", enableMenu=False)
        drop_plot_menu(self.loss_plot)
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.setLabel("left", "loss")
        self.loss_plot.setMinimumHeight(140)
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen((255, 180, 0), width=2))
        self.loss_plot.setVisible(False)  # shown on the first event that carries a loss
        self.losses: list[tuple[int, float]] = []
        g = QGridLayout(self)
        g.addWidget(self.stage, 0, 0)
        g.addWidget(self.device, 0, 1)
        g.addWidget(self.bar, 1, 0)
        g.addWidget(self.eta, 1, 1)
        g.addWidget(self.loss_plot, 2, 0, 1, 2)

    def reset(self, device: str) -> None:
        self.losses.clear()
        self.loss_curve.setData([], [])
        self.loss_plot.setVisible(False)
        self.bar.setRange(0, 0)
        self.stage.setText("starting…")
        self.eta.setText("")
        self.device.setText(f"device: {device}")

    def on_progress(self, ev: ProgressEvent) -> None:
        self.stage.setText(f"{ev.stage}: {ev.message}" if ev.message else ev.stage)
        if ev.total:
            self.bar.setRange(0, ev.total)
            self.bar.setValue(min(ev.step, ev.total))
        else:
            self.bar.setRange(0, 0)  # busy indicator
        self.eta.setText(eta_text(ev))
        if ev.loss is not None:
            self.losses.append((len(self.losses), float(ev.loss)))
            xs, ys = zip(*self.losses, strict=True)
            self.loss_curve.setData(list(xs), list(ys))
            self.loss_plot.setVisible(True)

    def finish(self, text: str) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if "done" in text or "trained" in text else 0)
        self.stage.setText(text)
        self.eta.setText("")
