"""The engineer's recording settings: image quota, free-space guard and OK-image sampling. Saved in
the station home and applied to the running recorder at once (see `app.recording_settings`)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from app.recording_settings import RecordingSettings


class RecordingSettingsDialog(QDialog):
    def __init__(self, current: RecordingSettings, usage: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Recording settings")
        self.quota = QDoubleSpinBox()
        self.quota.setRange(1, 10_000_000)
        self.quota.setDecimals(0)
        self.quota.setSuffix(" MB")
        self.quota.setValue(current.quota_mb)
        self.quota.setToolTip("stored images (raw + overlay) are kept under this size; the oldest go first")
        self.min_free = QDoubleSpinBox()
        self.min_free.setRange(0, 10_000_000)
        self.min_free.setDecimals(0)
        self.min_free.setSuffix(" MB")
        self.min_free.setValue(current.min_free_mb)
        self.min_free.setToolTip("below this much free disk, images are not saved (verdicts still are)")
        self.ok_every = QSpinBox()
        self.ok_every.setRange(0, 1_000_000)
        self.ok_every.setSpecialValueText("never (NG images only)")
        self.ok_every.setPrefix("1 in ")
        self.ok_every.setSuffix(" OK parts")
        self.ok_every.setValue(current.ok_image_every)
        form = QFormLayout(self)
        form.addRow("Image quota", self.quota)
        form.addRow("Keep free on disk", self.min_free)
        form.addRow("Save OK images", self.ok_every)
        if usage:
            form.addRow(QLabel(usage))
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def settings(self) -> RecordingSettings:
        return RecordingSettings(
            quota_mb=float(self.quota.value()),
            min_free_mb=float(self.min_free.value()),
            ok_image_every=int(self.ok_every.value()),
        )
