"""The engineer's station settings: the inference backend (what runs the model). Saved in the station
home and applied to the live model at once (see `app.station_settings`, `app.backend_integration`)."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QWidget

from app.station_settings import AUTO, StationSettings, backend_label

HINTS = {
    AUTO: "ONNX Runtime on a CPU where the model can be exported, torch on a GPU",
    "torch": "the model as trained (PyTorch); the only backend that uses the GPU",
    "onnxruntime": "the model's ONNX export, made once beside the model (CPU only; faster than torch there)",
    "openvino": "the model's OpenVINO IR, made once beside the model (CPU only)",
}


class StationSettingsDialog(QDialog):
    """`choices`: 'auto' and the installed backends; `running`: the backend the live model runs on."""

    def __init__(
        self, current: StationSettings, choices: list[str], running: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Station settings")
        self.backend = QComboBox()
        self.backend.setObjectName("backendChoice")
        for name in choices:
            hint = HINTS.get(name, "")
            self.backend.addItem(f"{backend_label(name)} — {hint}" if hint else backend_label(name), name)
        self.backend.setCurrentIndex(max(0, self.backend.findData(current.backend)))
        self.backend.setToolTip(
            "what runs the model; the backends agree to ~1e-4 of a raw score, so thresholds carry over"
        )
        form = QFormLayout(self)
        form.addRow("Inference backend", self.backend)
        self.running = QLabel(f"now running: {backend_label(running)}" if running else "no model loaded")
        form.addRow(self.running)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def settings(self) -> StationSettings:
        return StationSettings(backend=str(self.backend.currentData()))
