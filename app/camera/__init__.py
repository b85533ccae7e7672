"""Camera set-up: the pylon-Viewer-like settings panel, the GenICam feature tree and replay controls."""
