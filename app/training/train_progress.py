"""Training progress: stage, bar with ETA, device, and a live loss plot for models with a training loop."""

from __future__ import annotations

from dataclasses import replace

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
        self.eta.setWordWrap(True)
        self.device = QLabel("")
        self.loss_plot = pg.PlotWidget(background="#202020", enableMenu=False)
        drop_plot_menu(self.loss_plot)
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.setLabel("left", "loss")
        self.loss_plot.setMinimumHeight(140)
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen((255, 180, 0), width=2))
        self.loss_plot.setVisible(False)  # shown on the first event that carries a loss
        self.losses: list[tuple[int, float]] = []
        self._stage: tuple[str, int] = ("", 0)
        self._stage_t0: tuple[float, int] = (0.0, 0)  # task time and step when the stage began
        g = QGridLayout(self)
        g.addWidget(self.stage, 0, 0)
        g.addWidget(self.device, 0, 1)
        g.addWidget(self.bar, 1, 0)
        g.addWidget(self.eta, 1, 1)
        g.addWidget(self.loss_plot, 2, 0, 1, 2)

    def reset(self, device: str) -> None:
        self.losses.clear()
        self._stage = ("", 0)
        self.loss_curve.setData([], [])
        self.loss_plot.setVisible(False)
        self.bar.setRange(0, 0)
        self.stage.setText("starting…")
        self.eta.setText("")
        self.device.setText(f"device: {device}")

    def on_progress(self, ev: ProgressEvent) -> None:
        self.stage.setText(f"{ev.stage}: {ev.message}" if ev.message else ev.stage)
        # the bar is the current stage's; a stage done (or of unknown length) is not the training
        # done, so it turns busy instead of standing at 100 % / ETA 0 s while later stages run (#25)
        if (ev.stage, ev.total) != self._stage:  # a new stage: its ETA is timed from here
            self._stage, self._stage_t0 = (ev.stage, ev.total), (ev.elapsed_s, ev.step)
        if ev.total and ev.step < ev.total:
            self.bar.setRange(0, ev.total)
            self.bar.setValue(ev.step)
            self.bar.setFormat(f"{ev.stage} %p%")
            eta = self.stage_eta(ev)
        else:
            self.bar.setRange(0, 0)  # busy indicator
            eta = ""
        elapsed = f"{ev.elapsed_s:.0f} s elapsed" if ev.elapsed_s > 0 else ""
        self.eta.setText(" · ".join(t for t in (elapsed, f"{eta} for {ev.stage}" if eta else "") if t))
        if ev.loss is not None:
            self.losses.append((len(self.losses), float(ev.loss)))
            xs, ys = zip(*self.losses, strict=True)
            self.loss_curve.setData(list(xs), list(ys))
            self.loss_plot.setVisible(True)

    def stage_eta(self, ev: ProgressEvent) -> str:
        """ETA of the current stage from its own pace (ProgressEvent.eta_s divides the whole task's
        elapsed time by this stage's steps: wrong from the second stage on)."""
        t0, s0 = self._stage_t0
        done = ev.step - s0
        if done <= 0 or not ev.total:
            return ""
        return eta_text(
            replace(ev, elapsed_s=ev.elapsed_s - t0, step=done, total=ev.total - s0, resumed_from=0)
        )

    def finish(self, text: str) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if "done" in text or "trained" in text else 0)
        self.bar.setFormat("%p%")
        self.stage.setText(text)
        self.eta.setText("")
