"""What the station remembers: every inspection in an SQLite log, NG images on disk, an audit trail."""

from inspection_core.records.log import InspectionLog, InspectionRecord, RecordContext
from inspection_core.records.recorder import Recorder
from inspection_core.records.store import NGImageStore

__all__ = ["InspectionLog", "InspectionRecord", "NGImageStore", "RecordContext", "Recorder"]
