"""Status bar: camera state, compute device, inference backend, model, and the frame-drop alarm while it is raised."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from app.resources import set_state
from app.state import SessionState
from app.station_settings import backend_label


class StationStatusBar(QStatusBar):
    def __init__(self, state: SessionState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.camera = QLabel()
        self.device = QLabel()
        self.backend = QLabel()
        self.backend.setObjectName("backendLabel")
        self.model = QLabel()
        self.drop_alarm = QLabel("ALARM: frames not inspected")
        for w in (self.drop_alarm, self.camera, self.device, self.backend, self.model):
            self.addPermanentWidget(w)
        set_state(self.drop_alarm, "dropAlarm", "alarm")  # colours: resources/aoi-station.qss
        self.drop_alarm.setVisible(state.drop_alarm)
        state.dropAlarmChanged.connect(self.drop_alarm.setVisible)
        self._camera(state.camera_state)
        self._device(state.device)
        self._backend(state.backend, state.backend_pending)
        self._model(state.model_name)
        state.cameraStateChanged.connect(self._camera)
        state.deviceChanged.connect(self._device)
        state.backendChanged.connect(self._backend)
        state.modelChanged.connect(self._model)

    def _camera(self, s: str) -> None:
        self.camera.setText(f"Camera: {s}")
        set_state(self.camera, "cameraState", s)  # colours: resources/aoi-station.qss

    def _device(self, d: str) -> None:
        self.device.setText(f"Device: {d or '—'}")

    def _backend(self, backend: str, pending: str) -> None:
        text = f"Backend: {backend_label(backend) if backend else '—'}"
        if pending:
            text += f" (preparing {backend_label(pending)}…)"
        self.backend.setText(text)

    def _model(self, m: str) -> None:
        self.model.setText(f"Model: {m or '—'}")
