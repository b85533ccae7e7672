"""QThread workers: acquisition, inference and the demo-model fit. The GUI thread only draws."""

from app.workers.acquisition import AcquisitionWorker
from app.workers.inference import InferenceWorker
from app.workers.latest import LatestFrameSlot
from app.workers.threads import WorkerThread

__all__ = ["AcquisitionWorker", "InferenceWorker", "LatestFrameSlot", "WorkerThread"]
